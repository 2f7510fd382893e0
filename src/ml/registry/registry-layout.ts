import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncPilotError } from '../../core/errors.ts';
import { parseModelCard, type ModelCard } from '../model-card.ts';
import { CARD_FILE } from '../model-files.ts';
import { isPolicy, POLICIES, type Policy } from '../policy.ts';

/** A policy's state file and lock file, in `<root>/<policy>/`. */
export const STATE_FILE = 'state.json';
export const LOCK_FILE = '.lock';
/** Registrations in progress: `<root>/<policy>/.staging-<random>/`. */
export const STAGING_PREFIX = '.staging-';
const STAGING_MAX_AGE_MS = 3_600_000;
const VERSION_DIR = /^[1-9][0-9]{0,14}$/;

/** The registry root of a data directory: `<dataDir>/models`. */
export function defaultRegistryRoot(dataDir: string): string {
  return join(dataDir, 'models');
}

/** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for a name that is not one of `POLICIES` (CLI input arrives as any string) */
export function checkPolicy(policy: unknown): asserts policy is Policy {
  if (!isPolicy(policy)) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `unknown policy ${JSON.stringify(policy)}; expected one of ${POLICIES.join(', ')}`);
  }
}

/** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` unless a positive safe integer */
export function checkVersion(version: unknown): asserts version is number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `a model version is a positive integer, not ${JSON.stringify(version)}`);
  }
}

/** The version directories of a policy directory, ascending (none or no directory: `[]`). */
export async function listVersions(policyDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(policyDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new SyncPilotError('SP_ERR_STORE', `cannot list ${policyDir}`, { cause: err });
  }
  return names
    .filter((n) => VERSION_DIR.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

/**
 * Reads and checks the card of a registered version.
 * @throws SyncPilotError `SP_ERR_MODEL_NOT_FOUND`, `SP_ERR_MODEL_CARD_INVALID`, `SP_ERR_MODEL_MISMATCH`
 * (the card names another policy or version than where it lies), `SP_ERR_STORE`
 */
export async function readRegisteredCard(versionDir: string, policy: Policy, version: number): Promise<ModelCard> {
  let text: string;
  try {
    text = await readFile(join(versionDir, CARD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SyncPilotError('SP_ERR_MODEL_NOT_FOUND', `${policy} v${version} is not in the registry (${versionDir})`, { cause: err });
    }
    throw new SyncPilotError('SP_ERR_STORE', `cannot read the card of ${policy} v${version}`, { cause: err });
  }
  const card = parseModelCard(text);
  if (card.policy !== policy || card.version !== version) {
    throw new SyncPilotError('SP_ERR_MODEL_MISMATCH', `the card in ${policy}/${version} names ${card.policy} v${card.version}`);
  }
  return card;
}

/** Removes registrations a dead process left half done (older than an hour). */
export async function sweepStaging(policyDir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(policyDir)) {
    if (!name.startsWith(STAGING_PREFIX)) continue;
    const st = await stat(join(policyDir, name)).catch(() => undefined);
    if (st !== undefined && now - st.mtimeMs > STAGING_MAX_AGE_MS) await rm(join(policyDir, name), { recursive: true, force: true });
  }
}

/** Appends a challenger (moving it to the end if present) and drops the oldest beyond `max`. */
export function withChallenger(current: readonly number[], version: number, max: number): { challengers: number[]; evicted: number[] } {
  const challengers = [...current.filter((c) => c !== version), version];
  const evicted = challengers.splice(0, Math.max(0, challengers.length - max));
  return { challengers, evicted };
}

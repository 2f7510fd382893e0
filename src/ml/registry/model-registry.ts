import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { systemClock, type Clock } from '../../core/clock.ts';
import { SyncPilotError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { parseModelCard, type ModelCard } from '../model-card.ts';
import { CARD_FILE, readModelFiles } from '../model-files.ts';
import { POLICIES, type Policy } from '../policy.ts';
import { syncDir, writeNewFileDurably } from './atomic-file.ts';
import { withFileLock } from './file-lock.ts';
import { FileWatchBus } from './file-watch-bus.ts';
import type { PromotionBus } from './promotion-bus.ts';
import { checkPromotionGate, type GateOutcome } from './promotion-gate.ts';
import {
  checkPolicy,
  checkVersion,
  listVersions,
  LOCK_FILE,
  readRegisteredCard,
  STAGING_PREFIX,
  STATE_FILE,
  sweepStaging,
  withChallenger,
} from './registry-layout.ts';
import type { PolicySummary, PromotionResult, RegistryReader } from './registry-reader.ts';
import { championStack, readStateFile, writeStateFile, type HistoryEntry, type PolicyState } from './registry-state.ts';

export type { PolicySummary, PromotionResult, RegistryReader } from './registry-reader.ts';
export type { PolicyState, HistoryEntry } from './registry-state.ts';
export { defaultRegistryRoot } from './registry-layout.ts';

/** Options of {@link ModelRegistry.open}. */
export interface ModelRegistryOptions {
  /**
   * Where promotions are announced. Default: a {@link FileWatchBus} on the same root (the
   * embedded default: every process watching the directory sees them), closed with the
   * registry. `null`: announce nothing. A bus passed in stays the caller's to close.
   */
  readonly bus?: PromotionBus | null;
  readonly clock?: Clock;
  /** Where stale locks and failed notices are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
  /** This registry's id in history entries and notices (default `<host>:<pid>:<random>`). */
  readonly origin?: string;
  /** Challengers kept per policy; adding one more drops the oldest (default 3). */
  readonly maxChallengers?: number;
  /** How long a change waits for another process's lock (default 10 000 ms). */
  readonly lockTimeoutMs?: number;
  /** A lock older than this is taken over (default 30 000 ms). */
  readonly staleLockMs?: number;
}

const optionsSchema = z.strictObject({
  bus: z.custom<PromotionBus>((v) => v === null || (typeof v === 'object' && v !== null && 'publish' in v && 'subscribe' in v)).optional(),
  clock: z.custom<Clock>((v) => typeof v === 'object' && v !== null && 'now' in v).optional(),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && 'warn' in v && 'error' in v).optional(),
  origin: z.string().min(1).max(256).optional(),
  maxChallengers: z.number().int().min(0).max(100).default(3),
  lockTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
  staleLockMs: z.number().int().min(100).max(3_600_000).default(30_000),
});

const promoteSchema = z.strictObject({ margin: z.number().finite().min(0).max(1000).default(0.01), force: z.boolean().default(false) });

/**
 * Model versions, champion and challengers per policy, in a directory any number of processes
 * share: `<root>/<policy>/<version>/{card.json, <model file>}` and `<root>/<policy>/state.json`.
 * Every change takes the policy's lock file, re-reads the state, writes it atomically and
 * announces it on the bus before releasing the lock, so the last notice is the latest state.
 * Reads take no lock.
 */
export class ModelRegistry implements RegistryReader {
  /**
   * Opens (creating) a registry directory.
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options
   */
  static async open(root: string, options: ModelRegistryOptions = {}): Promise<ModelRegistry> {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid ModelRegistry options: ${z.prettifyError(parsed.error)}`);
    }
    const abs = resolve(root);
    await mkdir(abs, { recursive: true });
    return new ModelRegistry(abs, parsed.data, options.bus);
  }

  /** The absolute root directory. */
  readonly root: string;
  readonly origin: string;
  readonly #o: z.output<typeof optionsSchema>;
  readonly #bus: PromotionBus | null;
  readonly #ownsBus: boolean;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #closed = false;

  private constructor(root: string, o: z.output<typeof optionsSchema>, bus: PromotionBus | null | undefined) {
    this.root = root;
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#logger = o.logger ?? createLogger('warn');
    this.origin = o.origin ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.#ownsBus = bus === undefined;
    this.#bus = bus === undefined ? new FileWatchBus({ root, logger: this.#logger }) : bus;
  }

  /** The bus notices go to (`null`: none). */
  get bus(): PromotionBus | null {
    return this.#bus;
  }

  /**
   * Verifies a model directory (`readModelFiles`: card schema, file size and SHA-256) and copies
   * it in as its policy's next version, with `card.version` set. Versions are never reused.
   * Registering a model already there (same name and file SHA-256) returns the existing card and
   * changes nothing, so a retried job does not add a version. A refused model leaves the registry
   * untouched.
   * @param opts.challenger also make it a challenger (default true), announced on the bus
   * @throws SyncPilotError `SP_ERR_MODEL_NOT_FOUND`, `SP_ERR_MODEL_CARD_INVALID`, `SP_ERR_MODEL_CORRUPT`
   * (from the checks), `SP_ERR_TIMEOUT` (lock), `SP_ERR_CLOSED`
   */
  async register(modelDir: string, opts: { readonly challenger?: boolean } = {}): Promise<ModelCard> {
    this.#checkOpen();
    const challenger = opts.challenger ?? true;
    const files = await readModelFiles(modelDir);
    const policy = files.card.policy;
    const pdir = this.#policyDir(policy);
    await mkdir(pdir, { recursive: true });
    // The model file is written outside the lock; only naming the version happens under it.
    const staging = join(pdir, `${STAGING_PREFIX}${randomBytes(6).toString('hex')}`);
    await mkdir(staging);
    try {
      await writeNewFileDurably(join(staging, files.card.file.name), files.bytes);
      return await this.#locked(policy, async () => {
        await sweepStaging(pdir);
        const state = await this.state(policy);
        const versions = await this.versions(policy);
        const same = await this.#findSame(policy, versions, files.card);
        if (same !== undefined) return same;
        const version = Math.max(0, ...versions, ...state.history.map((h) => h.version)) + 1;
        const card = parseModelCard({ ...files.card, version });
        await writeNewFileDurably(join(staging, CARD_FILE), `${JSON.stringify(card, null, 2)}\n`);
        await syncDir(staging);
        await rename(staging, this.modelDir(policy, version));
        await syncDir(pdir);
        const at = this.#clock.now();
        const { challengers, evicted } = challenger
          ? withChallenger(state.challengers, version, this.#o.maxChallengers)
          : { challengers: state.challengers, evicted: [] };
        const next = this.#next(
          state,
          { champion: state.champion, challengers },
          this.#entry(at, 'register', version, state.champion, { evicted }),
        );
        await writeStateFile(this.#statePath(policy), next);
        if (challenger) await this.#notify(policy, next, at);
        return card;
      });
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
  }

  async list(): Promise<PolicySummary[]> {
    this.#checkOpen();
    const out: PolicySummary[] = [];
    for (const policy of POLICIES) {
      const [versions, state] = await Promise.all([this.versions(policy), this.state(policy)]);
      if (versions.length === 0 && state.history.length === 0) continue;
      const { champion, challengers } = state;
      out.push({ policy, versions, champion, challengers, updatedAt: state.history.at(-1)?.at ?? null });
    }
    return out;
  }

  async versions(policy: Policy): Promise<number[]> {
    this.#checkOpen();
    return listVersions(this.#policyDir(policy));
  }

  /** Every readable card of a policy, oldest version first; an unreadable one is logged and left out. */
  async cards(policy: Policy): Promise<ModelCard[]> {
    const out: ModelCard[] = [];
    for (const v of await this.versions(policy)) {
      try {
        out.push(await this.show(policy, v));
      } catch (err) {
        this.#logger.warn('model registry: a version has no readable card', { policy, version: v, error: String(err) });
      }
    }
    return out;
  }

  async show(policy: Policy, version?: number): Promise<ModelCard> {
    this.#checkOpen();
    let v = version;
    if (v === undefined) {
      const { champion } = await this.state(policy);
      if (champion === null) throw new SyncPilotError('SP_ERR_MODEL_NOT_FOUND', `policy ${policy} has no champion`);
      v = champion;
    }
    checkVersion(v);
    return readRegisteredCard(this.modelDir(policy, v), policy, v);
  }

  modelDir(policy: Policy, version: number): string {
    return join(this.#policyDir(policy), String(version));
  }

  async state(policy: Policy): Promise<PolicyState> {
    this.#checkOpen();
    return readStateFile(this.#statePath(policy));
  }

  /**
   * Makes `version` the champion if it passes the promotion gate ({@link checkPromotionGate}:
   * same feature schema and primary metric, held-out value better by `margin`, relative); with
   * no champion yet it is accepted. It stops being a challenger. Promoting the champion again
   * changes nothing but re-sends the notice.
   * @param opts.margin relative improvement required (default 0.01)
   * @param opts.force skip the gate (recorded in the history)
   * @throws SyncPilotError `SP_ERR_PROMOTION_REJECTED` (gate), `SP_ERR_MODEL_NOT_FOUND`,
   * `SP_ERR_CONFIG_INVALID` (bad options), `SP_ERR_TIMEOUT` (lock), `SP_ERR_CLOSED`
   */
  async promote(
    policy: Policy,
    version: number,
    opts: { readonly margin?: number; readonly force?: boolean } = {},
  ): Promise<PromotionResult> {
    this.#checkOpen();
    const parsed = promoteSchema.safeParse(opts);
    if (!parsed.success) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid promote options: ${z.prettifyError(parsed.error)}`);
    const { margin, force } = parsed.data;
    await this.show(policy, version); // refuse before touching anything
    return this.#locked(policy, async () => {
      const card = await this.show(policy, version);
      const state = await this.state(policy);
      const at = this.#clock.now();
      if (state.champion === version) {
        const notified = await this.#notify(policy, state, at);
        return this.#result(policy, 'promote', state, null, { changed: false, forced: force, gate: null, notified, at });
      }
      let gate: GateOutcome | null = null;
      if (state.champion !== null && !force) gate = checkPromotionGate(await this.show(policy, state.champion), card, margin);
      const challengers = state.challengers.filter((c) => c !== version);
      const entry = this.#entry(at, 'promote', version, state.champion, { forced: force });
      const next = this.#next(state, { champion: version, challengers }, entry);
      await writeStateFile(this.#statePath(policy), next);
      const notified = await this.#notify(policy, next, at);
      return this.#result(policy, 'promote', next, state.champion, { changed: true, forced: force, gate, notified, at });
    });
  }

  /**
   * Makes the champion before the current one champion again (the previous entry of the
   * promotion history: rolling back twice goes two champions back).
   * @throws SyncPilotError `SP_ERR_MODEL_NOT_FOUND` when there is no earlier champion (or its
   * files are gone), `SP_ERR_TIMEOUT` (lock), `SP_ERR_CLOSED`
   */
  async rollback(policy: Policy): Promise<PromotionResult> {
    this.#checkOpen();
    const noChampion = () => new SyncPilotError('SP_ERR_MODEL_NOT_FOUND', `policy ${policy} has no champion to roll back`);
    // Refused before the lock, which would create the policy's directory.
    if ((await this.state(policy)).champion === null) throw noChampion();
    return this.#locked(policy, async () => {
      const state = await this.state(policy);
      if (state.champion === null) throw noChampion();
      const stack = championStack(state.history);
      const target = stack.at(-1) === state.champion ? stack.at(-2) : stack.at(-1);
      if (target === undefined) {
        throw new SyncPilotError(
          'SP_ERR_MODEL_NOT_FOUND',
          `policy ${policy} has no earlier champion than v${state.champion} to roll back to`,
        );
      }
      await this.show(policy, target);
      const at = this.#clock.now();
      const challengers = state.challengers.filter((c) => c !== target);
      const next = this.#next(state, { champion: target, challengers }, this.#entry(at, 'rollback', target, state.champion, {}));
      await writeStateFile(this.#statePath(policy), next);
      const notified = await this.#notify(policy, next, at);
      return this.#result(policy, 'rollback', next, state.champion, { changed: true, forced: false, gate: null, notified, at });
    });
  }

  /**
   * Makes a registered version a challenger (shadow predictions), dropping the oldest beyond
   * `maxChallengers`. Already one: nothing changes.
   * @throws SyncPilotError `SP_ERR_MODEL_NOT_FOUND`, `SP_ERR_PROMOTION_REJECTED` (it is the champion)
   */
  async addChallenger(policy: Policy, version: number): Promise<PolicyState> {
    this.#checkOpen();
    await this.show(policy, version);
    return this.#locked(policy, async () => {
      const state = await this.state(policy);
      if (state.champion === version) {
        throw new SyncPilotError('SP_ERR_PROMOTION_REJECTED', `${policy} v${version} is the champion; it cannot also be a challenger`);
      }
      if (state.challengers.includes(version)) return state;
      const at = this.#clock.now();
      const { challengers, evicted } = withChallenger(state.challengers, version, this.#o.maxChallengers);
      const next = this.#next(
        state,
        { champion: state.champion, challengers },
        this.#entry(at, 'add-challenger', version, state.champion, { evicted }),
      );
      await writeStateFile(this.#statePath(policy), next);
      await this.#notify(policy, next, at);
      return next;
    });
  }

  /** Stops a version's shadow predictions. Not a challenger: nothing changes. */
  async removeChallenger(policy: Policy, version: number): Promise<PolicyState> {
    this.#checkOpen();
    checkVersion(version);
    const current = await this.state(policy);
    if (!current.challengers.includes(version)) return current;
    return this.#locked(policy, async () => {
      const state = await this.state(policy);
      if (!state.challengers.includes(version)) return state;
      const at = this.#clock.now();
      const challengers = state.challengers.filter((c) => c !== version);
      const next = this.#next(
        state,
        { champion: state.champion, challengers },
        this.#entry(at, 'remove-challenger', version, state.champion, {}),
      );
      await writeStateFile(this.#statePath(policy), next);
      await this.#notify(policy, next, at);
      return next;
    });
  }

  /** Closes the bus if the registry made it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsBus) await this.#bus?.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the model registry is closed');
  }

  #policyDir(policy: Policy): string {
    checkPolicy(policy);
    return join(this.root, policy);
  }

  #statePath(policy: Policy): string {
    return join(this.#policyDir(policy), STATE_FILE);
  }

  #locked<T>(policy: Policy, fn: () => Promise<T>): Promise<T> {
    return withFileLock(join(this.#policyDir(policy), LOCK_FILE), fn, {
      timeoutMs: this.#o.lockTimeoutMs,
      staleMs: this.#o.staleLockMs,
      logger: this.#logger,
    });
  }

  #entry(
    at: number,
    action: HistoryEntry['action'],
    version: number,
    previous: number | null,
    extra: { forced?: boolean; evicted?: number[] },
  ): HistoryEntry {
    const entry: HistoryEntry = { at, action, version, previous, origin: this.origin };
    if (extra.forced === true) entry.forced = true;
    if (extra.evicted !== undefined && extra.evicted.length > 0) entry.evicted = extra.evicted;
    return entry;
  }

  #next(state: PolicyState, serving: { champion: number | null; challengers: readonly number[] }, entry: HistoryEntry): PolicyState {
    return { champion: serving.champion, challengers: [...serving.challengers], history: [...state.history, entry] };
  }

  #result(
    policy: Policy,
    action: 'promote' | 'rollback',
    state: PolicyState,
    previous: number | null,
    r: { changed: boolean; forced: boolean; gate: GateOutcome | null; notified: boolean; at: number },
  ): PromotionResult {
    if (state.champion === null) throw new SyncPilotError('SP_ERR_INTERNAL', 'a promotion left no champion');
    const prev = r.changed ? previous : state.champion;
    return { policy, action, champion: state.champion, previous: prev, challengers: [...state.challengers], ...r };
  }

  /** Announces a policy's serving state; a failure is logged and reported as `false`, because the change itself stands. */
  async #notify(policy: Policy, state: PolicyState, at: number): Promise<boolean> {
    if (this.#bus === null) return false;
    try {
      await this.#bus.publish({ policy, champion: state.champion, challengers: [...state.challengers], at, origin: this.origin });
      return true;
    } catch (err) {
      this.#logger.warn('model registry: the promotion notice could not be sent; servers pick the change up on their next reload', {
        policy,
        champion: state.champion,
        error: String(err),
      });
      return false;
    }
  }

  async #findSame(policy: Policy, versions: readonly number[], card: ModelCard): Promise<ModelCard | undefined> {
    for (const v of [...versions].reverse()) {
      const existing = await this.show(policy, v).catch(() => undefined);
      if (existing !== undefined && existing.name === card.name && existing.file.sha256 === card.file.sha256) return existing;
    }
    return undefined;
  }
}

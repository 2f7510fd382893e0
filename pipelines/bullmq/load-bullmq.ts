import type * as BullMq from 'bullmq';
import { SyncPilotError } from '../../src/core/errors.ts';

/** The bullmq module, as loaded by {@link loadBullmq}. */
export type BullmqModule = typeof BullMq;

/** What to tell someone whose install lacks the optional dependency. */
export const BULLMQ_INSTALL_HINT =
  'the BullMQ pipeline needs the optional dependencies bullmq and ioredis: npm install bullmq@^5 ioredis@^5';

/**
 * Loads bullmq on first use, so the embedded pipeline and importing syncpilot never do.
 * @param importer how to import it (tests substitute a failing one)
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` with an install hint when bullmq is missing or unusable
 */
export async function loadBullmq(importer: () => Promise<unknown> = () => import('bullmq')): Promise<BullmqModule> {
  let mod: unknown;
  try {
    mod = await importer();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw new SyncPilotError(
      'SP_ERR_CONFIG_INVALID',
      missing ? BULLMQ_INSTALL_HINT : `bullmq failed to load (${String(err)}); ${BULLMQ_INSTALL_HINT}`,
      {
        cause: err,
      },
    );
  }
  if (typeof (mod as { Queue?: unknown } | null)?.Queue !== 'function') {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `bullmq loaded but exports no Queue class; ${BULLMQ_INSTALL_HINT}`);
  }
  return mod as BullmqModule;
}

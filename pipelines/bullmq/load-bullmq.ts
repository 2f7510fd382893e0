import type * as BullMq from 'bullmq';
import { loadOptional } from '../../src/core/load-optional.ts';

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
export function loadBullmq(importer?: () => Promise<unknown>): Promise<BullmqModule> {
  return loadOptional('bullmq', BULLMQ_INSTALL_HINT, {
    importer,
    exportName: 'Queue class',
    pick: (mod) => (typeof (mod as { Queue?: unknown } | null)?.Queue === 'function' ? (mod as BullmqModule) : undefined),
  });
}

import { SyncPilotError } from '../../src/core/errors.ts';

/** How a failed job is retried: `attempts` in all, waiting `backoffMs * 2^(n-1)` after the n-th failure. */
export interface RetryPolicy {
  readonly attempts: number;
  readonly backoffMs: number;
}

/** Three attempts, 2 s then 4 s apart. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, backoffMs: 2000 };

/**
 * Whether another attempt may succeed: a SyncPilotError says so itself (`retryable`, or a
 * timeout); other errors (file system, network, a crashed native library) are presumed transient.
 * Invalid payloads, bad data and bad models fail at once.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof SyncPilotError) return err.retryable || err.code === 'SP_ERR_TIMEOUT';
  return true;
}

/** Delay before attempt `failures + 1` after `failures` failures; the same curve as BullMQ's `exponential` backoff. */
export function backoffDelay(failures: number, backoffMs: number): number {
  return backoffMs * 2 ** Math.max(0, failures - 1);
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../core/logger.ts';
import type { SourcedEvent } from './telemetry-source.ts';

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

/**
 * Calls `handle(batch)` until it resolves, backing off 100 ms doubling to 5 s after each throw
 * (logged with the attempt number). Returns false when `signal` aborted before a call resolved:
 * the batch must then not be committed. A throw after the abort is the caller stopping, not logged.
 */
export async function handleWithRetry(
  handle: (batch: readonly SourcedEvent[]) => Promise<void>,
  batch: readonly SourcedEvent[],
  signal: AbortSignal,
  logger: Logger,
  source: string,
): Promise<boolean> {
  let backoff = FIRST_BACKOFF_MS;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) return false;
    try {
      await handle(batch);
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      logger.warn('telemetry handler failed; the batch is not committed and will be handled again', {
        code: 'SP_ERR_TELEMETRY',
        source,
        attempt,
        events: batch.length,
        first: batch[0]?.position,
        retryInMs: backoff,
        error: err instanceof Error ? err.message : String(err),
      });
    }
    try {
      await sleep(backoff, undefined, { signal });
    } catch {
      return false;
    }
    backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
  }
}

import { SyncPilotError } from '../../core/errors.ts';

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `p`, or a rejection with `SP_ERR_TIMEOUT` after `ms` (the timer does not hold the process open). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SyncPilotError('SP_ERR_TIMEOUT', `timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves after `ms`, or as soon as `interrupt` settles; never holds the process open. */
export function pause(ms: number, interrupt: Promise<unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    void interrupt.finally(() => {
      clearTimeout(t);
      resolve();
    });
  });
}

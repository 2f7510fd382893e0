import { SyncPilotError } from '../../core/errors.ts';

/**
 * Waits for a transport call of a distributed bus at most `ms`. The bus cannot tell a slow
 * broker from an absent one, so both a timeout and a transport failure become a retryable
 * `SP_ERR_TIMEOUT` naming `what` and `where`; a SyncPilotError passes through unchanged.
 */
export async function busCall<T>(p: Promise<T>, ms: number, what: string, where: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SyncPilotError('SP_ERR_TIMEOUT', `${what} took more than ${ms} ms (${where})`, { retryable: true })),
      ms,
    );
  });
  // The losing promise must not surface later as an unhandled rejection.
  p.catch(() => undefined);
  try {
    return await Promise.race([p, timeout]);
  } catch (err) {
    if (err instanceof SyncPilotError) throw err;
    throw new SyncPilotError('SP_ERR_TIMEOUT', `${what} failed (${where}): ${err instanceof Error ? err.message : String(err)}`, {
      retryable: true,
      cause: err,
    });
  } finally {
    clearTimeout(timer);
  }
}

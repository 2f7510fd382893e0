import { SyncPilotError } from '../../core/errors.ts';

/**
 * The run/close bookkeeping every source shares: one run at a time, a run-scoped signal that
 * aborts with the caller's signal, with `close()`, and when the run ends (so nothing it started
 * keeps polling), and `close()` waiting for the run to finish.
 */
export class RunGuard {
  readonly #what: string;
  #closed = false;
  #run:
    { readonly ctrl: AbortController; readonly unlink: () => void; readonly done: Promise<void>; readonly resolve: () => void } | undefined;

  constructor(what: string) {
    this.#what = what;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Starts a run; returns its signal.
   * @throws SyncPilotError `SP_ERR_CLOSED` after close; `SP_ERR_CONFIG_INVALID` while another run is active
   */
  begin(external: AbortSignal): AbortSignal {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', `${this.#what} is closed`);
    if (this.#run !== undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `${this.#what} is already running: one run at a time`);
    const ctrl = new AbortController();
    const onAbort = (): void => ctrl.abort();
    if (external.aborted) ctrl.abort();
    else external.addEventListener('abort', onAbort, { once: true });
    let resolve = (): void => {};
    const done = new Promise<void>((r) => (resolve = r));
    this.#run = { ctrl, unlink: () => external.removeEventListener('abort', onAbort), done, resolve };
    return ctrl.signal;
  }

  /** Ends the current run (call in `finally`). */
  end(): void {
    const run = this.#run;
    this.#run = undefined;
    if (run === undefined) return;
    run.ctrl.abort();
    run.unlink();
    run.resolve();
  }

  /** Marks closed, aborts a run in progress and waits for it to end. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const run = this.#run;
    if (run === undefined) return;
    run.ctrl.abort();
    await run.done;
  }
}

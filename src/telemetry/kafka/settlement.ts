import type { SyncPilotError } from '../../core/errors.ts';

interface Waiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Which emitted events are settled — acknowledged by the broker, fsync'd in the spool, or dropped
 * (counted) — and who waits for that. Events are numbered in emit order; settling is monotonic
 * (everything below `settled`), because the sink sends and spools in emit order.
 */
export class Settlement {
  /** Every event numbered below this is settled. */
  settled = 0;
  readonly #waiters: Waiter[] = [];
  #failure: SyncPilotError | undefined;

  /** True while someone waits (a flush or close): the sink then batches without lingering. */
  get awaited(): boolean {
    return this.#waiters.length > 0;
  }

  /** Everything below `to` is settled. */
  settle(to: number): void {
    if (to <= this.settled) return;
    this.settled = to;
    while (this.#waiters.length > 0 && (this.#waiters[0]?.target ?? Infinity) <= to) {
      const w = this.#waiters.shift();
      const failure = this.#take();
      if (failure === undefined) w?.resolve();
      else w?.reject(failure);
    }
  }

  /** Remembers a loss, to be reported (once) to the next waiter that is released. */
  fail(err: SyncPilotError): void {
    this.#failure ??= err;
  }

  /** Resolves once everything below `target` is settled; rejects with an unreported failure. */
  waitFor(target: number): Promise<void> {
    if (target <= this.settled) {
      const failure = this.#take();
      return failure === undefined ? Promise.resolve() : Promise.reject(failure);
    }
    return new Promise<void>((resolve, reject) => this.#waiters.push({ target, resolve, reject }));
  }

  #take(): SyncPilotError | undefined {
    const f = this.#failure;
    this.#failure = undefined;
    return f;
  }
}

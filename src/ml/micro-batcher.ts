import { systemClock, type Clock } from '../core/clock.ts';
import { SyncPilotError, toSyncPilotError, type ErrorCode } from '../core/errors.ts';

/** How one submitted item ended. The batcher never rejects: failures are values. */
export type BatchOutcome<O> =
  { readonly ok: true; readonly value: O } | { readonly ok: false; readonly code: ErrorCode; readonly error: SyncPilotError };

/** Options of {@link MicroBatcher}. */
export interface MicroBatcherOptions<I, O> {
  /**
   * Runs one batch and gives one result per item, in order. May be synchronous. A throw or
   * rejection fails every item of the batch with its code (`SP_ERR_INFERENCE_FAILED` if it has none).
   */
  readonly run: (items: readonly I[]) => Promise<readonly O[]> | readonly O[];
  /** Most items per batch; a full batch runs at once. Default 64. */
  readonly maxBatch?: number;
  /** Longest an item waits for others to join its batch. Default 1 ms; 0 batches what arrives in one turn of the event loop. */
  readonly maxWaitMs?: number;
  /** Batches running at once; further items queue and go together when one finishes. Default 1. */
  readonly maxInFlight?: number;
  /**
   * Each item must be answered within this many ms of `submit`, else it ends with `SP_ERR_TIMEOUT`
   * (and, if it has not started running, it is dropped from its batch). Default: no deadline.
   */
  readonly deadlineMs?: number;
  /** Its `monotonic()` times deadlines. Default: the system clock. */
  readonly clock?: Clock;
}

/** Counters since creation. */
export interface MicroBatcherStats {
  readonly submitted: number;
  readonly batches: number;
  /** Items that were run (in any batch). */
  readonly rows: number;
  readonly largestBatch: number;
  readonly timedOut: number;
  readonly failed: number;
  readonly queued: number;
  readonly inFlight: number;
}

type State = 'queued' | 'running' | 'done';

interface Entry<I, O> {
  readonly item: I;
  readonly resolve: (outcome: BatchOutcome<O>) => void;
  readonly deadline: number;
  state: State;
}

/**
 * Coalesces concurrent single-item requests into batches: an item waits at most `maxWaitMs` for
 * others, a full batch (`maxBatch`) goes at once, and while `maxInFlight` batches run, newcomers
 * gather into the next one. Deadlines use one timer for all items (they are due in submission
 * order), not one per item. `close()` runs what is queued and waits for every batch to finish.
 */
export class MicroBatcher<I, O> {
  readonly #run: MicroBatcherOptions<I, O>['run'];
  readonly #maxBatch: number;
  readonly #maxWaitMs: number;
  readonly #maxInFlight: number;
  readonly #deadlineMs: number;
  readonly #clock: Clock;
  readonly #timeout: BatchOutcome<O>;
  #queue: Entry<I, O>[] = [];
  #qHead = 0;
  #queued = 0;
  /** Every item with a deadline that may still be open, in submission (= deadline) order. */
  #due: Entry<I, O>[] = [];
  #dHead = 0;
  #inFlight = 0;
  #waitTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #idle: (() => void)[] = [];
  #stats = { submitted: 0, batches: 0, rows: 0, largestBatch: 0, timedOut: 0, failed: 0 };

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for a non-positive maxBatch/maxInFlight or negative times */
  constructor(opts: MicroBatcherOptions<I, O>) {
    this.#run = opts.run;
    this.#maxBatch = opts.maxBatch ?? 64;
    this.#maxWaitMs = opts.maxWaitMs ?? 1;
    this.#maxInFlight = opts.maxInFlight ?? 1;
    this.#deadlineMs = opts.deadlineMs ?? Infinity;
    this.#clock = opts.clock ?? systemClock;
    if (!Number.isInteger(this.#maxBatch) || this.#maxBatch < 1) invalid(`maxBatch must be a positive integer, got ${this.#maxBatch}`);
    if (!Number.isInteger(this.#maxInFlight) || this.#maxInFlight < 1) {
      invalid(`maxInFlight must be a positive integer, got ${this.#maxInFlight}`);
    }
    if (!(this.#maxWaitMs >= 0) || !Number.isFinite(this.#maxWaitMs)) invalid(`maxWaitMs must be finite and >= 0, got ${this.#maxWaitMs}`);
    if (!(this.#deadlineMs > 0)) invalid(`deadlineMs must be > 0, got ${this.#deadlineMs}`);
    const error = new SyncPilotError('SP_ERR_TIMEOUT', `no result within ${this.#deadlineMs} ms`, { retryable: true });
    this.#timeout = Object.freeze({ ok: false, code: error.code, error });
  }

  /** Queues one item; resolves with its outcome (never rejects). After `close()`: `SP_ERR_CLOSED`. */
  submit(item: I): Promise<BatchOutcome<O>> {
    if (this.#closed) return Promise.resolve(closedOutcome());
    this.#stats.submitted++;
    return new Promise((resolve) => {
      const deadline = this.#deadlineMs === Infinity ? Infinity : this.#clock.monotonic() + this.#deadlineMs;
      const entry: Entry<I, O> = { item, resolve, deadline, state: 'queued' };
      this.#queue.push(entry);
      this.#queued++;
      if (deadline !== Infinity) {
        this.#due.push(entry);
        if (this.#deadlineTimer === undefined) this.#armDeadline();
      }
      if (this.#queued >= this.#maxBatch) this.#pump();
      else if (this.#waitTimer === undefined && this.#inFlight < this.#maxInFlight) this.#armWait();
    });
  }

  /** Items waiting for a batch. */
  get queued(): number {
    return this.#queued;
  }

  stats(): MicroBatcherStats {
    return { ...this.#stats, queued: this.#queued, inFlight: this.#inFlight };
  }

  /** Stops accepting items, runs what is queued now, and resolves once every batch has finished. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clearWait();
    this.#pump();
    if (this.#inFlight > 0 || this.#queued > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    if (this.#deadlineTimer !== undefined) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
  }

  #armWait(): void {
    this.#waitTimer = this.#maxWaitMs === 0 ? setImmediate(this.#onWait) : setTimeout(this.#onWait, this.#maxWaitMs);
  }

  readonly #onWait = (): void => {
    this.#waitTimer = undefined;
    this.#pump();
  };

  #clearWait(): void {
    if (this.#waitTimer === undefined) return;
    if (this.#maxWaitMs === 0) clearImmediate(this.#waitTimer as NodeJS.Immediate);
    else clearTimeout(this.#waitTimer as NodeJS.Timeout);
    this.#waitTimer = undefined;
  }

  /** Starts batches while there is room and something queued. */
  #pump(): void {
    while (this.#queued > 0 && this.#inFlight < this.#maxInFlight) {
      const batch: Entry<I, O>[] = [];
      while (batch.length < this.#maxBatch && this.#qHead < this.#queue.length) {
        const e = this.#queue[this.#qHead++]!;
        if (e.state !== 'queued') continue;
        e.state = 'running';
        batch.push(e);
      }
      this.#queued -= batch.length;
      this.#compactQueue();
      void this.#runBatch(batch);
    }
    if (this.#queued === 0) this.#clearWait();
  }

  async #runBatch(batch: Entry<I, O>[]): Promise<void> {
    this.#inFlight++;
    this.#stats.batches++;
    this.#stats.rows += batch.length;
    if (batch.length > this.#stats.largestBatch) this.#stats.largestBatch = batch.length;
    try {
      const results = await this.#run(batch.map((e) => e.item));
      if (results.length !== batch.length) {
        throw new SyncPilotError('SP_ERR_INTERNAL', `a batch of ${batch.length} gave ${results.length} results`);
      }
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i]!;
        if (e.state !== 'running') continue;
        e.state = 'done';
        e.resolve({ ok: true, value: results[i]! });
      }
    } catch (err) {
      const error = toSyncPilotError(err, 'SP_ERR_INFERENCE_FAILED');
      const outcome: BatchOutcome<O> = { ok: false, code: error.code, error };
      for (const e of batch) {
        if (e.state !== 'running') continue;
        e.state = 'done';
        this.#stats.failed++;
        e.resolve(outcome);
      }
    } finally {
      const wasFull = this.#inFlight === this.#maxInFlight;
      this.#inFlight--;
      if (this.#queued > 0) {
        // Items held back for want of a free slot have waited long enough: send them now.
        // Otherwise they are still gathering company, and their wait timer is armed.
        if (wasFull || this.#closed) this.#pump();
        else if (this.#waitTimer === undefined) this.#armWait();
      } else if (this.#inFlight === 0) this.#idle.splice(0).forEach((f) => f());
    }
  }

  #armDeadline(): void {
    while (this.#dHead < this.#due.length && this.#due[this.#dHead]!.state === 'done') this.#dHead++;
    this.#compactDue();
    const head = this.#due[this.#dHead];
    if (head === undefined) return;
    const wait = Math.max(0, Math.ceil(head.deadline - this.#clock.monotonic()));
    this.#deadlineTimer = setTimeout(this.#onDeadline, wait);
  }

  readonly #onDeadline = (): void => {
    this.#deadlineTimer = undefined;
    const now = this.#clock.monotonic();
    while (this.#dHead < this.#due.length) {
      const e = this.#due[this.#dHead]!;
      if (e.state !== 'done') {
        if (e.deadline > now) break;
        if (e.state === 'queued') this.#queued--;
        e.state = 'done';
        this.#stats.timedOut++;
        e.resolve(this.#timeout);
      }
      this.#dHead++;
    }
    if (this.#queued === 0) this.#clearWait();
    if (this.#queued === 0 && this.#inFlight === 0) this.#idle.splice(0).forEach((f) => f());
    this.#armDeadline();
  };

  #compactQueue(): void {
    if (this.#qHead === this.#queue.length) {
      this.#queue = [];
      this.#qHead = 0;
    } else if (this.#qHead > 1024 && this.#qHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#qHead);
      this.#qHead = 0;
    }
  }

  #compactDue(): void {
    if (this.#dHead === this.#due.length) {
      this.#due = [];
      this.#dHead = 0;
    } else if (this.#dHead > 1024 && this.#dHead * 2 > this.#due.length) {
      this.#due = this.#due.slice(this.#dHead);
      this.#dHead = 0;
    }
  }
}

function closedOutcome<O>(): BatchOutcome<O> {
  const error = new SyncPilotError('SP_ERR_CLOSED', 'the batcher is closed');
  return { ok: false, code: error.code, error };
}

function invalid(message: string): never {
  throw new SyncPilotError('SP_ERR_CONFIG_INVALID', message);
}

import type { Logger } from '../../core/logger.ts';
import type { SpoolAppendResult } from '../spool/spool-options.ts';
import type { Spool } from '../spool/spool.ts';
import { errorMessage, pause } from './async-utils.ts';
import type { RecordBuilder } from './record-builder.ts';
import type { OutboundRecord } from './transport.ts';

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;
/** How long an idle replayer waits for an append before looking again. */
const IDLE_POLL_MS = 100;

/** A send from memory that was still running when the sink switched to the spool. */
export interface PendingDirectSend {
  /** Whether the broker acknowledged it. */
  readonly done: Promise<boolean>;
  /** Its copy in the spool (undefined if the copy could not be written). */
  readonly spooled: Promise<SpoolAppendResult | undefined> | undefined;
}

/** What {@link SpoolReplayer} needs from the sink that owns it. */
export interface ReplayHost {
  readonly spool: Spool;
  readonly builder: RecordBuilder;
  readonly maxBatchEvents: number;
  readonly logger: Logger;
  /** Sends to the broker (after any producer reset in progress). */
  send(records: readonly OutboundRecord[]): Promise<void>;
  /** A send failed: count it and reset the producer. */
  sendFailed(err: unknown): void;
  pendingDirect(): PendingDirectSend | undefined;
  /** Appends handed to the spool and not finished yet. */
  pendingAppends(): number;
  /** True while the sink sends through the spool. */
  spooling(): boolean;
  /** The spool is delivered and no append is pending: the sink may send directly again. */
  drained(): void;
}

/**
 * Delivers the spool oldest-first: reads a batch, sends it, and acknowledges it in the spool
 * (which persists the replay position) only once the broker acknowledged it; on failure it rewinds
 * and retries with exponential backoff (100 ms to 5 s). Caught up and with no append pending, it
 * hands back to the sink and stops.
 */
export class SpoolReplayer {
  /** Events delivered from the spool. */
  replayed = 0;
  /** Events in the replay send running now. */
  inFlight = 0;
  /** The last replay send failed (the broker is still unreachable). */
  failing = false;
  readonly #host: ReplayHost;
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #stopped = false;
  readonly #stop: Promise<void>;
  #signalStop: () => void = () => undefined;

  constructor(host: ReplayHost) {
    this.#host = host;
    this.#stop = new Promise<void>((resolve) => (this.#signalStop = resolve));
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  /** Starts the loop unless it is running or stopped. */
  start(): void {
    if (this.#running !== undefined || this.#stopped) return;
    this.#running = this.#run()
      .catch((err: unknown) => {
        this.#host.logger.error('telemetry spool replay stopped unexpectedly', { code: 'SP_ERR_INTERNAL', error: errorMessage(err) });
      })
      .finally(() => {
        this.#running = undefined;
      });
  }

  /** An append finished: look for new records now rather than at the next poll. */
  wake(): void {
    this.#wake?.();
  }

  /** Stops for good; resolves when the loop has exited (a send in progress is awaited: bound it). */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#signalStop();
    return this.#running ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    const host = this.#host;
    let backoff = MIN_BACKOFF_MS;
    while (!this.#stopped && host.spooling()) {
      try {
        const direct = host.pendingDirect();
        if (direct !== undefined) {
          // Spooled while its send was still running: if that send succeeded, skip the copy.
          const ok = await direct.done;
          const copy = ok ? await direct.spooled : undefined;
          if (copy !== undefined && copy.appended > 0) await host.spool.ackIfAt(copy.from, copy.to);
          continue;
        }
        const batch = await host.spool.read(host.maxBatchEvents);
        if (batch.payloads.length === 0) {
          if (batch.damaged > 0) continue;
          if (host.pendingAppends() === 0 && !host.spool.hasPending()) {
            host.drained();
            return;
          }
          await this.#idle();
          continue;
        }
        const records = host.builder.fromPayloads(batch.payloads);
        this.inFlight = records.length;
        try {
          if (records.length > 0) await host.send(records);
        } finally {
          this.inFlight = 0;
        }
        this.failing = false;
        this.replayed += records.length;
        await host.spool.ack(batch.next);
        backoff = MIN_BACKOFF_MS;
      } catch (err) {
        if (this.#stopped) return;
        this.failing = true;
        host.sendFailed(err);
        host.logger.debug('telemetry spool replay: send failed; retrying', { error: errorMessage(err), backoffMs: backoff });
        await host.spool.rewind().catch(() => undefined);
        await pause(backoff, this.#stop);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  #idle(): Promise<void> {
    const woken = new Promise<void>((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
    });
    return pause(IDLE_POLL_MS, Promise.race([woken, this.#stop]));
  }
}

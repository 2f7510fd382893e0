import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { SpoolAppendResult } from '../spool/spool-options.ts';
import type { Spool } from '../spool/spool.ts';
import { errorMessage } from './async-utils.ts';
import type { Settlement } from './settlement.ts';

/**
 * The sink's writes into the spool: appends in emit order (the spool serialises its operations in
 * call order), fsyncs that settle what they cover, and the counts of what the spool could not take.
 */
export class SpoolIntake {
  /** Events written to the spool. */
  spooled = 0;
  /** Refused by a full spool. */
  droppedFull = 0;
  /** Lost to failed writes. */
  droppedFailed = 0;
  /** Larger than the record limit. */
  droppedUnencodable = 0;
  /** Appends started and not finished. */
  pending = 0;
  /** Emit number just past the last event handed to the spool. */
  appendedTo = 0;
  readonly #spool: Spool;
  readonly #settlement: Settlement;
  readonly #logger: Logger;
  readonly #afterAppend: () => void;
  readonly #logged = new Set<string>();

  constructor(spool: Spool, settlement: Settlement, logger: Logger, afterAppend: () => void) {
    this.#spool = spool;
    this.#settlement = settlement;
    this.#logger = logger;
    this.#afterAppend = afterAppend;
  }

  get dropped(): number {
    return this.droppedFull + this.droppedFailed + this.droppedUnencodable;
  }

  /** Appends serialised events numbered below `to` (not settled until a sync or an acknowledgement). */
  append(jsons: readonly string[], to: number): Promise<SpoolAppendResult | undefined> {
    this.appendedTo = Math.max(this.appendedTo, to);
    this.pending++;
    return this.#spool
      .append(jsons)
      .then(
        (r) => {
          this.spooled += r.appended;
          this.droppedFull += r.droppedFull;
          this.droppedFailed += r.droppedWriteFailed;
          this.droppedUnencodable += r.droppedUnencodable;
          if (r.droppedFull > 0) this.#logOnce('full', 'telemetry spool full (maxSpoolBytes): dropping events', {});
          if (r.error !== undefined) this.#fail(r.error);
          return r;
        },
        (err: unknown) => {
          this.droppedFailed += jsons.length;
          this.#fail(toSyncPilotError(err, 'SP_ERR_TELEMETRY'));
          return undefined;
        },
      )
      .finally(() => {
        this.pending--;
        this.#afterAppend();
      });
  }

  /** Fsyncs everything appended so far, then settles everything numbered below `to`. */
  async syncTo(to: number): Promise<void> {
    try {
      await this.#spool.sync();
    } catch (err) {
      this.#fail(
        new SyncPilotError('SP_ERR_TELEMETRY', `telemetry spool fsync failed: ${errorMessage(err)}`, { cause: err, retryable: true }),
      );
    }
    this.#settlement.settle(to);
  }

  #fail(err: SyncPilotError): void {
    this.#settlement.fail(err);
    this.#logOnce('write', 'telemetry spool write failed; events are being dropped (logged once)', { error: err.message });
  }

  #logOnce(key: string, msg: string, fields: Record<string, unknown>): void {
    if (this.#logged.has(key)) return;
    this.#logged.add(key);
    this.#logger.error(msg, { code: 'SP_ERR_TELEMETRY', spoolDir: this.#spool.dir, ...fields });
  }
}

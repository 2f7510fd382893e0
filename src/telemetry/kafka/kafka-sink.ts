import { setTimeout as delay } from 'node:timers/promises';
import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import type { Logger } from '../../core/logger.ts';
import type { TelemetryEvent, TelemetrySink, TelemetryStats } from '../../core/telemetry.ts';
import { EVENT_SCHEMAS } from '../events/schemas.ts';
import { parseEvent } from '../events/validate.ts';
import { Spool } from '../spool/spool.ts';
import type { SpoolAppendResult } from '../spool/spool-options.ts';
import { errorMessage, withTimeout } from './async-utils.ts';
import { isLegalTopic, parseKafkaSinkOptions } from './kafka-sink-options.ts';
import type { KafkaSinkOptions, KafkaSinkStats, ResolvedKafkaSinkOptions } from './kafka-sink-options.ts';
import { KafkaJsTransport } from './kafkajs-transport.ts';
import { RecordBuilder } from './record-builder.ts';
import { Settlement } from './settlement.ts';
import { SpoolIntake } from './spool-intake.ts';
import { SpoolReplayer } from './spool-replayer.ts';
import type { KafkaTransport, OutboundRecord } from './transport.ts';

/** A batch sent straight from memory, not yet acknowledged. */
interface Inflight {
  readonly records: readonly OutboundRecord[];
  /** Emit number just past the batch. */
  readonly to: number;
  readonly startedAt: number;
  /** Set when the batch was also written to the spool because the send took too long. */
  spooled: Promise<SpoolAppendResult | undefined> | undefined;
  done: Promise<boolean>;
}

/**
 * Telemetry to Kafka through kafkajs: an idempotent producer with acks=all, one topic per event
 * type (created when missing), each event on the partition of its `event.key` (murmur2, per-key
 * order). By default (`messageFormat: 'batch'`) the events of one partition in one produce
 * request travel as one event-batch message (header `syncpilot-format: batch.v1`, one event JSON
 * per line, `event-batch-format.ts`), which `KafkaTelemetrySource` unpacks; with `'single'` each
 * event is its own message (key `event.key`, value its JSON, headers `type` and `tenant`). kafkajs
 * is loaded only by {@link KafkaSink.open}.
 *
 * `emit` only pushes onto an array. In the background, batches (up to `maxBatchEvents`, after at
 * most `lingerMs`) are validated (`parseEvent`: invalid events are counted and never sent),
 * serialised and sent, one produce request at a time.
 *
 * When a send fails, or takes longer than `spillAfterMs`, or the backlog reaches half of
 * `maxBufferedEvents`, the sink switches to the disk spool (`spoolDir`): the unacknowledged batch
 * and then every new event are appended there, and a replayer sends the spool oldest-first,
 * persisting its position after every acknowledged batch, until it catches up; then new events go
 * straight to the broker again. So per-key order holds across an outage and memory stays bounded.
 * Delivery is at-least-once (a crash mid-replay re-sends the unacknowledged tail): dedupe by
 * `event.id` downstream. A spool left by a killed process is replayed by the next `open`.
 */
export class KafkaSink implements TelemetrySink {
  /**
   * Loads kafkajs, opens the spool (replaying what an earlier process left), connects and creates
   * the topics of the known event types (at most 5 s to connect, `requestTimeoutMs` to create
   * topics). An unreachable broker is not an error: events are spooled until it answers.
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options or when kafkajs is not
   * installed (with an install hint); `SP_ERR_TELEMETRY` when the spool directory is unusable or
   * held by another live process
   */
  static async open(options: KafkaSinkOptions): Promise<KafkaSink> {
    const o = parseKafkaSinkOptions(options);
    const logger = o.logger ?? createLogger('warn');
    const transport = await KafkaJsTransport.create({ ...o, logger });
    return KafkaSink.#start(transport, o, logger);
  }

  /**
   * {@link open} over another {@link KafkaTransport} (tests, other Kafka clients); `brokers` is
   * only reported in logs. The sink closes the transport when it closes.
   */
  static async openWithTransport(transport: KafkaTransport, options: KafkaSinkOptions): Promise<KafkaSink> {
    const o = parseKafkaSinkOptions(options);
    return KafkaSink.#start(transport, o, o.logger ?? createLogger('warn'));
  }

  static async #start(transport: KafkaTransport, o: ResolvedKafkaSinkOptions, logger: Logger): Promise<KafkaSink> {
    let spool: Spool;
    try {
      spool = await Spool.open({ dir: o.spoolDir, segmentBytes: o.spoolSegmentBytes, maxBytes: o.maxSpoolBytes, logger });
    } catch (err) {
      await transport.close().catch(() => undefined);
      throw err;
    }
    const sink = new KafkaSink(transport, spool, o, logger);
    try {
      if (transport.connect !== undefined) await withTimeout(transport.connect(), Math.min(o.requestTimeoutMs, 5000));
      // With the schema validator only the known types can be sent: create their topics now, so
      // the first batches do not wait on topic creation (and spill for it).
      if (o.validate === undefined && transport.prepare !== undefined) {
        const topics = Object.keys(EVENT_SCHEMAS).map(o.topicFor ?? ((type: string) => type));
        await withTimeout(transport.prepare(topics.filter(isLegalTopic)), o.requestTimeoutMs);
      }
    } catch (err) {
      logger.warn('Kafka is unreachable at open; events are spooled until it answers', {
        code: 'SP_ERR_TELEMETRY',
        brokers: o.brokers,
        error: errorMessage(err),
      });
    }
    if (spool.hasPending()) {
      logger.info('telemetry spool holds events from an earlier run; replaying them first', { dir: o.spoolDir, bytes: spool.pendingBytes });
      sink.#mode = 'spool';
      sink.#pump();
    }
    return sink;
  }

  readonly #transport: KafkaTransport;
  readonly #spool: Spool;
  readonly #o: ResolvedKafkaSinkOptions;
  readonly #logger: Logger;
  readonly #builder: RecordBuilder;
  readonly #settlement = new Settlement();
  readonly #intake: SpoolIntake;
  readonly #replayer: SpoolReplayer;
  readonly #spillThreshold: number;

  // Hot path.
  #queue: TelemetryEvent[] = [];
  #head = 0;
  #inflightCount = 0;
  #closed = false;
  #emitted = 0;
  #droppedFull = 0;
  #droppedClosed = 0;
  #loggedFull = false;
  #lingerTimer: NodeJS.Timeout | undefined;
  #kickScheduled = false;

  // Background state. Events are numbered in emit order; `#taken` of them have left the queue.
  #mode: 'direct' | 'spool' = 'direct';
  #taken = 0;
  #lingerDue = false;
  #spillTimer: NodeJS.Timeout | undefined;
  #inflight: Inflight | undefined;
  #appending = false;
  #resetting: Promise<void> = Promise.resolve();
  #lastSendError: unknown;
  #outageSince: number | undefined;
  #stopped = false;
  #closing: Promise<void> | undefined;
  #written = 0;
  #sendFailures = 0;

  private constructor(transport: KafkaTransport, spool: Spool, o: ResolvedKafkaSinkOptions, logger: Logger) {
    this.#transport = transport;
    this.#spool = spool;
    this.#o = o;
    this.#logger = logger;
    const validate = o.validate === false ? undefined : (o.validate ?? parseEvent);
    this.#builder = new RecordBuilder(o.topicFor ?? ((type) => type), validate, logger);
    this.#spillThreshold = Math.max(1, Math.floor(o.maxBufferedEvents / 2));
    this.#intake = new SpoolIntake(spool, this.#settlement, logger, () => this.#replayer.wake());
    this.#replayer = new SpoolReplayer({
      spool,
      builder: this.#builder,
      maxBatchEvents: o.maxBatchEvents,
      logger,
      send: (records) => this.#send(records),
      sendFailed: (err) => this.#afterSendFailure(err),
      pendingDirect: () => this.#inflight,
      pendingAppends: () => this.#intake.pending,
      spooling: () => this.#mode === 'spool',
      drained: () => this.#drained(),
    });
  }

  /** Queues `event` for a background batch. Never blocks, never throws; drops (counted) when full or closed. */
  emit(event: TelemetryEvent): void {
    this.#emitted++;
    if (this.#closed) {
      this.#droppedClosed++;
      return;
    }
    const waiting = this.#queue.length - this.#head;
    if (waiting + this.#inflightCount >= this.#o.maxBufferedEvents) {
      this.#droppedFull++;
      if (!this.#loggedFull) {
        this.#loggedFull = true;
        this.#logger.warn('telemetry buffer full: dropping events until the Kafka sink catches up', {
          code: 'SP_ERR_BACKPRESSURE',
          maxBufferedEvents: this.#o.maxBufferedEvents,
        });
      }
      return;
    }
    this.#queue.push(event);
    if (waiting === 0) {
      if (this.#lingerTimer === undefined) {
        this.#lingerTimer = setTimeout(this.#onLinger, this.#o.lingerMs);
        this.#lingerTimer.unref();
      }
    } else if (waiting + 1 === this.#o.maxBatchEvents) {
      this.#kick();
    }
  }

  /**
   * Resolves once every event emitted before the call is acknowledged by the broker or fsync'd in
   * the spool (or dropped, and counted).
   * @throws SyncPilotError `SP_ERR_TELEMETRY` (retryable) if a spool write or fsync failed since
   * the last flush; the lost events are counted in `dropped`. Each failure is reported once.
   */
  flush(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    return this.#flushAll();
  }

  /**
   * Flushes, then lets the replayer empty the spool while the broker answers (all within
   * `closeTimeoutMs`), stops it, disconnects and closes the spool; what is left in the spool is
   * replayed by the next `open` on the same directory. Idempotent.
   * @throws SyncPilotError `SP_ERR_TIMEOUT` when events were neither delivered nor spooled in time
   * (they are counted as dropped); `SP_ERR_TELEMETRY` as for {@link flush}
   */
  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  stats(): TelemetryStats {
    return {
      emitted: this.#emitted,
      written: this.#written + this.#replayer.replayed,
      dropped: this.#droppedFull + this.#droppedClosed + this.#builder.invalid + this.#builder.unencodable + this.#intake.dropped,
    };
  }

  /** {@link stats} with the spool, the backlog and drop reasons. */
  detailedStats(): KafkaSinkStats {
    return {
      ...this.stats(),
      mode: this.#mode,
      queued: this.#queue.length - this.#head,
      inFlight: this.#inflightCount + this.#replayer.inFlight,
      spooled: this.#intake.spooled,
      replayed: this.#replayer.replayed,
      spoolPendingBytes: this.#spool.pendingBytes,
      invalid: this.#builder.invalid,
      droppedBufferFull: this.#droppedFull,
      droppedAfterClose: this.#droppedClosed,
      droppedUnencodable: this.#builder.unencodable + this.#intake.droppedUnencodable,
      droppedSpoolFull: this.#intake.droppedFull,
      droppedSpoolFailed: this.#intake.droppedFailed,
      sendFailures: this.#sendFailures,
    };
  }

  readonly #onLinger = (): void => {
    this.#lingerTimer = undefined;
    this.#lingerDue = true;
    this.#pump();
  };

  /** Runs the pump on the next turn of the event loop, never inside `emit`. */
  #kick(): void {
    if (this.#kickScheduled) return;
    this.#kickScheduled = true;
    setImmediate(() => {
      this.#kickScheduled = false;
      this.#pump();
    });
  }

  #flushAll(): Promise<void> {
    const p = this.#settlement.waitFor(this.#taken + this.#queue.length - this.#head);
    this.#kick();
    return p;
  }

  /** Decides what to start next; called whenever something changed. Starts work, never awaits. */
  #pump(): void {
    if (this.#stopped) return;
    const waiting = this.#queue.length - this.#head;
    const urgent = this.#settlement.awaited || this.#closed;
    const due = urgent || this.#lingerDue || waiting >= this.#o.maxBatchEvents;
    if (this.#mode === 'direct') {
      const inflight = this.#inflight;
      if (inflight === undefined) {
        if (waiting > 0 && due) this.#sendDirect();
      } else if (waiting > 0 || urgent) {
        const age = performance.now() - inflight.startedAt;
        if (waiting >= this.#spillThreshold || age >= this.#o.spillAfterMs) this.#spill('the broker is slow to acknowledge', inflight);
        else this.#armSpillTimer(this.#o.spillAfterMs - age, urgent);
      }
    }
    if (this.#mode === 'spool') {
      if (!this.#appending) {
        if (waiting > 0 && due) this.#appendWaiting(urgent);
        else if (urgent && this.#settlement.settled < this.#intake.appendedTo) this.#syncSpool();
      }
      this.#replayer.start();
    }
  }

  #take(n: number): TelemetryEvent[] {
    const q = this.#queue;
    const h = this.#head;
    let out: TelemetryEvent[];
    if (h === 0 && n >= q.length) {
      out = q;
      this.#queue = [];
    } else {
      out = q.slice(h, h + n);
      this.#head = h + n;
      if (this.#head >= q.length) {
        this.#queue = [];
        this.#head = 0;
      } else if (this.#head > 4096 && this.#head * 2 > q.length) {
        // Compact now and then, so taking a batch stays O(batch).
        this.#queue = q.slice(this.#head);
        this.#head = 0;
      }
    }
    this.#taken += out.length;
    if (this.#queue.length === this.#head) this.#lingerDue = false;
    else if (!this.#lingerDue && this.#lingerTimer === undefined) {
      this.#lingerTimer = setTimeout(this.#onLinger, this.#o.lingerMs);
      this.#lingerTimer.unref();
    }
    return out;
  }

  #sendDirect(): void {
    const records = this.#builder.fromEvents(this.#take(this.#o.maxBatchEvents));
    const to = this.#taken;
    if (records.length === 0) {
      this.#settlement.settle(to);
      this.#kick();
      return;
    }
    const inflight: Inflight = { records, to, startedAt: performance.now(), spooled: undefined, done: Promise.resolve(false) };
    this.#inflight = inflight;
    this.#inflightCount = records.length;
    inflight.done = this.#send(records).then(
      () => true,
      (err: unknown) => {
        this.#afterSendFailure(err);
        return false;
      },
    );
    void inflight.done.then((ok) => {
      this.#inflight = undefined;
      this.#inflightCount = 0;
      if (ok) {
        this.#written += records.length;
        this.#settlement.settle(to);
      } else if (inflight.spooled === undefined) {
        this.#spill('sending to the broker failed', inflight);
      }
      this.#pump();
    });
  }

  async #send(records: readonly OutboundRecord[]): Promise<void> {
    await this.#resetting;
    await this.#transport.send(records);
  }

  #afterSendFailure(err: unknown): void {
    this.#sendFailures++;
    this.#lastSendError = err;
    this.#resetting = this.#resetting.then(() => this.#transport.reset()).catch(() => undefined);
  }

  /** Switches to the spool; an unacknowledged batch goes in first, so it is replayed before newer events. */
  #spill(reason: string, inflight: Inflight): void {
    if (this.#mode === 'direct') {
      this.#mode = 'spool';
      if (this.#outageSince === undefined) {
        this.#outageSince = performance.now();
        const failed = reason.includes('failed') && this.#lastSendError !== undefined;
        this.#logger.warn(`Kafka telemetry: ${reason}; spooling to disk until it catches up`, {
          code: 'SP_ERR_TELEMETRY',
          brokers: this.#o.brokers,
          spoolDir: this.#o.spoolDir,
          ...(failed ? { error: errorMessage(this.#lastSendError) } : {}),
        });
      }
    }
    if (inflight.spooled === undefined) {
      inflight.spooled = this.#intake.append(
        inflight.records.map((r) => r.value as string),
        inflight.to,
      );
    }
  }

  /** `hold`: keep the process alive for it (someone awaits a flush or close that depends on it). */
  #armSpillTimer(ms: number, hold: boolean): void {
    if (this.#spillTimer !== undefined) {
      if (hold) this.#spillTimer.ref();
      return;
    }
    const fire = (): void => {
      this.#spillTimer = undefined;
      this.#pump();
    };
    this.#spillTimer = setTimeout(fire, Math.max(1, Math.ceil(ms)));
    if (!hold) this.#spillTimer.unref();
  }

  #appendWaiting(sync: boolean): void {
    this.#appending = true;
    // Bounded, so validating and serialising one append never stalls the event loop for long.
    const n = Math.min(this.#queue.length - this.#head, Math.max(this.#o.maxBatchEvents, 4096));
    const records = this.#builder.fromEvents(this.#take(n));
    const to = this.#taken;
    void this.#intake
      .append(
        records.map((r) => r.value as string),
        to,
      )
      .then(() => (sync ? this.#intake.syncTo(to) : undefined))
      .finally(() => {
        this.#appending = false;
        this.#pump();
      });
  }

  #syncSpool(): void {
    this.#appending = true;
    void this.#intake.syncTo(this.#intake.appendedTo).finally(() => {
      this.#appending = false;
      this.#pump();
    });
  }

  /** The replayer caught up: everything spooled is acknowledged, so new events go straight to the broker. */
  #drained(): void {
    this.#mode = 'direct';
    this.#settlement.settle(this.#intake.appendedTo);
    if (this.#outageSince !== undefined) {
      this.#logger.info('Kafka telemetry: spool replayed; sending directly again', {
        spooled: this.#intake.spooled,
        replayed: this.#replayer.replayed,
        outageMs: Math.round(performance.now() - this.#outageSince),
      });
      this.#outageSince = undefined;
    }
    void this.#spool.resetIfDrained().catch((err: unknown) => {
      this.#logger.warn('telemetry spool: could not delete replayed segments', { error: errorMessage(err) });
    });
    this.#kick();
  }

  async #doClose(): Promise<void> {
    this.#closed = true;
    const deadline = performance.now() + this.#o.closeTimeoutMs;
    let failure: unknown;
    const flushed = this.#flushAll().then(
      () => true,
      (err: unknown) => {
        failure = err;
        return true;
      },
    );
    this.#pump();
    if (!(await withTimeout(flushed, this.#o.closeTimeoutMs).catch(() => false))) {
      const lost = this.#queue.length - this.#head;
      this.#droppedClosed += lost;
      this.#queue = [];
      this.#head = 0;
      const message = `KafkaSink.close: events neither delivered nor spooled within ${this.#o.closeTimeoutMs} ms`;
      failure = new SyncPilotError('SP_ERR_TIMEOUT', message, { details: { lost } });
      this.#logger.error(message, { code: 'SP_ERR_TIMEOUT', lost });
    }
    // A reachable broker gets the rest of the budget to empty the spool, so a clean shutdown leaves none behind.
    while (this.#mode === 'spool' && this.#replayer.running && !this.#replayer.failing && performance.now() < deadline) await delay(20);
    this.#stopped = true;
    clearTimeout(this.#lingerTimer);
    clearTimeout(this.#spillTimer);
    const left = (): number => Math.max(100, deadline - performance.now());
    await withTimeout(Promise.all([this.#replayer.stop(), this.#inflight?.done]), left()).catch(() => undefined);
    await this.#spool.resetIfDrained().catch(() => undefined);
    await withTimeout(this.#transport.close(), left()).catch((err: unknown) => {
      this.#logger.debug('Kafka telemetry: disconnect failed', { error: errorMessage(err) });
    });
    await this.#spool.close().catch((err: unknown) => {
      failure ??= err;
    });
    if (failure !== undefined) throw toSyncPilotError(failure, 'SP_ERR_TELEMETRY');
  }
}

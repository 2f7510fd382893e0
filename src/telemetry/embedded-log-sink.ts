import { mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { loggerOption, segmentBytesOption } from './option-schemas.ts';
import { SyncPilotError, toSyncPilotError } from '../core/errors.ts';
import { createLogger } from '../core/logger.ts';
import type { Logger } from '../core/logger.ts';
import type { TelemetryEvent, TelemetrySink, TelemetryStats } from '../core/telemetry.ts';
import { acquireDirLock } from './dir-lock.ts';
import { segmentFileName } from './log-format.ts';
import { recoverLogTail } from './log-recovery.ts';
import type { LogTailState } from './log-recovery.ts';
import { RecordEncoder } from './record-encoder.ts';

const optionsSchema = z.strictObject({
  dir: z.string().min(1),
  segmentBytes: segmentBytesOption,
  maxBufferedEvents: z.number().int().min(1).max(10_000_000).default(100_000),
  flushIntervalMs: z.number().int().min(1).max(60_000).default(50),
  logger: loggerOption,
});

/** Options of {@link EmbeddedLogSink.open}. */
export interface EmbeddedLogSinkOptions {
  /** The log directory itself (conventionally `<dataDir>/telemetry`); created if missing. */
  readonly dir: string;
  /** A segment is rotated before it would exceed this size (default 16 MiB, min 256 B). */
  readonly segmentBytes?: number;
  /** Events emitted but not yet written, beyond which `emit` drops and counts (default 100 000). */
  readonly maxBufferedEvents?: number;
  /** How long an event may wait in memory before a background write (default 50 ms). */
  readonly flushIntervalMs?: number;
  /** Where write errors and recovery are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
}

/** {@link TelemetryStats} with the reasons for drops broken out. */
export interface EmbeddedLogSinkStats extends TelemetryStats {
  /** Accepted by `emit`, not yet handed to a write. */
  readonly buffered: number;
  readonly droppedBufferFull: number;
  readonly droppedAfterClose: number;
  /** Lost to failed writes. */
  readonly droppedWriteFailed: number;
  /** Not JSON-serialisable, or larger than the 64 MiB record limit. */
  readonly droppedUnencodable: number;
  /** Failed write / fsync / open calls. */
  readonly writeErrors: number;
}

/**
 * The default telemetry sink: an append-only, segment-rotated log in a local directory
 * (format in `log-format.ts`, reading in `embedded-log-reader.ts`).
 *
 * `emit` only appends the event object to an in-memory array: serialisation, checksums and I/O
 * happen later in background batches (after `flushIntervalMs`, or as soon as a batch fills), one
 * `write` per batch and segment. Because serialisation is deferred, an event must not be mutated
 * after it is emitted (the type is readonly). `flush()` is the durability point: it resolves once
 * every event emitted before it is written and fsync'd. One writer per directory (a `LOCK` file).
 */
export class EmbeddedLogSink implements TelemetrySink {
  /**
   * Opens (creating if needed) the log in `options.dir`, truncating a torn tail left by a crash.
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options; `SP_ERR_TELEMETRY` when the
   * directory is unusable or another live writer holds it
   */
  static async open(options: EmbeddedLogSinkOptions): Promise<EmbeddedLogSink> {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid EmbeddedLogSink options: ${z.prettifyError(parsed.error)}`);
    }
    const o = parsed.data;
    const logger = o.logger ?? createLogger('warn');
    let release: (() => Promise<void>) | undefined;
    let fh: FileHandle | undefined;
    try {
      await mkdir(o.dir, { recursive: true });
      release = await acquireDirLock(o.dir);
      const tail = await recoverLogTail(o.dir, logger);
      if (tail.appendSegment !== undefined) fh = await open(join(o.dir, segmentFileName(tail.appendSegment)), 'a');
      return new EmbeddedLogSink(o.dir, o.segmentBytes, o.maxBufferedEvents, o.flushIntervalMs, logger, release, tail, fh);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await release?.();
      throw toSyncPilotError(err, 'SP_ERR_TELEMETRY');
    }
  }

  readonly #dir: string;
  readonly #segmentBytes: number;
  readonly #maxBuffered: number;
  readonly #flushIntervalMs: number;
  /** A background write starts as soon as this many events wait; also the most encoded per write. */
  readonly #batchEvents: number;
  readonly #logger: Logger;
  readonly #release: () => Promise<void>;
  /** What open found: bytes of torn tail truncated, and a damaged segment left behind. */
  readonly recovery: { readonly truncatedBytes: number; readonly abandonedSegment: number | undefined };

  // Hot-path state.
  #buffer: TelemetryEvent[] = [];
  #inFlight = 0;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #kickScheduled = false;
  #emitted = 0;
  #droppedFull = 0;
  #droppedClosed = 0;

  // Writer state: touched only by operations serialised through #ops.
  #ops: Promise<void> = Promise.resolve();
  readonly #encoder = new RecordEncoder();
  #fh: FileHandle | undefined;
  #segFirstSeq: number;
  #segSize: number;
  #nextSeq: number;
  #dirty = false;
  #dirDirty = false;
  #written = 0;
  #droppedWrite = 0;
  #droppedUnencodable = 0;
  #writeErrors = 0;
  #unreportedFailure: SyncPilotError | undefined;
  #loggedWriteError = false;
  #loggedFull = false;
  #loggedUnencodable = false;
  #closing: Promise<void> | undefined;

  private constructor(
    dir: string,
    segmentBytes: number,
    maxBuffered: number,
    flushIntervalMs: number,
    logger: Logger,
    release: () => Promise<void>,
    tail: LogTailState,
    fh: FileHandle | undefined,
  ) {
    this.#dir = dir;
    this.#segmentBytes = segmentBytes;
    this.#maxBuffered = maxBuffered;
    this.#flushIntervalMs = flushIntervalMs;
    this.#batchEvents = Math.max(1, Math.min(4096, Math.floor(maxBuffered / 4)));
    this.#logger = logger;
    this.#release = release;
    this.#fh = fh;
    this.#segFirstSeq = tail.appendSegment ?? tail.nextSeq;
    this.#segSize = tail.appendSize;
    this.#nextSeq = tail.nextSeq;
    this.recovery = { truncatedBytes: tail.truncatedBytes, abandonedSegment: tail.abandonedSegment };
  }

  /** Buffers `event` for a background write. Never blocks, never throws; drops (counted) when full or closed. */
  emit(event: TelemetryEvent): void {
    this.#emitted++;
    if (this.#closed) {
      this.#droppedClosed++;
      return;
    }
    const buffered = this.#buffer.length;
    if (buffered + this.#inFlight >= this.#maxBuffered) {
      this.#droppedFull++;
      if (!this.#loggedFull) {
        this.#loggedFull = true;
        this.#logger.warn('telemetry buffer full: dropping events until the writer catches up', {
          dir: this.#dir,
          maxBufferedEvents: this.#maxBuffered,
        });
      }
      return;
    }
    this.#buffer.push(event);
    if (buffered === 0) {
      if (this.#timer === undefined && !this.#kickScheduled) {
        this.#timer = setTimeout(this.#onTimer, this.#flushIntervalMs);
        this.#timer.unref();
      }
    } else if (buffered + 1 === this.#batchEvents) {
      this.#kick();
    }
  }

  /**
   * Resolves once every event emitted before the call is written and fsync'd.
   * @throws SyncPilotError `SP_ERR_TELEMETRY` (retryable) if a write or fsync failed since the
   * last flush; the lost events are counted in `dropped`. Each failure is reported once.
   */
  flush(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    return this.#enqueue(() => this.#flushOp());
  }

  /** Flushes, stops the timer, closes the segment and releases the directory. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  stats(): TelemetryStats {
    return {
      emitted: this.#emitted,
      written: this.#written,
      dropped: this.#droppedFull + this.#droppedClosed + this.#droppedWrite + this.#droppedUnencodable,
    };
  }

  /** {@link stats} with drop reasons and the current backlog. */
  detailedStats(): EmbeddedLogSinkStats {
    return {
      ...this.stats(),
      buffered: this.#buffer.length + this.#inFlight,
      droppedBufferFull: this.#droppedFull,
      droppedAfterClose: this.#droppedClosed,
      droppedWriteFailed: this.#droppedWrite,
      droppedUnencodable: this.#droppedUnencodable,
      writeErrors: this.#writeErrors,
    };
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#kick();
  };

  /** Schedules a background write on the next turn of the event loop, never inside `emit`. */
  #kick(): void {
    if (this.#kickScheduled || this.#closed) return;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#kickScheduled = true;
    setImmediate(() => {
      void this.#enqueue(() => this.#backgroundWrite());
    });
  }

  #enqueue(op: () => Promise<void>): Promise<void> {
    const p = this.#ops.then(op);
    this.#ops = p.catch(() => undefined);
    return p;
  }

  async #backgroundWrite(): Promise<void> {
    this.#kickScheduled = false;
    try {
      await this.#drain(this.#buffer.length);
    } catch (err) {
      // #drain handles I/O errors itself; anything here is a bug, which must not escape into the loop.
      this.#logger.error('telemetry background write failed unexpectedly', { error: String(err) });
    }
    this.#afterWrite();
  }

  async #flushOp(): Promise<void> {
    await this.#drain(this.#buffer.length);
    try {
      if (this.#dirty && this.#fh !== undefined) {
        await this.#fh.sync();
        this.#dirty = false;
      }
      if (this.#dirDirty) {
        await this.#syncDir();
        this.#dirDirty = false;
      }
    } catch (err) {
      this.#writeErrors++;
      this.#unreportedFailure ??= new SyncPilotError('SP_ERR_TELEMETRY', `telemetry fsync failed: ${String(err)}`, {
        cause: err,
        retryable: true,
      });
    }
    this.#afterWrite();
    const failure = this.#unreportedFailure;
    this.#unreportedFailure = undefined;
    if (failure !== undefined) throw failure;
  }

  /** After a write, keep draining a backlog straight away, or wait for the timer for a trickle. */
  #afterWrite(): void {
    if (this.#closed) return;
    const n = this.#buffer.length;
    if (n >= this.#batchEvents) this.#kick();
    else if (n > 0 && this.#timer === undefined && !this.#kickScheduled) {
      this.#timer = setTimeout(this.#onTimer, this.#flushIntervalMs);
      this.#timer.unref();
    }
  }

  /** Writes the first `count` buffered events, in batches of at most #batchEvents. */
  async #drain(count: number): Promise<void> {
    let left = count;
    while (left > 0 && this.#buffer.length > 0) {
      const n = Math.min(left, this.#batchEvents, this.#buffer.length);
      let batch: TelemetryEvent[];
      if (n === this.#buffer.length) {
        batch = this.#buffer;
        this.#buffer = [];
      } else {
        batch = this.#buffer.slice(0, n);
        this.#buffer = this.#buffer.slice(n);
      }
      this.#inFlight = n;
      try {
        await this.#writeBatch(batch);
      } finally {
        this.#inFlight = 0;
      }
      left -= n;
    }
  }

  async #writeBatch(events: readonly TelemetryEvent[]): Promise<void> {
    const { bytes, ends } = this.#encoder.encode(events, this.#unencodable);
    let i = 0;
    let from = 0;
    while (i < ends.length) {
      // Records [i, j) fit in the current segment; an oversized record still gets an empty segment alone.
      const room = this.#segmentBytes - this.#segSize;
      let j = i;
      while (j < ends.length && ((ends[j] ?? 0) - from <= room || (j === i && this.#segSize === 0))) j++;
      try {
        if (j === i) {
          await this.#rotate();
          continue;
        }
        const to = ends[j - 1] ?? from;
        await this.#append(bytes.subarray(from, to));
        this.#written += j - i;
        this.#nextSeq += j - i;
        i = j;
        from = to;
      } catch (err) {
        await this.#onWriteError(err, ends.length - i);
        return;
      }
    }
  }

  readonly #unencodable = (reason: string): void => {
    this.#droppedUnencodable++;
    if (!this.#loggedUnencodable) {
      this.#loggedUnencodable = true;
      this.#logger.warn('telemetry event dropped: cannot be encoded', { reason });
    }
  };

  async #append(buf: Buffer): Promise<void> {
    if (this.#fh === undefined) {
      // 'a': O_APPEND, so every write lands at the end even after a truncation.
      this.#fh = await open(join(this.#dir, segmentFileName(this.#nextSeq)), 'a');
      this.#segFirstSeq = this.#nextSeq;
      this.#segSize = (await this.#fh.stat()).size;
      this.#dirDirty = true;
    }
    const fh = this.#fh;
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    this.#segSize += buf.length;
    this.#dirty = true;
  }

  /** Seals the current segment (fsync'd, so a later flush need not remember it) and starts none yet. */
  async #rotate(): Promise<void> {
    const fh = this.#fh;
    if (fh === undefined) return;
    this.#fh = undefined;
    try {
      if (this.#dirty) await fh.sync();
      this.#dirty = false;
    } finally {
      await fh.close();
    }
    this.#segSize = 0;
  }

  async #syncDir(): Promise<void> {
    const d = await open(this.#dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  async #onWriteError(err: unknown, lost: number): Promise<void> {
    this.#writeErrors++;
    this.#droppedWrite += lost;
    const message = err instanceof Error ? err.message : String(err);
    this.#unreportedFailure ??= new SyncPilotError('SP_ERR_TELEMETRY', `telemetry write failed: ${message}`, {
      cause: err,
      retryable: true,
      details: { dir: this.#dir, lost },
    });
    if (!this.#loggedWriteError) {
      this.#loggedWriteError = true;
      this.#logger.error('telemetry write failed; events are being dropped (logged once)', {
        dir: this.#dir,
        segment: segmentFileName(this.#segFirstSeq),
        error: message,
      });
    }
    // Undo a partial append so the segment stays readable; if even that fails, abandon the segment.
    const fh = this.#fh;
    if (fh === undefined) return;
    try {
      await fh.truncate(this.#segSize);
    } catch {
      this.#fh = undefined;
      // Earlier batches in this segment count as written: keep them durable before letting go.
      await fh.sync().catch(() => undefined);
      this.#dirty = false;
      await fh.close().catch(() => undefined);
      if (this.#nextSeq === this.#segFirstSeq) this.#nextSeq++;
      this.#segSize = 0;
    }
  }

  async #doClose(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    let failure: unknown;
    try {
      await this.#enqueue(() => this.#flushOp());
    } catch (err) {
      failure = err;
    }
    await this.#enqueue(async () => {
      const fh = this.#fh;
      this.#fh = undefined;
      await fh?.close();
    }).catch(() => undefined);
    await this.#release();
    if (failure !== undefined) throw toSyncPilotError(failure, 'SP_ERR_TELEMETRY');
  }
}

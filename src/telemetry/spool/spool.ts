import { mkdir, open, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import type { Logger } from '../../core/logger.ts';
import { acquireDirLock } from '../dir-lock.ts';
import { listSegments, SegmentScanner, segmentFileName } from '../log-format.ts';
import { recoverLogTail } from '../log-recovery.ts';
import { RecordEncoder } from '../record-encoder.ts';
import { comparePositions, readSpoolPosition, writeSpoolPosition } from './spool-position.ts';
import type { SpoolPosition } from './spool-position.ts';
import { spoolOptionsSchema } from './spool-options.ts';
import type { SpoolAppendResult, SpoolBatch, SpoolOptions } from './spool-options.ts';

interface Reader {
  readonly segment: number;
  readonly fh: FileHandle;
  scanner: SegmentScanner;
  /** The size bound the scanner was made with, and where its next record starts. */
  size: number;
  offset: number;
}

/**
 * A local, append-only spool of telemetry records: the embedded log's segment format
 * (`log-format.ts`: `[u32 len][u32 crc32][JSON]`, segments named by first sequence number), its
 * torn-tail recovery and its directory lock, plus a persisted replay position (`REPLAY`).
 *
 * Records are appended at the end and read back oldest-first from a read cursor; `ack` moves the
 * replay position past records the broker acknowledged, persists it, and deletes segments wholly
 * behind it. After a crash, replay restarts at the persisted position, so at most the records read
 * but not yet acknowledged are sent twice (at-least-once). All operations are serialised.
 */
export class Spool {
  /**
   * Opens (creating if needed) the spool in `options.dir`, truncating a torn tail left by a crash
   * and dropping segments a previous process acknowledged but did not get to delete.
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options; `SP_ERR_TELEMETRY` when the
   * directory is unusable or another live process holds it
   */
  static async open(options: SpoolOptions): Promise<Spool> {
    const parsed = spoolOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid Spool options: ${z.prettifyError(parsed.error)}`);
    }
    const o = parsed.data;
    const logger = o.logger ?? createLogger('warn');
    let release: (() => Promise<void>) | undefined;
    let fh: FileHandle | undefined;
    try {
      await mkdir(o.dir, { recursive: true });
      release = await acquireDirLock(o.dir);
      const tail = await recoverLogTail(o.dir, logger);
      const { position, damaged } = await readSpoolPosition(o.dir);
      if (damaged) logger.warn('telemetry spool: replay position unreadable; replaying the whole spool', { dir: o.dir });
      const segments: number[] = [];
      const sizes = new Map<number, number>();
      const ack = position ?? { segment: (await listSegments(o.dir))[0] ?? tail.nextSeq, offset: 0 };
      for (const seg of await listSegments(o.dir)) {
        // Acknowledged before a crash, not yet deleted.
        if (seg < ack.segment) await unlink(join(o.dir, segmentFileName(seg)));
        else {
          segments.push(seg);
          sizes.set(seg, (await stat(join(o.dir, segmentFileName(seg)))).size);
        }
      }
      let active: number | undefined;
      if (tail.appendSegment !== undefined && sizes.has(tail.appendSegment)) {
        active = tail.appendSegment;
        fh = await open(join(o.dir, segmentFileName(active)), 'a');
        sizes.set(active, tail.appendSize);
      }
      const nextSeq = Math.max(tail.nextSeq, ack.segment);
      return new Spool(o.dir, o.segmentBytes, o.maxBytes, logger, release, segments, sizes, active, fh, nextSeq, ack);
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await release?.();
      throw toSyncPilotError(err, 'SP_ERR_TELEMETRY');
    }
  }

  readonly dir: string;
  readonly #segmentBytes: number;
  readonly #maxBytes: number;
  readonly #logger: Logger;
  readonly #release: () => Promise<void>;
  readonly #encoder = new RecordEncoder();
  #ops: Promise<unknown> = Promise.resolve();
  readonly #segments: number[];
  readonly #sizes: Map<number, number>;
  #active: number | undefined;
  #fh: FileHandle | undefined;
  #nextSeq: number;
  #dirty = false;
  #dirDirty = false;
  #bytes = 0;
  #ack: SpoolPosition;
  #read: SpoolPosition;
  #reader: Reader | undefined;
  #closed = false;

  private constructor(
    dir: string,
    segmentBytes: number,
    maxBytes: number,
    logger: Logger,
    release: () => Promise<void>,
    segments: number[],
    sizes: Map<number, number>,
    active: number | undefined,
    fh: FileHandle | undefined,
    nextSeq: number,
    ack: SpoolPosition,
  ) {
    this.dir = dir;
    this.#segmentBytes = segmentBytes;
    this.#maxBytes = maxBytes;
    this.#logger = logger;
    this.#release = release;
    this.#segments = segments;
    this.#sizes = sizes;
    this.#active = active;
    this.#fh = fh;
    this.#nextSeq = nextSeq;
    for (const s of sizes.values()) this.#bytes += s;
    this.#ack = this.#normalize(ack);
    this.#read = this.#ack;
  }

  /** Bytes in the spool's segments (acknowledged records included until their segment is deleted). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes after the replay position: a measure of what is left to replay. */
  get pendingBytes(): number {
    let n = 0;
    for (const seg of this.#segments) {
      if (seg < this.#ack.segment) continue;
      const size = this.#sizes.get(seg) ?? 0;
      n += seg === this.#ack.segment ? Math.max(0, size - this.#ack.offset) : size;
    }
    return n;
  }

  /** The persisted replay position. */
  get position(): SpoolPosition {
    return this.#ack;
  }

  /** True while some appended record is not acknowledged yet (as of the last finished operation). */
  hasPending(): boolean {
    return comparePositions(this.#normalize(this.#ack), this.#end()) < 0;
  }

  /** True while some appended record has not been handed out by {@link read} since the last rewind. */
  hasUnread(): boolean {
    return comparePositions(this.#normalize(this.#read), this.#end()) < 0;
  }

  /**
   * Appends records (one UTF-8 JSON payload each) at the end, sealing segments as they fill.
   * Never throws for I/O: what could not be written is counted in the result, with the error.
   */
  append(jsons: readonly string[]): Promise<SpoolAppendResult> {
    return this.#enqueue(() => this.#append(jsons));
  }

  /** Makes every appended record durable (fsync of the open segment and, after a new one, the directory). */
  sync(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#dirty && this.#fh !== undefined) {
        await this.#fh.sync();
        this.#dirty = false;
      }
      if (this.#dirDirty) {
        const d = await open(this.dir, 'r');
        try {
          await d.sync();
        } finally {
          await d.close();
        }
        this.#dirDirty = false;
      }
    });
  }

  /**
   * Reads up to `max` records from the read cursor (oldest first), up to the end of what has been
   * appended. Damaged stretches are skipped with a warning, never thrown.
   */
  read(max: number): Promise<SpoolBatch> {
    return this.#enqueue(() => this.#readOp(max));
  }

  /**
   * Marks everything before `next` (a {@link SpoolBatch.next} or {@link SpoolAppendResult.to}) as
   * acknowledged: persists the replay position and deletes segments wholly behind it.
   */
  ack(next: SpoolPosition): Promise<void> {
    return this.#enqueue(() => this.#ackOp(next));
  }

  /**
   * Acknowledges `[from, to)` only if the replay position is at `from`, i.e. nothing before it is
   * unacknowledged: for records that reached the broker by another path after they were spooled.
   * Resolves whether it did.
   */
  ackIfAt(from: SpoolPosition, to: SpoolPosition): Promise<boolean> {
    return this.#enqueue(async () => {
      if (comparePositions(this.#normalize(this.#ack), this.#normalize(from)) !== 0) return false;
      await this.#ackOp(to);
      return true;
    });
  }

  /** Moves the read cursor back to the replay position (after a failed delivery, to read the same records again). */
  rewind(): Promise<void> {
    return this.#enqueue(() => {
      this.#read = this.#ack;
      return Promise.resolve();
    });
  }

  /**
   * When every appended record is acknowledged, deletes all segments (the spool becomes empty and
   * new appends start a fresh segment). Resolves whether it did.
   */
  resetIfDrained(): Promise<boolean> {
    return this.#enqueue(async () => {
      if (this.hasPending()) return false;
      if (this.#segments.length === 0) return true;
      await this.#closeReader();
      const fh = this.#fh;
      this.#fh = undefined;
      this.#active = undefined;
      this.#dirty = false;
      await fh?.close();
      // Position first: a crash before the unlinks leaves segments the next open knows are acknowledged.
      const pos = { segment: this.#nextSeq, offset: 0 };
      await writeSpoolPosition(this.dir, pos);
      this.#ack = pos;
      this.#read = pos;
      for (const seg of this.#segments.splice(0)) await this.#deleteSegment(seg);
      return true;
    });
  }

  /** Fsyncs and closes the open segment and releases the directory. Idempotent. */
  close(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#closeReader();
      const fh = this.#fh;
      this.#fh = undefined;
      try {
        if (this.#dirty) await fh?.sync();
      } finally {
        await fh?.close();
        await this.#release();
      }
    }, true);
  }

  async #ackOp(next: SpoolPosition): Promise<void> {
    const pos = this.#normalize(next);
    if (comparePositions(pos, this.#normalize(this.#ack)) <= 0) return;
    this.#ack = pos;
    if (comparePositions(this.#normalize(this.#read), pos) < 0) this.#read = pos;
    await writeSpoolPosition(this.dir, pos);
    while (this.#segments.length > 0) {
      const seg = this.#segments[0] ?? 0;
      if (seg >= pos.segment || seg === this.#active) break;
      await this.#deleteSegment(seg);
      this.#segments.shift();
    }
  }

  #enqueue<T>(op: () => Promise<T>, evenIfClosed = false): Promise<T> {
    const p = this.#ops.then(() => {
      if (this.#closed && !evenIfClosed) throw new SyncPilotError('SP_ERR_CLOSED', `telemetry spool ${this.dir} is closed`);
      return op();
    });
    this.#ops = p.catch(() => undefined);
    return p;
  }

  /** The position just past the last appended record. */
  #end(): SpoolPosition {
    return this.#normalize(
      this.#active !== undefined
        ? { segment: this.#active, offset: this.#sizes.get(this.#active) ?? 0 }
        : { segment: this.#nextSeq, offset: 0 },
    );
  }

  /**
   * One canonical spelling per place: a position at (or past) the end of a sealed segment, or in
   * a segment that no longer exists, becomes the start of the next existing segment (or the end).
   */
  #normalize(pos: SpoolPosition): SpoolPosition {
    for (const seg of this.#segments) {
      if (seg < pos.segment) continue;
      if (seg > pos.segment) return { segment: seg, offset: 0 };
      const size = this.#sizes.get(seg) ?? 0;
      if (seg === this.#active) return { segment: seg, offset: Math.min(pos.offset, size) };
      if (pos.offset < size) return pos;
    }
    return this.#active !== undefined
      ? { segment: this.#active, offset: this.#sizes.get(this.#active) ?? 0 }
      : { segment: Math.max(this.#nextSeq, pos.segment), offset: 0 };
  }

  async #append(jsons: readonly string[]): Promise<SpoolAppendResult> {
    let droppedUnencodable = 0;
    const { bytes, ends } = this.#encoder.encodeJson(jsons, () => droppedUnencodable++);
    let first: SpoolPosition | undefined;
    let appended = 0;
    let droppedFull = 0;
    let droppedWriteFailed = 0;
    let error: SyncPilotError | undefined;
    let i = 0;
    let from = 0;
    while (i < ends.length) {
      const size = this.#active === undefined ? 0 : (this.#sizes.get(this.#active) ?? 0);
      const room = this.#segmentBytes - size;
      const budget = this.#maxBytes - this.#bytes;
      let j = i;
      while (j < ends.length) {
        const len = (ends[j] ?? 0) - from;
        if (len > budget) break;
        // An oversized record still gets a segment of its own.
        if (len > room && !(j === i && size === 0)) break;
        j++;
      }
      if (j === i) {
        if ((ends[i] ?? 0) - from > budget) {
          droppedFull = ends.length - i;
          break;
        }
        await this.#seal();
        continue;
      }
      const to = ends[j - 1] ?? from;
      try {
        if (this.#fh === undefined) await this.#startSegment();
        const seg = this.#active ?? 0;
        first ??= { segment: seg, offset: this.#sizes.get(seg) ?? 0 };
        await this.#write(bytes.subarray(from, to));
      } catch (err) {
        droppedWriteFailed = ends.length - i;
        error = new SyncPilotError('SP_ERR_TELEMETRY', `telemetry spool write failed: ${String(err)}`, { cause: err, retryable: true });
        await this.#undoPartialWrite();
        break;
      }
      appended += j - i;
      this.#nextSeq += j - i;
      i = j;
      from = to;
    }
    const end = this.#end();
    return { from: first ?? end, to: end, appended, droppedFull, droppedWriteFailed, droppedUnencodable, error };
  }

  async #startSegment(): Promise<void> {
    const seg = this.#nextSeq;
    // 'a': O_APPEND, so every write lands at the end even after a truncation.
    this.#fh = await open(join(this.dir, segmentFileName(seg)), 'a');
    this.#active = seg;
    this.#segments.push(seg);
    this.#sizes.set(seg, 0);
    this.#dirDirty = true;
  }

  async #write(buf: Buffer): Promise<void> {
    const fh = this.#fh;
    const seg = this.#active;
    if (fh === undefined || seg === undefined) throw new Error('no open segment');
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      off += bytesWritten;
    }
    this.#sizes.set(seg, (this.#sizes.get(seg) ?? 0) + buf.length);
    this.#bytes += buf.length;
    this.#dirty = true;
  }

  /** Cuts a half-written batch off so the segment stays readable; if even that fails, seals it where it is. */
  async #undoPartialWrite(): Promise<void> {
    const fh = this.#fh;
    if (fh === undefined || this.#active === undefined) return;
    try {
      await fh.truncate(this.#sizes.get(this.#active) ?? 0);
    } catch {
      this.#fh = undefined;
      this.#active = undefined;
      await fh.close().catch(() => undefined);
    }
  }

  /** Seals the open segment (fsync'd, so a later sync need not remember it). */
  async #seal(): Promise<void> {
    const fh = this.#fh;
    if (fh === undefined) return;
    this.#fh = undefined;
    this.#active = undefined;
    try {
      if (this.#dirty) await fh.sync();
      this.#dirty = false;
    } finally {
      await fh.close();
    }
  }

  async #deleteSegment(seg: number): Promise<void> {
    if (this.#reader?.segment === seg) await this.#closeReader();
    await unlink(join(this.dir, segmentFileName(seg))).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
    this.#bytes -= this.#sizes.get(seg) ?? 0;
    this.#sizes.delete(seg);
  }

  async #closeReader(): Promise<void> {
    const r = this.#reader;
    this.#reader = undefined;
    await r?.fh.close();
  }

  async #readOp(max: number): Promise<SpoolBatch> {
    const payloads: Buffer[] = [];
    let damaged = 0;
    while (payloads.length < max) {
      const pos = this.#normalize(this.#read);
      this.#read = pos;
      const size = this.#sizes.get(pos.segment);
      if (size === undefined || pos.offset >= size) break;
      const reader = await this.#readerAt(pos, size);
      const step = await reader.scanner.next();
      if (step.kind === 'record') {
        payloads.push(Buffer.from(step.payload));
        reader.offset = step.next;
        this.#read = { segment: pos.segment, offset: step.next };
        continue;
      }
      if (step.kind === 'end') break;
      damaged++;
      this.#logger.warn('telemetry spool: skipping the damaged rest of a segment', {
        segment: segmentFileName(pos.segment),
        offset: step.offset,
        reason: step.reason,
      });
      await this.#closeReader();
      this.#read = { segment: pos.segment, offset: size };
      // The open segment cannot be skipped past: later appends land after the damage.
      if (pos.segment === this.#active) await this.#seal();
    }
    return { payloads, next: this.#read, damaged };
  }

  /** A scanner positioned at `pos`, bounded by `size` (reused while it is already there). */
  async #readerAt(pos: SpoolPosition, size: number): Promise<Reader> {
    let r = this.#reader;
    if (r !== undefined && r.segment === pos.segment && r.offset === pos.offset && r.size === size) return r;
    if (r === undefined || r.segment !== pos.segment) {
      await this.#closeReader();
      const fh = await open(join(this.dir, segmentFileName(pos.segment)), 'r');
      r = { segment: pos.segment, fh, scanner: new SegmentScanner(fh, size, pos.offset), size, offset: pos.offset };
      this.#reader = r;
      return r;
    }
    r.scanner = new SegmentScanner(r.fh, size, pos.offset);
    r.size = size;
    r.offset = pos.offset;
    return r;
  }
}

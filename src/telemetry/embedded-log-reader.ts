import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { TelemetryEvent } from '../core/telemetry.ts';
import { listSegments, SegmentScanner, segmentFileName } from './log-format.ts';

/** A place in an embedded log: a segment (its first sequence number) and a byte offset in it. */
export interface LogPosition {
  readonly segment: number;
  readonly offset: number;
}

/** One event read from the log, with where its record starts and where the next one starts. */
export interface EmbeddedLogEntry {
  readonly event: TelemetryEvent;
  /** Start of this record: reading `from` it yields this event again. */
  readonly position: LogPosition;
  /** Just past this record: reading `from` it resumes after this event. */
  readonly next: LogPosition;
}

/** Something the reader skipped. */
export interface LogWarning {
  readonly kind: 'corrupt-segment' | 'invalid-record' | 'missing-segment';
  readonly position: LogPosition;
  readonly reason: string;
}

/** What a read found, besides the events. */
export interface EmbeddedLogReport {
  /** Events yielded. */
  readonly records: number;
  /** Skipped damage: the rest of a corrupt segment, a checksummed record that is not an event. */
  readonly warnings: readonly LogWarning[];
  /** A torn last record at the end of the last segment (expected after a crash; not a warning). */
  readonly tornTail: { readonly position: LogPosition; readonly bytes: number; readonly reason: string } | undefined;
}

/** Options of {@link readEmbeddedLog}. */
export interface ReadEmbeddedLogOptions {
  /** Where to start (inclusive); default the beginning of the oldest segment. */
  readonly from?: LogPosition;
}

/** Options of {@link tailEmbeddedLog}. */
export interface TailEmbeddedLogOptions extends ReadEmbeddedLogOptions {
  /** How often to look for new appends once caught up (default 100 ms). */
  readonly pollIntervalMs?: number;
  /** Ends the iteration (normally, without throwing) when aborted. */
  readonly signal?: AbortSignal;
}

// The log is input from disk: parsed at the edge. Loose so that fields added by later writers survive.
const eventSchema = z.looseObject({
  type: z.string(),
  id: z.string(),
  time: z.number(),
  tenant: z.string(),
  key: z.string(),
  data: z.record(z.string(), z.unknown()),
});

/**
 * Reads an embedded log once, oldest first, up to its end when iteration reaches it. A torn
 * tail of the last segment is skipped and noted in {@link EmbeddedLogReader.report}; damage in
 * the middle of a segment skips to the next segment with a warning. Never throws for damage;
 * throws only for I/O errors.
 */
export function readEmbeddedLog(dir: string, options: ReadEmbeddedLogOptions = {}): EmbeddedLogReader {
  return new EmbeddedLogReader(dir, options.from, false, 0, undefined);
}

/**
 * Like {@link readEmbeddedLog}, but at the end it waits for new appends (polling) and follows
 * segment rotation, until `signal` aborts or the consumer stops iterating. An incomplete record
 * at the end of the newest segment is waited on, not skipped: a writer may be mid-append.
 */
export function tailEmbeddedLog(dir: string, options: TailEmbeddedLogOptions = {}): EmbeddedLogReader {
  return new EmbeddedLogReader(dir, options.from, true, options.pollIntervalMs ?? 100, options.signal);
}

/**
 * An async iterable of {@link EmbeddedLogEntry}; each iteration starts afresh from `from`.
 * Made by {@link readEmbeddedLog} and {@link tailEmbeddedLog}; the constructor is not public API.
 */
export class EmbeddedLogReader implements AsyncIterable<EmbeddedLogEntry> {
  readonly #dir: string;
  readonly #from: LogPosition | undefined;
  readonly #follow: boolean;
  readonly #pollMs: number;
  readonly #signal: AbortSignal | undefined;
  #records = 0;
  #warnings: LogWarning[] = [];
  #tornTail: EmbeddedLogReport['tornTail'];

  constructor(dir: string, from: LogPosition | undefined, follow: boolean, pollMs: number, signal: AbortSignal | undefined) {
    this.#dir = dir;
    this.#from = from;
    this.#follow = follow;
    this.#pollMs = pollMs;
    this.#signal = signal;
  }

  /** What the latest iteration found so far. */
  report(): EmbeddedLogReport {
    return { records: this.#records, warnings: [...this.#warnings], tornTail: this.#tornTail };
  }

  /** Reads every event into an array (for tests and small logs; not for tailing). */
  async toArray(): Promise<TelemetryEvent[]> {
    const out: TelemetryEvent[] = [];
    for await (const e of this) out.push(e.event);
    return out;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EmbeddedLogEntry> {
    this.#records = 0;
    this.#warnings = [];
    this.#tornTail = undefined;
    let segment: number | undefined;
    let offset = 0;
    // Listed once and again only when reading reaches the newest known segment: a directory of
    // many segments must not be listed once per segment.
    let known: number[] = [];
    const after = async (seg: number): Promise<number | undefined> => {
      const hit = known.find((s) => s > seg);
      if (hit !== undefined) return hit;
      known = await listSegments(this.#dir);
      return known.find((s) => s > seg);
    };
    for (;;) {
      if (this.#signal?.aborted === true) return;
      if (segment === undefined) {
        known = await listSegments(this.#dir);
        // First segment to read: the one `from` names, or the next one that still exists.
        const want = this.#from?.segment ?? 0;
        segment = known.find((s) => s >= want);
        if (segment !== undefined && segment === this.#from?.segment) offset = this.#from.offset;
        else if (segment !== undefined && this.#from !== undefined) {
          this.#warnings.push({
            kind: 'missing-segment',
            position: this.#from,
            reason: 'start segment not found; starting at the next one',
          });
        }
        if (segment === undefined) {
          if (!this.#follow || !(await this.#wait())) return;
          continue;
        }
      }
      const isLast = (await after(segment)) === undefined;
      const ending = yield* this.#readSegment(segment, offset);
      offset = ending.offset;
      if (ending.kind === 'end' || ending.kind === 'torn') {
        if (isLast) {
          if (!this.#follow) {
            if (ending.kind === 'torn') {
              this.#tornTail = { position: { segment, offset: ending.offset }, bytes: ending.bytes, reason: ending.reason };
            }
            return;
          }
          if (!(await this.#wait())) return;
          continue;
        }
        // A newer segment existed before this read began, so this one was sealed and complete:
        // a torn end here is damage, not an append in progress.
        if (ending.kind === 'torn') {
          this.#warnings.push({ kind: 'corrupt-segment', position: { segment, offset: ending.offset }, reason: ending.reason });
        }
      } else {
        this.#warnings.push({ kind: 'corrupt-segment', position: { segment, offset: ending.offset }, reason: ending.reason });
        // Nothing after the damage can be trusted; a reopened writer appends to a new segment.
        if (isLast && (!this.#follow || !(await this.#waitForSegmentAfter(segment)))) return;
      }
      segment = await after(segment);
      offset = 0;
      if (segment === undefined) return; // the newer segment vanished (deleted under us)
    }
  }

  /** Yields the valid records of one segment from `offset`; returns how the scan ended. */
  async *#readSegment(
    segment: number,
    offset: number,
  ): AsyncGenerator<EmbeddedLogEntry, { kind: 'end' | 'torn' | 'corrupt'; offset: number; bytes: number; reason: string }> {
    let fh;
    try {
      fh = await open(join(this.#dir, segmentFileName(segment)), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'end', offset, bytes: 0, reason: 'segment deleted' };
      throw err;
    }
    try {
      const scanner = new SegmentScanner(fh, (await fh.stat()).size, offset);
      for (;;) {
        const step = await scanner.next();
        switch (step.kind) {
          case 'record': {
            const position = { segment, offset: step.offset };
            const event = parseEvent(step.payload);
            if (event === undefined) {
              this.#warnings.push({ kind: 'invalid-record', position, reason: 'checksum ok but not a telemetry event' });
              continue;
            }
            this.#records++;
            yield { event, position, next: { segment, offset: step.next } };
            continue;
          }
          case 'end':
            return { kind: 'end', offset: step.offset, bytes: 0, reason: '' };
          case 'torn':
            return { kind: 'torn', offset: step.offset, bytes: step.bytes, reason: step.reason };
          case 'corrupt':
            return { kind: 'corrupt', offset: step.offset, bytes: 0, reason: step.reason };
        }
      }
    } finally {
      await fh.close();
    }
  }

  /** Sleeps one poll interval; false if aborted. */
  async #wait(): Promise<boolean> {
    if (this.#signal?.aborted === true) return false;
    try {
      await sleep(this.#pollMs, undefined, this.#signal === undefined ? {} : { signal: this.#signal });
      return true;
    } catch {
      return false;
    }
  }

  async #waitForSegmentAfter(segment: number): Promise<boolean> {
    for (;;) {
      if ((await listSegments(this.#dir)).some((s) => s > segment)) return true;
      if (!(await this.#wait())) return false;
    }
  }
}

function parseEvent(payload: Buffer): TelemetryEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  const r = eventSchema.safeParse(value);
  return r.success ? r.data : undefined;
}

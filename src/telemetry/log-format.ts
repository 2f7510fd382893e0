import { readdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from './crc32.ts';

/*
 * The on-disk format of the embedded telemetry log, shared by the sink (which writes it and
 * recovers its tail on open) and the reader.
 *
 * A log is a directory of segments named by the zero-padded sequence number of their first
 * record (`00000000000000000001.log`). A segment is a run of records:
 *   [u32 LE payload length][u32 LE crc32 of payload][payload: UTF-8 JSON of one event]
 */

/** Bytes of a record header (length + crc). */
export const RECORD_HEADER_BYTES = 8;
/**
 * Largest payload a record may carry. Bounding it lets a scan tell a flipped length field
 * from a real record; the sink drops (and counts) larger events.
 */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;
/** The smallest valid payload is `{}`; a zero length is what zero-filled garbage looks like. */
const MIN_RECORD_PAYLOAD_BYTES = 2;

const SEGMENT_NAME = /^(\d{20})\.log$/;

/** The file name of the segment whose first record has sequence number `firstSeq`. */
export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(20, '0')}.log`;
}

/** The first sequence numbers of the segments in `dir`, ascending; [] if `dir` does not exist. */
export async function listSegments(dir: string): Promise<number[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: number[] = [];
  for (const e of entries) {
    const m = SEGMENT_NAME.exec(e.name);
    if (m?.[1] !== undefined && e.isFile()) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** One step of a {@link SegmentScanner}. */
export type ScanStep =
  /** A record whose checksum matched; `payload` is only valid until the next `next()`. */
  | { readonly kind: 'record'; readonly offset: number; readonly next: number; readonly payload: Buffer }
  /** The scan reached the end of the bytes it was given, on a record boundary. */
  | { readonly kind: 'end'; readonly offset: number }
  /**
   * What is left from `offset` looks like an interrupted append: a header or payload cut short
   * by the end of the file, a last record whose checksum fails, or zero fill.
   */
  | { readonly kind: 'torn'; readonly offset: number; readonly bytes: number; readonly reason: string }
  /** A damaged record with intact-looking data after it: the rest of the segment cannot be trusted. */
  | { readonly kind: 'corrupt'; readonly offset: number; readonly reason: string };

const CHUNK_BYTES = 1024 * 1024;

/**
 * Reads the records of one segment sequentially from `offset` up to `size` (the file size when
 * the scan started: a live writer may be appending, and bytes past `size` are not looked at).
 * Reads in 1 MiB chunks so a 16 MiB segment is never held whole.
 */
export class SegmentScanner {
  readonly #fh: FileHandle;
  readonly #size: number;
  #pos: number;
  #buf: Buffer = Buffer.alloc(0);
  #bufStart = 0;
  #last: ScanStep | undefined;

  constructor(fh: FileHandle, size: number, offset: number) {
    this.#fh = fh;
    this.#size = size;
    this.#pos = offset;
  }

  /** The next record, or how the scan ended (after which it keeps returning that ending). */
  async next(): Promise<ScanStep> {
    if (this.#last !== undefined) return this.#last;
    const at = this.#pos;
    if (at >= this.#size) return { kind: 'end', offset: at };
    if (!(await this.#ensure(at, RECORD_HEADER_BYTES))) {
      return this.#finish({ kind: 'torn', offset: at, bytes: this.#size - at, reason: 'header cut short' });
    }
    const h = at - this.#bufStart;
    const len = this.#buf.readUInt32LE(h);
    const sum = this.#buf.readUInt32LE(h + 4);
    if (len < MIN_RECORD_PAYLOAD_BYTES || len > MAX_RECORD_PAYLOAD_BYTES) {
      return this.#finish(await this.#classify(at, `implausible length ${len}`));
    }
    const end = at + RECORD_HEADER_BYTES + len;
    if (end > this.#size) {
      return this.#finish({ kind: 'torn', offset: at, bytes: this.#size - at, reason: 'payload cut short' });
    }
    if (!(await this.#ensure(at, RECORD_HEADER_BYTES + len))) {
      // The file shrank under us (a sink truncating a torn tail on open).
      return this.#finish({ kind: 'torn', offset: at, bytes: this.#size - at, reason: 'file shrank during scan' });
    }
    const p = at + RECORD_HEADER_BYTES - this.#bufStart;
    const payload = this.#buf.subarray(p, p + len);
    if (crc32(payload) !== sum) {
      if (end === this.#size) {
        return this.#finish({ kind: 'torn', offset: at, bytes: this.#size - at, reason: 'last record checksum mismatch' });
      }
      return this.#finish(await this.#classify(at, 'checksum mismatch'));
    }
    this.#pos = end;
    return { kind: 'record', offset: at, next: end, payload };
  }

  #finish(step: ScanStep): ScanStep {
    this.#last = step;
    return step;
  }

  /** A bad record followed only by zero bytes is a torn append (zero fill after a crash); otherwise corrupt. */
  async #classify(at: number, reason: string): Promise<ScanStep> {
    const zeroFrom = at + RECORD_HEADER_BYTES <= this.#size ? at + RECORD_HEADER_BYTES : at;
    for (let p = zeroFrom; p < this.#size;) {
      const n = Math.min(CHUNK_BYTES, this.#size - p);
      if (!(await this.#ensure(p, n))) break;
      const chunk = this.#buf.subarray(p - this.#bufStart, p - this.#bufStart + n);
      if (chunk.some((b) => b !== 0)) return { kind: 'corrupt', offset: at, reason };
      p += n;
    }
    return { kind: 'torn', offset: at, bytes: this.#size - at, reason: `${reason}, zero fill to end` };
  }

  /** Makes `[at, at+n)` available in the buffer; false if it extends past `size`. */
  async #ensure(at: number, n: number): Promise<boolean> {
    if (at + n > this.#size) return false;
    if (at >= this.#bufStart && at + n <= this.#bufStart + this.#buf.length) return true;
    const want = Math.min(Math.max(n, CHUNK_BYTES), this.#size - at);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.#fh.read(buf, got, want - got, at + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.#buf = buf.subarray(0, got);
    this.#bufStart = at;
    return got >= n;
  }
}

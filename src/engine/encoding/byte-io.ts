import { SyncPilotError } from '../../core/errors.ts';

/**
 * Byte-level reading and writing shared by every binary format of the engine (wire payloads, the
 * stored change format, CrdtDoc saves): unsigned LEB128 varints (canonical, at most 2^53 − 1),
 * little-endian float64, and UTF-8 strings prefixed by their byte length.
 * Reading fails with SP_ERR_FRAME_MALFORMED (truncated or garbage bytes) or SP_ERR_PAYLOAD_INVALID
 * (bytes that parse but break the layout); readers of persisted state report either as their own
 * corruption error. Writing a string that is not well-formed UTF-16 (a lone surrogate) fails with
 * SP_ERR_PAYLOAD_INVALID, since it could not survive the round trip.
 */

const TWO_POW_31 = 0x8000_0000;
/** 8 varint bytes carry 56 bits, enough for every safe integer; more is garbage. */
const MAX_VARINT_BYTES = 8;
/** Strings at most this long (in UTF-16 units) fit in 127 UTF-8 bytes: a one-byte length prefix. */
const SHORT_STRING_UNITS = 42;
/** Below this many bytes a JS loop beats a TextDecoder call for ASCII. */
const SHORT_DECODE_BYTES = 24;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The bytes could not be parsed (truncated, garbled). */
export function malformed(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_FRAME_MALFORMED', message);
}

/** The bytes parsed but the content breaks the layout or schema. */
export function invalid(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_PAYLOAD_INVALID', message);
}

/** Largest scratch buffer kept between calls; bigger ones are left to the GC. */
const MAX_KEPT_SCRATCH = 64 * 1024;
/**
 * Allocating a typed array over 64 bytes costs V8 an off-heap backing store (~0.5 µs, more than
 * encoding a keystroke), so writers share one scratch buffer and `finish` copies out the exact
 * bytes. A writer created while another holds the scratch (re-entrant use) gets its own buffer.
 */
let scratch: Uint8Array | undefined = new Uint8Array(1024);

/**
 * A growable byte buffer. Callers validate values first; the writer only encodes them. Call
 * `finish` (or `release` on failure) exactly once so the shared scratch buffer is returned.
 */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView | undefined;
  #pos: number;
  #shared: boolean;

  /** `reserve` leading zero bytes are left for a header the caller fills in later. */
  constructor(reserve = 0) {
    const shared = scratch;
    scratch = undefined;
    this.#shared = shared !== undefined;
    this.#buf = shared ?? new Uint8Array(256);
    this.#buf.fill(0, 0, reserve);
    this.#pos = reserve;
  }

  get length(): number {
    return this.#pos;
  }

  #ensure(extra: number): void {
    const need = this.#pos + extra;
    if (need <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(need, this.#buf.length * 2));
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = undefined;
  }

  u8(value: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = value;
  }

  bool(value: boolean): void {
    this.u8(value ? 1 : 0);
  }

  /** An unsigned LEB128 varint; `value` must be a safe non-negative integer. */
  varint(value: number): void {
    this.#ensure(MAX_VARINT_BYTES);
    const buf = this.#buf;
    let pos = this.#pos;
    let v = value;
    // Bit operations are 32-bit only; above 2^31 fall back to arithmetic.
    while (v >= TWO_POW_31) {
      buf[pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    while (v >= 0x80) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.#pos = pos;
  }

  f64(value: number): void {
    this.#ensure(8);
    this.#view ??= new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
    this.#view.setFloat64(this.#pos, value, true);
    this.#pos += 8;
  }

  bytes(value: Uint8Array): void {
    this.#ensure(value.length);
    this.#buf.set(value, this.#pos);
    this.#pos += value.length;
  }

  /** A varint byte length, then the UTF-8 bytes. */
  str(value: string): void {
    const units = value.length;
    if (units <= SHORT_STRING_UNITS) {
      // One length byte is enough: encode first, then fill the length in.
      this.#ensure(1 + units * 3);
      const lengthAt = this.#pos++;
      this.#utf8(value);
      this.#buf[lengthAt] = this.#pos - lengthAt - 1;
      return;
    }
    const byteLength = utf8Length(value);
    this.varint(byteLength);
    this.#ensure(byteLength);
    this.#utf8(value);
  }

  #utf8(value: string): void {
    const buf = this.#buf;
    let pos = this.#pos;
    const n = value.length;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x80) {
        buf[pos++] = c;
      } else if (c < 0x800) {
        buf[pos++] = 0xc0 | (c >> 6);
        buf[pos++] = 0x80 | (c & 0x3f);
      } else if (c < 0xd800 || c > 0xdfff) {
        buf[pos++] = 0xe0 | (c >> 12);
        buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
        buf[pos++] = 0x80 | (c & 0x3f);
      } else {
        const d = i + 1 < n ? value.charCodeAt(i + 1) : 0;
        if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) throw invalid('string contains a lone surrogate');
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        buf[pos++] = 0xf0 | (cp >> 18);
        buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
        buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
        buf[pos++] = 0x80 | (cp & 0x3f);
        i++;
      }
    }
    this.#pos = pos;
  }

  /** A copy of the written bytes; releases the buffer (the writer must not be used afterwards). */
  finish(): Uint8Array {
    const out = this.#buf.slice(0, this.#pos);
    this.release();
    return out;
  }

  /** Gives the shared scratch buffer back (idempotent); needed when encoding fails midway. */
  release(): void {
    if (!this.#shared) return;
    this.#shared = false;
    if (this.#buf.length <= MAX_KEPT_SCRATCH) scratch = this.#buf;
    else scratch = new Uint8Array(1024);
  }
}

/** UTF-8 byte length of a well-formed string; throws on a lone surrogate. */
function utf8Length(value: string): number {
  let bytes = 0;
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c < 0xd800 || c > 0xdfff) bytes += 3;
    else {
      const d = i + 1 < n ? value.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) throw invalid('string contains a lone surrogate');
      bytes += 4;
      i++;
    }
  }
  return bytes;
}

/** Reads the encoding of {@link ByteWriter}; every read is bounds-checked. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  #pos = 0;
  #view: DataView | undefined;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get remaining(): number {
    return this.#bytes.length - this.#pos;
  }

  u8(): number {
    const b = this.#bytes[this.#pos];
    if (b === undefined) throw malformed('payload is truncated');
    this.#pos++;
    return b;
  }

  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw invalid(`boolean byte is ${b}`);
    return b === 1;
  }

  varint(): number {
    const bytes = this.#bytes;
    const first = bytes[this.#pos];
    if (first === undefined) throw malformed('payload is truncated');
    this.#pos++;
    if (first < 0x80) return first;
    let value = first & 0x7f;
    let scale = 0x80;
    for (let i = 1; i < MAX_VARINT_BYTES; i++) {
      const b = bytes[this.#pos];
      if (b === undefined) throw malformed('payload is truncated inside a varint');
      this.#pos++;
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        // A zero last byte means the same value had a shorter encoding: not canonical.
        if (b === 0) throw malformed('varint is not minimally encoded');
        if (value > Number.MAX_SAFE_INTEGER) throw malformed('varint exceeds 2^53 - 1');
        return value;
      }
      scale *= 0x80;
    }
    throw malformed(`varint is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /**
   * A count of items that each take at least `minItemBytes` bytes; refusing counts the remaining
   * bytes cannot hold keeps a forged count from allocating a huge array.
   */
  count(minItemBytes = 1): number {
    const n = this.varint();
    if (n * minItemBytes > this.remaining) throw malformed(`count ${n} exceeds the remaining payload`);
    return n;
  }

  f64(): number {
    if (this.#pos + 8 > this.#bytes.length) throw malformed('payload is truncated inside a float');
    this.#view ??= new DataView(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.byteLength);
    const value = this.#view.getFloat64(this.#pos, true);
    this.#pos += 8;
    return value;
  }

  /** The next `n` bytes, as a view into the input (not a copy). */
  bytes(n: number): Uint8Array {
    if (n > this.remaining) throw malformed('payload is truncated inside a byte run');
    const out = this.#bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }

  str(): string {
    const length = this.varint();
    const start = this.#pos;
    const end = start + length;
    const bytes = this.#bytes;
    if (end > bytes.length) throw malformed('payload is truncated inside a string');
    this.#pos = end;
    if (length <= SHORT_DECODE_BYTES) {
      let out = '';
      let i = start;
      for (; i < end; i++) {
        const b = bytes[i] as number;
        if (b >= 0x80) break;
        out += String.fromCharCode(b);
      }
      if (i === end) return out;
    }
    try {
      return utf8Decoder.decode(bytes.subarray(start, end));
    } catch (err) {
      throw new SyncPilotError('SP_ERR_FRAME_MALFORMED', 'string is not valid UTF-8', { cause: err });
    }
  }

  /** Throws unless every byte was consumed: trailing data is not part of any message. */
  end(): void {
    if (this.#pos !== this.#bytes.length) throw invalid(`${this.remaining} unexpected trailing bytes`);
  }
}

import type { Scalar } from './types.ts';

/** Thrown by ByteReader on bytes that do not decode; callers turn it into SP_ERR_STORE_CORRUPT. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Scalar tags. Stable: saved states depend on them. */
const Tag = { Null: 0, False: 1, True: 2, UInt: 3, NegInt: 4, Float: 5, String: 6 } as const;

/** A growable byte buffer with LEB128 varints, float64s, UTF-8 strings and tagged scalars. */
export class ByteWriter {
  private buf = new Uint8Array(4096);
  private pos = 0;
  private dv = new DataView(this.buf.buffer);

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** An unsigned integer up to 2^53 - 1. */
  uint(v: number): void {
    this.ensure(8);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /** A signed safe integer, zigzag-encoded so that small magnitudes take one byte. */
  int(v: number): void {
    this.uint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  f64(v: number): void {
    this.ensure(8);
    this.dv.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Length-prefixed UTF-8 (the string must be well-formed). */
  string(s: string): void {
    const b = encoder.encode(s);
    this.uint(b.length);
    this.bytes(b);
  }

  /** A number exactly: integers as varints, -0 and fractions as float64. */
  number(v: number): void {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
      this.u8(v >= 0 ? Tag.UInt : Tag.NegInt);
      this.uint(Math.abs(v));
    } else {
      this.u8(Tag.Float);
      this.f64(v);
    }
  }

  scalar(v: Scalar): void {
    if (v === null) this.u8(Tag.Null);
    else if (typeof v === 'boolean') this.u8(v ? Tag.True : Tag.False);
    else if (typeof v === 'number') this.number(v);
    else {
      this.u8(Tag.String);
      this.string(v);
    }
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Reads what ByteWriter wrote; every read is bounds-checked and throws DecodeError. */
export class ByteReader {
  private pos = 0;
  private readonly dv: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new DecodeError('unexpected end of data');
    return this.buf[this.pos++] ?? 0;
  }

  uint(): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(v)) throw new DecodeError('integer out of range');
        return v;
      }
      scale *= 0x80;
    }
    throw new DecodeError('varint too long');
  }

  int(): number {
    const z = this.uint();
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  /** A count of items that each take at least `minBytes` bytes: bounded by what is left. */
  count(minBytes = 1): number {
    const n = this.uint();
    if (n * minBytes > this.remaining) throw new DecodeError('count exceeds the data');
    return n;
  }

  f64(): number {
    if (this.pos + 8 > this.buf.length) throw new DecodeError('unexpected end of data');
    const v = this.dv.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  bytes(n: number): Uint8Array {
    if (n > this.remaining) throw new DecodeError('unexpected end of data');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(): string {
    const n = this.uint();
    try {
      return decoder.decode(this.bytes(n));
    } catch (err) {
      if (err instanceof DecodeError) throw err;
      throw new DecodeError('invalid UTF-8');
    }
  }

  number(): number {
    const tag = this.u8();
    return this.numberOf(tag);
  }

  scalar(): Scalar {
    const tag = this.u8();
    switch (tag) {
      case Tag.Null:
        return null;
      case Tag.False:
        return false;
      case Tag.True:
        return true;
      case Tag.String:
        return this.string();
      default:
        return this.numberOf(tag);
    }
  }

  private numberOf(tag: number): number {
    if (tag === Tag.UInt) return this.uint();
    if (tag === Tag.NegInt) return -this.uint();
    if (tag === Tag.Float) {
      const v = this.f64();
      if (!Number.isFinite(v)) throw new DecodeError('non-finite number');
      return v;
    }
    throw new DecodeError(`unknown tag ${tag}`);
  }
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE), to detect damaged saved state. */
export function crc32(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = (crcTable[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

import { SyncPilotError } from '../../core/errors.ts';
import { WireType } from './protobuf-writer.ts';

/**
 * Reads the protobuf wire format (https://protobuf.dev/programming-guides/encoding/) with every
 * length and bound checked: model files come from disk and may be truncated or damaged, so any
 * byte sequence must end in a value or in `SP_ERR_MODEL_CORRUPT`, never in a RangeError.
 */

/** One field's tag: its number and how its value is encoded. */
export interface FieldTag {
  readonly field: number;
  readonly wire: WireType;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Builds (does not throw) the `SP_ERR_MODEL_CORRUPT` error, so call sites read `throw corrupt(...)`. */
export function corrupt(message: string, cause?: unknown): SyncPilotError {
  return new SyncPilotError('SP_ERR_MODEL_CORRUPT', `ONNX model does not decode: ${message}`, cause === undefined ? {} : { cause });
}

/**
 * A cursor over one protobuf message. Nested messages are read with a new reader over the
 * sub-array returned by {@link ProtobufReader.bytes}; no copy is made.
 */
export class ProtobufReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly buf: Uint8Array,
    /** What the message is, for error messages (`GraphProto`, `NodeProto "gemm0"` …). */
    private readonly what: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.pos;
  }

  get done(): boolean {
    return this.pos >= this.buf.byteLength;
  }

  /** @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` for field 0, a field number over 2^29−1 or wire type 6/7 */
  tag(): FieldTag {
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field < 1 || field > 0x1fffffff) throw corrupt(`${this.what}: invalid field number ${field}`);
    if (wire > WireType.FIXED32) throw corrupt(`${this.what}: invalid wire type ${wire} for field ${field}`);
    return { field, wire: wire as WireType };
  }

  /** Checks a known field's wire type. */
  expect(tag: FieldTag, wire: WireType): void {
    if (tag.wire !== wire) throw corrupt(`${this.what}: field ${tag.field} has wire type ${tag.wire}, expected ${wire}`);
  }

  /**
   * An unsigned varint up to 2^53 − 1 (enough for every count, size and id in a model).
   * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when truncated, longer than 10 bytes or above 2^53 − 1
   */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.byteLength) throw corrupt(`${this.what}: truncated varint`);
      const b = this.buf[this.pos++] ?? 0;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(result)) throw corrupt(`${this.what}: varint out of range`);
        return result;
      }
      scale *= 128;
    }
    throw corrupt(`${this.what}: varint longer than 10 bytes`);
  }

  /**
   * A proto `int64`: a varint read as two's complement over 64 bits, so `-1` (ten bytes) is -1.
   * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when truncated or outside the safe-integer range
   */
  int64(): number {
    const start = this.pos;
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.byteLength) throw corrupt(`${this.what}: truncated varint`);
      const b = this.buf[this.pos++] ?? 0;
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) {
        const signed = BigInt.asIntN(64, v);
        if (signed > BigInt(Number.MAX_SAFE_INTEGER) || signed < BigInt(Number.MIN_SAFE_INTEGER)) {
          throw corrupt(`${this.what}: int64 at byte ${start} outside the safe-integer range`);
        }
        return Number(signed);
      }
    }
    throw corrupt(`${this.what}: varint longer than 10 bytes`);
  }

  /** The value of a known `int64`/`int32`/enum field, after checking its wire type. */
  int64Field(tag: FieldTag): number {
    this.expect(tag, WireType.VARINT);
    return this.int64();
  }

  /** A proto `float` (fixed32, little-endian). */
  float(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** A length-delimited value, as a view into the buffer. */
  bytes(): Uint8Array {
    const len = this.varint();
    this.need(len);
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** A proto `string`. @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when not valid UTF-8 */
  string(): string {
    const bytes = this.bytes();
    try {
      return utf8.decode(bytes);
    } catch (err) {
      throw corrupt(`${this.what}: a string field is not valid UTF-8`, err);
    }
  }

  /** Skips a field this reader does not interpret (protobuf's rule for unknown fields). */
  skip(tag: FieldTag): void {
    switch (tag.wire) {
      case WireType.VARINT:
        this.varint64Skip();
        return;
      case WireType.FIXED64:
        this.need(8);
        this.pos += 8;
        return;
      case WireType.LEN:
        this.bytes();
        return;
      case WireType.FIXED32:
        this.need(4);
        this.pos += 4;
        return;
      case WireType.START_GROUP:
      case WireType.END_GROUP:
        // Groups are deprecated and onnx.proto declares none: their presence means damage.
        throw corrupt(`${this.what}: unexpected group (wire type ${tag.wire}) in field ${tag.field}`);
    }
  }

  private varint64Skip(): void {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.byteLength) throw corrupt(`${this.what}: truncated varint`);
      if ((this.buf[this.pos++] ?? 0) < 0x80) return;
    }
    throw corrupt(`${this.what}: varint longer than 10 bytes`);
  }

  private need(n: number): void {
    if (n > this.buf.byteLength - this.pos) {
      throw corrupt(`${this.what}: truncated (needs ${n} more bytes at offset ${this.pos}, has ${this.buf.byteLength - this.pos})`);
    }
  }
}

/**
 * The values of a packed repeated `float` field (4 little-endian bytes each).
 * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when the length is not a multiple of 4
 */
export function readPackedFloats(bytes: Uint8Array, what: string): Float32Array {
  if (bytes.byteLength % 4 !== 0) throw corrupt(`${what}: packed floats of ${bytes.byteLength} bytes (not a multiple of 4)`);
  const out = new Float32Array(bytes.byteLength / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** The values of a packed repeated `int64` field. */
export function readPackedInt64(bytes: Uint8Array, what: string): number[] {
  const r = new ProtobufReader(bytes, what);
  const out: number[] = [];
  while (!r.done) out.push(r.int64());
  return out;
}

/**
 * The protobuf wire format (https://protobuf.dev/programming-guides/encoding/), only as much as
 * ONNX needs: varints, fixed32 floats, length-delimited bytes/strings/messages and packed floats.
 * Written by us so that exporting a model needs no protobuf library or generated code; the field
 * numbers it is used with come from onnx.proto (see `onnx-fields.ts`).
 */

/** Wire types of the protobuf encoding (the low 3 bits of a tag). */
export const WireType = {
  VARINT: 0,
  FIXED64: 1,
  LEN: 2,
  START_GROUP: 3,
  END_GROUP: 4,
  FIXED32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

const TWO_POW_32 = 2 ** 32;
const utf8 = new TextEncoder();

/**
 * Appends protobuf fields to a growable buffer. Fields are written in call order; nested messages
 * are built by a callback on a child writer, then copied in with their length prefix.
 */
export class ProtobufWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  /** A varint field holding a non-negative safe integer (proto `int64`/`int32`/`enum` ≥ 0). */
  uint(field: number, value: number): this {
    this.tag(field, WireType.VARINT);
    this.varint(value);
    return this;
  }

  /**
   * A varint field holding any safe integer; negatives take ten bytes (two's complement over 64
   * bits), as proto `int64` requires — e.g. Softmax's `axis = -1`.
   */
  int(field: number, value: number): this {
    if (value >= 0) return this.uint(field, value);
    if (!Number.isSafeInteger(value)) throw new RangeError(`not a safe integer: ${value}`);
    this.tag(field, WireType.VARINT);
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
    return this;
  }

  /** A fixed32 field holding an IEEE 754 single, little-endian (proto `float`). */
  float(field: number, value: number): this {
    this.tag(field, WireType.FIXED32);
    this.ensure(4);
    this.view.setFloat32(this.pos, value, true);
    this.pos += 4;
    return this;
  }

  /** A length-delimited field holding raw bytes (proto `bytes`). */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WireType.LEN);
    this.varint(value.byteLength);
    this.ensure(value.byteLength);
    this.buf.set(value, this.pos);
    this.pos += value.byteLength;
    return this;
  }

  /** A length-delimited field holding UTF-8 text (proto `string`). */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A nested message, built by `build` on a fresh writer. */
  message(field: number, build: (w: ProtobufWriter) => void): this {
    const child = new ProtobufWriter();
    build(child);
    return this.bytes(field, child.finish());
  }

  /** A packed repeated `float` field: one length prefix, then 4 little-endian bytes per value. */
  packedFloats(field: number, values: ArrayLike<number>): this {
    return this.bytes(field, float32LittleEndian(values));
  }

  /** The bytes written so far (a copy sized to fit). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private tag(field: number, wire: WireType): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) throw new RangeError(`bad field number ${field}`);
    this.varint(field * 8 + wire);
  }

  private varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a non-negative safe integer: ${value}`);
    this.ensure(10);
    // Division rather than `>>>`: bitwise operators would truncate values above 2^32.
    let v = value;
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < need) size *= 2;
    if (size >= TWO_POW_32) throw new RangeError('protobuf message too large');
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/**
 * IEEE 754 singles, little-endian, whatever the host's byte order: the layout of ONNX's
 * `raw_data` and of packed `float` fields.
 */
export function float32LittleEndian(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] ?? 0, true);
  return out;
}

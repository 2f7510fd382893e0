import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SyncPilotError } from '../../src/core/errors.ts';
import { ProtobufReader, readPackedFloats, readPackedInt64 } from '../../src/ml/onnx/protobuf-reader.ts';
import { ProtobufWriter, WireType } from '../../src/ml/onnx/protobuf-writer.ts';

function expectCorrupt(fn: () => unknown): void {
  assert.throws(fn, (err) => err instanceof SyncPilotError && err.code === 'SP_ERR_MODEL_CORRUPT');
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('protobuf writer: wire bytes', () => {
  test('varints are little-endian base 128 with a continuation bit', () => {
    assert.equal(hex(new ProtobufWriter().uint(1, 8).finish()), '0808');
    assert.equal(hex(new ProtobufWriter().uint(1, 300).finish()), '08ac02');
    assert.equal(hex(new ProtobufWriter().uint(2, 2 ** 35).finish()), '10808080808001');
  });

  test('negative int64 takes ten bytes of two’s complement', () => {
    assert.equal(hex(new ProtobufWriter().int(3, -1).finish()), '18ffffffffffffffffff01');
  });

  test('length-delimited, fixed32 and nested messages', () => {
    assert.equal(hex(new ProtobufWriter().string(2, 'ab').finish()), '12026162');
    assert.equal(hex(new ProtobufWriter().float(2, 1).finish()), '150000803f');
    assert.equal(hex(new ProtobufWriter().message(7, (w) => w.uint(1, 1)).finish()), '3a020801');
    assert.equal(hex(new ProtobufWriter().packedFloats(4, [1, -2]).finish()), '22080000803f000000c0');
  });

  test('refuses values it cannot encode', () => {
    assert.throws(() => new ProtobufWriter().uint(1, -1), RangeError);
    assert.throws(() => new ProtobufWriter().uint(1, 2 ** 53), RangeError);
    assert.throws(() => new ProtobufWriter().uint(0, 1), RangeError);
  });
});

describe('protobuf reader', () => {
  test('reads what the writer wrote (property)', () => {
    type Field =
      | { kind: 'int'; field: number; value: number }
      | { kind: 'float'; field: number; value: number }
      | { kind: 'string'; field: number; value: string }
      | { kind: 'floats'; field: number; value: number[] };
    const field = fc.integer({ min: 1, max: 0x1fffffff });
    const arb = fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant('int' as const), field, value: fc.oneof(fc.maxSafeInteger(), fc.integer()) }),
        fc.record({ kind: fc.constant('float' as const), field, value: fc.float({ noNaN: true }) }),
        fc.record({ kind: fc.constant('string' as const), field, value: fc.string({ unit: 'grapheme' }) }),
        fc.record({ kind: fc.constant('floats' as const), field, value: fc.array(fc.float({ noNaN: true }), { maxLength: 20 }) }),
      ),
      { maxLength: 20 },
    );
    fc.assert(
      fc.property(arb, (fields: Field[]) => {
        const w = new ProtobufWriter();
        for (const f of fields) {
          if (f.kind === 'int') w.int(f.field, f.value);
          else if (f.kind === 'float') w.float(f.field, f.value);
          else if (f.kind === 'string') w.string(f.field, f.value);
          else w.packedFloats(f.field, f.value);
        }
        const r = new ProtobufReader(w.finish(), 'test');
        for (const f of fields) {
          const tag = r.tag();
          assert.equal(tag.field, f.field);
          if (f.kind === 'int') assert.equal(r.int64(), f.value);
          else if (f.kind === 'float') assert.ok(Object.is(r.float(), f.value));
          else if (f.kind === 'string') assert.equal(r.string(), f.value);
          else assert.deepEqual([...readPackedFloats(r.bytes(), 'f')], f.value);
        }
        assert.ok(r.done);
      }),
      { numRuns: 300 },
    );
  });

  test('skips unknown fields of every wire type', () => {
    const w = new ProtobufWriter()
      .uint(1, 2 ** 40)
      .float(2, 1.5)
      .string(3, 'skip me')
      .int(4, -5)
      .uint(9, 42);
    const bytes = [...w.finish()];
    // A fixed64 field (wire type 1) — ONNX writes none, but a reader must step over it.
    bytes.unshift(0x29, 1, 2, 3, 4, 5, 6, 7, 8);
    const r = new ProtobufReader(Uint8Array.from(bytes), 'test');
    for (let i = 0; i < 5; i++) r.skip(r.tag());
    const tag = r.tag();
    assert.deepEqual(tag, { field: 9, wire: WireType.VARINT });
    assert.equal(r.varint(), 42);
  });

  test('truncation anywhere is SP_ERR_MODEL_CORRUPT, never a RangeError', () => {
    const bytes = new ProtobufWriter().uint(1, 300).string(2, 'hello').float(3, 2).packedFloats(4, [1, 2, 3]).finish();
    for (let cut = 1; cut < bytes.length; cut++) {
      const r = new ProtobufReader(bytes.subarray(0, cut), 'test');
      const readAll = (): void => {
        for (;;) {
          const tag = r.tag();
          if (tag.field === 4) readPackedFloats(r.bytes(), 'x');
          else r.skip(tag);
          if (r.done) throw new Error(`cut ${cut} read cleanly`);
        }
      };
      // Cuts at field boundaries read cleanly (that is protobuf); everything else must be CORRUPT.
      const boundaries = new Set([3, 10, 15]);
      if (boundaries.has(cut)) assert.throws(readAll, /read cleanly/);
      else expectCorrupt(readAll);
    }
  });

  test('malformed input is SP_ERR_MODEL_CORRUPT', () => {
    const reader = (...b: number[]): ProtobufReader => new ProtobufReader(Uint8Array.from(b), 'test');
    expectCorrupt(() => reader(0x00).tag()); // field number 0
    expectCorrupt(() => reader(0x0e).tag()); // wire type 6
    expectCorrupt(() => reader(...Array<number>(11).fill(0xff)).varint()); // varint longer than 10 bytes
    expectCorrupt(() => reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f).varint()); // above 2^53
    expectCorrupt(() => reader(0x0b).skip(reader(0x0b).tag())); // a group
    expectCorrupt(() => reader(0x05, 0xff, 0xfe, 0xfd, 0xfc, 0xfb).string()); // invalid UTF-8
    expectCorrupt(() => readPackedFloats(Uint8Array.of(1, 2, 3), 'x'));
    expectCorrupt(() => {
      const r = reader(0x08, 0x01);
      r.expect(r.tag(), WireType.LEN);
    });
  });

  test('packed int64 handles negatives', () => {
    const w = new ProtobufWriter().int(1, -1).int(1, 7).finish();
    // Re-wrap the two varints (after their tags) as one packed payload.
    const packed = Uint8Array.from([...w.subarray(1, 11), ...w.subarray(12)]);
    assert.deepEqual(readPackedInt64(packed, 'dims'), [-1, 7]);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { binaryChangeCodec } from '../../src/engine/protocol/change-codec.ts';
import { decodeFrame, encodeFrame } from '../../src/engine/protocol/frame-codec.ts';
import type { CodecName } from '../../src/engine/protocol/messages.ts';
import { changeArb, messageArb, versionVectorArb } from './protocol-arbitraries.ts';

const OPTIONS = { maxFrameBytes: 1 << 20 };
const CODECS: readonly CodecName[] = ['raw', 'gzip', 'deflate', 'brotli'];

describe('protocol round trip (property)', () => {
  for (const codec of CODECS) {
    test(`decode(encode(m)) deep-equals m for every message type (${codec})`, () => {
      fc.assert(
        fc.property(messageArb, fc.integer({ min: 0, max: 255 }), (m, flags) => {
          const snapshot = structuredClone(m);
          const frame = decodeFrame(encodeFrame(m, { codec, flags }), OPTIONS);
          assert.deepStrictEqual(frame, { version: 1, codec, flags, message: m });
          assert.deepStrictEqual(m, snapshot, 'encoding must not mutate its input');
        }),
        { numRuns: codec === 'raw' ? 400 : 100 },
      );
    });
  }

  test('encoding is canonical: encode(decode(bytes)) reproduces the bytes', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bytes = encodeFrame(m);
        assert.deepStrictEqual(encodeFrame(decodeFrame(bytes, OPTIONS).message), bytes);
      }),
      { numRuns: 300 },
    );
  });

  test('binaryChangeCodec round-trips any valid change and is canonical', () => {
    fc.assert(
      fc.property(changeArb, (c) => {
        const bytes = binaryChangeCodec.encode(c);
        const back = binaryChangeCodec.decode(bytes);
        assert.deepStrictEqual(back, c);
        assert.deepStrictEqual(binaryChangeCodec.encode(back), bytes);
      }),
      { numRuns: 400 },
    );
  });

  test('version vectors round-trip inside SUBSCRIBE', () => {
    fc.assert(
      fc.property(versionVectorArb, (clock) => {
        const m = { type: 'SUBSCRIBE' as const, doc: 'd', clock };
        assert.deepStrictEqual(decodeFrame(encodeFrame(m), OPTIONS).message, m);
      }),
      { numRuns: 200 },
    );
  });
});

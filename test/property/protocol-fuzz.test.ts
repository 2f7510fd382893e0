import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SyncPilotError, type ErrorCode } from '../../src/core/errors.ts';
import { compressPayload } from '../../src/engine/protocol/compression.ts';
import { decodeFrame, encodeFrame, type FrameCodecOptions } from '../../src/engine/protocol/frame-codec.ts';
import { CodecId, FrameType, type CodecName } from '../../src/engine/protocol/messages.ts';
import { validateMessage } from '../../src/engine/protocol/validate.ts';
import { messageArb } from './protocol-arbitraries.ts';

/** The only codes hostile bytes may produce; anything else (SP_ERR_INTERNAL above all) is a bug. */
const EXPECTED: ReadonlySet<ErrorCode> = new Set([
  'SP_ERR_FRAME_TOO_LARGE',
  'SP_ERR_FRAME_MALFORMED',
  'SP_ERR_PROTOCOL_VERSION',
  'SP_ERR_CODEC_UNSUPPORTED',
  'SP_ERR_PAYLOAD_INVALID',
]);
const OPTIONS: FrameCodecOptions = { maxFrameBytes: 64 * 1024 };
const MAX_MS_PER_FRAME = 250;
const TYPE_IDS = Object.values(FrameType);
const CODECS = Object.keys(CodecId) as CodecName[];

const seen = new Map<string, number>();

/** Decodes hostile bytes: a SyncPilotError with an expected code, or a valid message. Never slow. */
function decodeHostile(bytes: Uint8Array, options: FrameCodecOptions = OPTIONS): void {
  const started = performance.now();
  let outcome: string;
  try {
    const frame = decodeFrame(bytes, options);
    // Whatever decodes must be a valid message that can be sent on.
    validateMessage(frame.message);
    encodeFrame(frame.message);
    outcome = 'ok';
  } catch (err) {
    if (!(err instanceof SyncPilotError)) assert.fail(`threw a non-SyncPilotError: ${String(err)}`);
    assert.ok(EXPECTED.has(err.code), `unexpected ${err.code}: ${err.message}`);
    outcome = err.code;
  }
  const ms = performance.now() - started;
  assert.ok(ms < MAX_MS_PER_FRAME, `decode took ${ms.toFixed(1)} ms`);
  seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
}

function frameOf(type: number, codec: CodecName, payload: Uint8Array, version = 1): Uint8Array {
  const body = codec === 'raw' ? payload : compressPayload(codec, payload, 1);
  const out = new Uint8Array(4 + body.length);
  out.set([version, type, CodecId[codec], 0]);
  out.set(body, 4);
  return out;
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'duplicate'; at: number; length: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 6, 31) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }),
);

function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(input);
  for (const m of mutations) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at] = (b[at] as number) ^ (1 << m.bit);
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
        break;
      case 'delete':
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.length)]);
        break;
      case 'duplicate':
        b = Uint8Array.from([...b.subarray(0, at + m.length), ...b.subarray(at)]);
        break;
    }
  }
  return b;
}

describe('decodeFrame fuzzing', { timeout: 120_000 }, () => {
  test('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => decodeHostile(bytes)),
      { numRuns: 2000 },
    );
  });

  test('a valid header in front of random payloads, raw and compressed', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPE_IDS), fc.constantFrom(...CODECS), fc.uint8Array({ maxLength: 200 }), (type, codec, payload) => {
        decodeHostile(frameOf(type, codec, payload));
      }),
      { numRuns: 3000 },
    );
  });

  test('mutated valid frames (bit flips, truncations, insertions, deletions, duplications)', () => {
    fc.assert(
      fc.property(messageArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.constantFrom(...CODECS), (m, mutations, codec) => {
        const raw = encodeFrame(m);
        // Mutate the frame itself, and the payload under a valid compression (else checksums catch most).
        decodeHostile(mutate(raw, mutations));
        decodeHostile(frameOf(raw[1] as number, codec, mutate(raw.subarray(4), mutations)));
      }),
      { numRuns: 2500 },
    );
  });

  test('huge and endless varints wherever a payload starts', () => {
    for (const type of TYPE_IDS) {
      for (let n = 1; n <= 24; n++) {
        decodeHostile(frameOf(type, 'raw', new Uint8Array(n).fill(0xff)));
        decodeHostile(frameOf(type, 'raw', Uint8Array.from([...new Uint8Array(n).fill(0xff), 0x01])));
        decodeHostile(frameOf(type, 'raw', Uint8Array.from([1, 1, 0x61, ...new Uint8Array(n).fill(0xff), 0x0f])));
      }
      // Counts claiming billions of items must not allocate them.
      decodeHostile(frameOf(type, 'raw', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0])));
    }
  });

  test('deeply nested HINT data', () => {
    for (const depth of [1, 63, 64, 65, 1000, 100_000, 1_000_000]) {
      for (const [open, close] of [
        ['[', ']'],
        ['{"a":', '}'],
      ] as const) {
        const json = open.repeat(depth) + (open === '[' ? '' : '1') + close.repeat(depth);
        const text = new TextEncoder().encode(json);
        const header = Uint8Array.from([1, 'k'.charCodeAt(0), 0]);
        const len: number[] = [];
        for (let v = text.length; ; v = Math.floor(v / 128)) {
          if (v < 128) {
            len.push(v);
            break;
          }
          len.push((v % 128) | 0x80);
        }
        decodeHostile(frameOf(FrameType.HINT, 'raw', Uint8Array.from([...header, ...len, ...text])), { maxFrameBytes: 16 << 20 });
      }
    }
  });

  test('the fuzzers reached the decoder: some frames decoded, every error kind occurred', () => {
    // Guards against a fuzzer that only ever trips the first check.
    if (process.env.FUZZ_STATS) console.log([...seen]);
    for (const outcome of [
      'ok',
      'SP_ERR_FRAME_MALFORMED',
      'SP_ERR_PAYLOAD_INVALID',
      'SP_ERR_PROTOCOL_VERSION',
      'SP_ERR_CODEC_UNSUPPORTED',
    ]) {
      assert.ok((seen.get(outcome) ?? 0) > 0, `no ${outcome} in ${JSON.stringify([...seen])}`);
    }
  });
});

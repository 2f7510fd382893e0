import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { once } from 'node:events';
import type { Transform } from 'node:stream';
import { createBrotliCompress, createDeflate, gzipSync } from 'node:zlib';
import { SyncPilotError, type ErrorCode } from '../../src/core/errors.ts';
import type { ActorId } from '../../src/core/ids.ts';
import type { Change } from '../../src/engine/crdt/types.ts';
import { decodeFrame, encodeFrame, maxDecodedBytesOf } from '../../src/engine/protocol/frame-codec.ts';
import { CodecId, FrameType, type ChangesMessage, type ProtocolMessage } from '../../src/engine/protocol/messages.ts';

const OPTIONS = { maxFrameBytes: 1 << 20 };

function expectCode(fn: () => unknown, code: ErrorCode): SyncPilotError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SyncPilotError, `expected a SyncPilotError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, nothing was thrown`);
}

function frame(version: number, type: number, codec: number, payload: readonly number[] | Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  out.set([version, type, codec, 0]);
  out.set(payload, 4);
  return out;
}

function keystroke(actor: string, other: string, doc: string, time = 1_763_000_000_000): ChangesMessage {
  const change: Change = {
    actor: actor as ActorId,
    seq: 57,
    startOp: 1234,
    deps: { [actor]: 56, [other]: 40 },
    time,
    ops: [{ action: 'ins', obj: `1@${actor}`, after: `1233@${actor}`, values: ['x'] }],
  };
  return { type: 'CHANGES', doc, changes: [change] };
}

const ping: ProtocolMessage = { type: 'PING', nonce: 7 };

describe('frame header', () => {
  test('bytes 0..3 are version, frame type, codec id and flags', () => {
    const bytes = encodeFrame({ type: 'UNSUBSCRIBE', doc: 'd' }, { codec: 'gzip', flags: 0xa5 });
    assert.deepEqual([...bytes.subarray(0, 4)], [1, FrameType.UNSUBSCRIBE, CodecId.gzip, 0xa5]);
    assert.deepEqual(decodeFrame(bytes, OPTIONS), { version: 1, codec: 'gzip', flags: 0xa5, message: { type: 'UNSUBSCRIBE', doc: 'd' } });
  });

  test('a raw payload is the bytes after the header', () => {
    assert.deepEqual([...encodeFrame({ type: 'UNSUBSCRIBE', doc: 'ab' })], [1, FrameType.UNSUBSCRIBE, 0, 0, 2, 0x61, 0x62]);
  });

  test('decodes a frame that is a view into a larger buffer (as ws delivers pooled Buffers)', () => {
    const bytes = encodeFrame({ type: 'PING', nonce: 0.5 });
    const pool = Buffer.alloc(bytes.length + 13, 0xee);
    pool.set(bytes, 13);
    assert.deepEqual(decodeFrame(pool.subarray(13), OPTIONS).message, { type: 'PING', nonce: 0.5 });
  });
});

describe('decodeFrame errors', () => {
  test('SP_ERR_FRAME_TOO_LARGE is checked before anything else', () => {
    const big = new Uint8Array(101).fill(0xff); // bad version, bad type, bad codec: size still wins
    expectCode(() => decodeFrame(big, { maxFrameBytes: 100 }), 'SP_ERR_FRAME_TOO_LARGE');
    const ok = encodeFrame({ type: 'UNSUBSCRIBE', doc: 'a'.repeat(90) });
    expectCode(() => decodeFrame(ok, { maxFrameBytes: ok.length - 1 }), 'SP_ERR_FRAME_TOO_LARGE');
    assert.equal(decodeFrame(ok, { maxFrameBytes: ok.length }).message.type, 'UNSUBSCRIBE');
  });

  test('SP_ERR_FRAME_MALFORMED for short, truncated or untyped frames', () => {
    expectCode(() => decodeFrame(new Uint8Array([1, 10, 0]), OPTIONS), 'SP_ERR_FRAME_MALFORMED');
    expectCode(() => decodeFrame(frame(1, 0, 0, []), OPTIONS), 'SP_ERR_FRAME_MALFORMED');
    expectCode(() => decodeFrame(frame(1, 200, 0, []), OPTIONS), 'SP_ERR_FRAME_MALFORMED');
    const whole = encodeFrame(keystroke('alice', 'bob', 'doc-1'));
    for (let n = 4; n < whole.length; n++) expectCode(() => decodeFrame(whole.subarray(0, n), OPTIONS), 'SP_ERR_FRAME_MALFORMED');
    expectCode(() => decodeFrame('not bytes' as unknown as Uint8Array, OPTIONS), 'SP_ERR_FRAME_MALFORMED');
    expectCode(() => decodeFrame(frame(1, FrameType.UNSUBSCRIBE, 0, [2, 0xff, 0xfe]), OPTIONS), 'SP_ERR_FRAME_MALFORMED'); // bad UTF-8
    expectCode(() => decodeFrame(frame(1, FrameType.ACK, 0, [1, 0x61, 1, 0x61, 0x80, 0x00]), OPTIONS), 'SP_ERR_FRAME_MALFORMED'); // overlong varint
    expectCode(
      () => decodeFrame(frame(1, FrameType.ACK, 0, [1, 0x61, 1, 0x61, ...Array<number>(12).fill(0xff)]), OPTIONS),
      'SP_ERR_FRAME_MALFORMED',
    );
    expectCode(() => decodeFrame(frame(1, FrameType.PING, CodecId.gzip, [1, 2, 3, 4]), OPTIONS), 'SP_ERR_FRAME_MALFORMED');
  });

  test('SP_ERR_PROTOCOL_VERSION for a version this build does not speak', () => {
    for (const v of [0, 2, 255]) expectCode(() => decodeFrame(encodeFrame(ping, { version: v }), OPTIONS), 'SP_ERR_PROTOCOL_VERSION');
  });

  test('SP_ERR_CODEC_UNSUPPORTED for unknown or not negotiated codecs', () => {
    expectCode(() => decodeFrame(frame(1, FrameType.PING, 9, [3, 7]), OPTIONS), 'SP_ERR_CODEC_UNSUPPORTED');
    const gz = encodeFrame(ping, { codec: 'gzip' });
    expectCode(() => decodeFrame(gz, { ...OPTIONS, codecs: ['raw', 'brotli'] }), 'SP_ERR_CODEC_UNSUPPORTED');
    assert.equal(decodeFrame(gz, { ...OPTIONS, codecs: ['gzip'] }).codec, 'gzip');
  });

  test('SP_ERR_PAYLOAD_INVALID for trailing bytes and unknown tags', () => {
    expectCode(() => decodeFrame(frame(1, FrameType.PING, 0, [3, 7, 0]), OPTIONS), 'SP_ERR_PAYLOAD_INVALID');
    expectCode(() => decodeFrame(frame(1, FrameType.PING, 0, [42, 7]), OPTIONS), 'SP_ERR_PAYLOAD_INVALID');
    expectCode(() => decodeFrame(frame(1, FrameType.UNSUBSCRIBE, 0, []), OPTIONS), 'SP_ERR_FRAME_MALFORMED');
  });

  test('SP_ERR_CONFIG_INVALID for unusable options, never a TypeError', () => {
    const bytes = encodeFrame(ping);
    expectCode(() => decodeFrame(bytes, { maxFrameBytes: 0 }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => decodeFrame(bytes, { maxFrameBytes: Number.NaN }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => decodeFrame(bytes, { maxFrameBytes: 100, maxDecodedBytes: 2 ** 40 }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => decodeFrame(bytes, undefined as unknown as { maxFrameBytes: number }), 'SP_ERR_CONFIG_INVALID');
  });

  test('maxDecodedBytes defaults to 4 × maxFrameBytes, bounded', () => {
    assert.equal(maxDecodedBytesOf({ maxFrameBytes: 1000 }), 4000);
    assert.equal(maxDecodedBytesOf({ maxFrameBytes: 200 << 20 }), 256 << 20);
    assert.equal(maxDecodedBytesOf({ maxFrameBytes: 300 << 20 }), 300 << 20);
    assert.equal(maxDecodedBytesOf({ maxFrameBytes: 1000, maxDecodedBytes: 10 }), 10);
  });

  test('a raw payload is also held to maxDecodedBytes', () => {
    const bytes = encodeFrame({ type: 'UNSUBSCRIBE', doc: 'a'.repeat(50) });
    expectCode(() => decodeFrame(bytes, { maxFrameBytes: 1000, maxDecodedBytes: 40 }), 'SP_ERR_FRAME_TOO_LARGE');
  });
});

async function streamBomb(stream: Transform, totalBytes: number): Promise<Uint8Array> {
  const chunk = Buffer.alloc(1 << 20);
  const out: Buffer[] = [];
  stream.on('data', (b: Buffer) => out.push(b));
  for (let written = 0; written < totalBytes; written += chunk.length) {
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
  stream.end();
  await once(stream, 'end');
  return Buffer.concat(out);
}

describe('decompression bombs', () => {
  const HUNDRED_MB = 100 << 20;
  // 100 gzip members of 1 MiB of zeros: one valid gzip stream of 100 MiB, built without allocating it.
  const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  const gzipBomb = Buffer.concat(Array<Buffer>(100).fill(member));

  const bombs: [name: 'gzip' | 'deflate' | 'brotli', make: () => Promise<Uint8Array>][] = [
    ['gzip', () => Promise.resolve(gzipBomb)],
    ['deflate', () => streamBomb(createDeflate({ level: 9 }), HUNDRED_MB)],
    ['brotli', () => streamBomb(createBrotliCompress(), HUNDRED_MB)],
  ];
  for (const [codec, make] of bombs) {
    test(`a ${codec} bomb of 100 MB of zeros is refused quickly without allocating it`, async () => {
      const payload = await make();
      assert.ok(payload.length < OPTIONS.maxFrameBytes, `bomb is ${payload.length} bytes`);
      const bytes = frame(1, FrameType.HINT, CodecId[codec], payload);
      const rssBefore = process.memoryUsage().rss;
      const started = performance.now();
      expectCode(() => decodeFrame(bytes, OPTIONS), 'SP_ERR_FRAME_TOO_LARGE');
      const ms = performance.now() - started;
      const grewMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
      assert.ok(ms < 1000, `took ${ms.toFixed(0)} ms`);
      assert.ok(grewMb < 40, `rss grew by ${grewMb.toFixed(0)} MB`);
    });
  }
});

describe('encodeFrame', () => {
  test('refuses what the wire cannot carry, with stable codes', () => {
    expectCode(() => encodeFrame({ type: 'PING', nonce: Number.NaN }), 'SP_ERR_PAYLOAD_INVALID');
    expectCode(() => encodeFrame({ type: 'NOPE' } as unknown as ProtocolMessage), 'SP_ERR_PAYLOAD_INVALID');
    expectCode(() => encodeFrame(null as unknown as ProtocolMessage), 'SP_ERR_PAYLOAD_INVALID');
    expectCode(() => encodeFrame(ping, { codec: 'zstd' as 'raw' }), 'SP_ERR_CODEC_UNSUPPORTED');
    expectCode(() => encodeFrame(ping, { flags: 256 }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => encodeFrame(ping, { version: -1 }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => encodeFrame(ping, { codec: 'brotli', level: 12 }), 'SP_ERR_CONFIG_INVALID');
    expectCode(() => encodeFrame({ type: 'UNSUBSCRIBE', doc: 'x' }, { codec: 'gzip', level: 10 }), 'SP_ERR_CONFIG_INVALID');
  });

  test('compression levels are honoured', () => {
    const m: ProtocolMessage = { type: 'HINT', kind: 'k', data: { text: 'abc '.repeat(2000) } };
    const fast = encodeFrame(m, { codec: 'brotli', level: 0 });
    const best = encodeFrame(m, { codec: 'brotli', level: 11 });
    assert.ok(best.length < fast.length, `${best.length} < ${fast.length}`);
    assert.deepEqual(decodeFrame(best, OPTIONS).message, m);
  });
});

describe('sizes', () => {
  test('a single-keystroke CHANGES frame (one char, deps on 2 actors) is about 40 bytes', () => {
    const short = encodeFrame(keystroke('a1', 'b2', 'd1'));
    const named = encodeFrame(keystroke('alice', 'bob', 'doc-1'));
    assert.ok(short.length <= 40, `short ids: ${short.length} bytes`);
    // The names themselves (alice, bob, doc-1) cost 13 bytes of that.
    assert.ok(named.length <= 44, `named ids: ${named.length} bytes`);
  });

  test('a repeated actor is written once: later uses cost one byte', () => {
    const actor = 'actor-with-a-long-name-0123456789';
    const changes: Change[] = Array.from({ length: 20 }, (_, i) => ({
      actor: actor as ActorId,
      seq: i + 1,
      startOp: i + 1,
      deps: i === 0 ? {} : { [actor]: i },
      time: 1_763_000_000_000 + i * 150,
      ops: [{ action: 'ins', obj: `1@${actor}`, after: i === 0 ? '_head' : `${i}@${actor}`, values: ['y'] }],
    }));
    const bytes = encodeFrame({ type: 'SYNC', doc: 'd', changes, complete: true, clock: { [actor]: 20 } });
    const text = Buffer.from(bytes).toString('latin1');
    assert.equal(text.split(actor).length - 1, 1, 'the actor id appears once');
    // Per change: actor, seq, startOp, flags, time delta (2), op count, action, obj (2), after (2), text (2).
    assert.ok(bytes.length < 4 + 36 + 4 + 20 * 15, `${bytes.length} bytes`);
  });
});

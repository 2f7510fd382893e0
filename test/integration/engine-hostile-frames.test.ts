import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { actorId } from '../../src/core/ids.ts';
import { decodeFrame, encodeFrame } from '../../src/engine/protocol/frame-codec.ts';
import type { ErrorMessage, ProtocolMessage } from '../../src/engine/protocol/messages.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const MAX_FRAME = 4096;

/** A raw WebSocket peer that records decoded server frames. */
async function rawPeer(
  url: string,
): Promise<{ ws: WebSocket; frames: ProtocolMessage[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(url);
  const frames: ProtocolMessage[] = [];
  ws.on('message', (d) => frames.push(decodeFrame(new Uint8Array(d as Buffer), { maxFrameBytes: 1 << 24 }).message));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, frames, closed };
}

async function until<T>(get: () => T | undefined, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const hello = encodeFrame({ type: 'HELLO', protocols: [1], actor: 'fuzzer', client: 'test', codecs: ['raw', 'gzip'], capabilities: [] });

describe('hostile and malformed frames', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ config: { maxFrameBytes: MAX_FRAME } });
  });
  after(async () => t.close());

  const errorsOf = (frames: ProtocolMessage[]): ErrorMessage[] => frames.filter((f): f is ErrorMessage => f.type === 'ERROR');

  test('garbage before HELLO: a coded error, then the connection closes', async () => {
    const p = await rawPeer(t.server.url);
    p.ws.send(new Uint8Array([1, 2, 3]));
    const closed = await p.closed;
    assert.equal(closed.code, 1008);
    assert.equal(errorsOf(p.frames)[0]?.fatal, true);
    assert.match(errorsOf(p.frames)[0]?.code ?? '', /^SP_ERR_(FRAME_MALFORMED|PAYLOAD_INVALID|PROTOCOL_STATE)$/);
  });

  test('an unknown protocol version gets SP_ERR_PROTOCOL_VERSION', async () => {
    const p = await rawPeer(t.server.url);
    p.ws.send(encodeFrame({ type: 'HELLO', protocols: [99], actor: 'x', client: 'test', codecs: ['raw'], capabilities: [] }));
    await p.closed;
    assert.equal(errorsOf(p.frames)[0]?.code, 'SP_ERR_PROTOCOL_VERSION');
    const q = await rawPeer(t.server.url);
    const bad = Uint8Array.from(hello);
    bad[0] = 77;
    q.ws.send(bad);
    await q.closed;
    assert.equal(errorsOf(q.frames)[0]?.code, 'SP_ERR_PROTOCOL_VERSION');
  });

  test('after HELLO: text frames, oversized and malformed frames each get their code and the connection stays usable', async () => {
    const p = await rawPeer(t.server.url);
    p.ws.send(hello);
    await until(() => p.frames.find((f) => f.type === 'WELCOME'));
    p.ws.send('not binary');
    p.ws.send(new Uint8Array(MAX_FRAME + 100));
    p.ws.send(new Uint8Array([1, 5, 0, 0, 0xff, 0xff, 0xff]));
    p.ws.send(new Uint8Array([1, 200, 0, 0]));
    p.ws.send(new Uint8Array([1, 5, 9, 0, 1]));
    await until(() => (errorsOf(p.frames).length >= 5 ? true : undefined));
    assert.deepEqual(
      errorsOf(p.frames).map((e) => e.code),
      ['SP_ERR_FRAME_MALFORMED', 'SP_ERR_FRAME_TOO_LARGE', 'SP_ERR_FRAME_MALFORMED', 'SP_ERR_FRAME_MALFORMED', 'SP_ERR_CODEC_UNSUPPORTED'],
    );
    assert.ok(errorsOf(p.frames).every((e) => !e.fatal));
    // Still usable: a PING gets a PONG.
    p.ws.send(encodeFrame({ type: 'PING', nonce: 7 }));
    const pong = await until(() => p.frames.find((f) => f.type === 'PONG'));
    assert.deepEqual(pong, { type: 'PONG', nonce: 7 });
    p.ws.close();
  });

  test('a frame far over the limit is cut off by the transport (close 1009) without buffering it', async () => {
    const p = await rawPeer(t.server.url);
    p.ws.send(hello);
    await until(() => p.frames.find((f) => f.type === 'WELCOME'));
    p.ws.send(new Uint8Array(MAX_FRAME * 3));
    const closed = await p.closed;
    assert.equal(closed.code, 1009);
  });

  test('changes to an unsubscribed document, or by another actor, are refused with codes', async () => {
    const p = await rawPeer(t.server.url);
    p.ws.send(hello);
    await until(() => p.frames.find((f) => f.type === 'WELCOME'));
    const change = {
      actor: actorId('someone-else'),
      seq: 1,
      startOp: 1,
      deps: {},
      time: 0,
      ops: [{ action: 'set' as const, obj: 'root', key: 'k', value: 1, pred: [] }],
    };
    p.ws.send(encodeFrame({ type: 'CHANGES', doc: 'd1', changes: [change] }));
    p.ws.send(encodeFrame({ type: 'SUBSCRIBE', doc: 'd1', clock: {} }));
    p.ws.send(encodeFrame({ type: 'CHANGES', doc: 'd1', changes: [change] }));
    await until(() => (errorsOf(p.frames).length >= 2 ? true : undefined));
    assert.deepEqual(
      errorsOf(p.frames).map((e) => e.code),
      ['SP_ERR_PROTOCOL_STATE', 'SP_ERR_FORBIDDEN'],
    );
    // Structurally invalid for the document: set into an object that does not exist.
    const bad = { ...change, actor: actorId('fuzzer'), ops: [{ action: 'set' as const, obj: '5@nobody', key: 'k', value: 1, pred: [] }] };
    p.ws.send(encodeFrame({ type: 'CHANGES', doc: 'd1', changes: [bad] }));
    await until(() => (errorsOf(p.frames).length >= 3 ? true : undefined));
    assert.equal(errorsOf(p.frames)[2]?.code, 'SP_ERR_CHANGE_INVALID');
    assert.deepEqual(errorsOf(p.frames)[2]?.rejected, [{ actor: 'fuzzer', seq: 1 }]);
    p.ws.close();
  });

  test(
    'thousands of random and mutated frames: only coded errors, the server stays up and serves others',
    { timeout: 60_000 },
    async () => {
      const p = await rawPeer(t.server.url);
      p.ws.send(hello);
      await until(() => p.frames.find((f) => f.type === 'WELCOME'));
      const valid = [
        encodeFrame({ type: 'SUBSCRIBE', doc: 'fz', clock: { a: 3 } }),
        encodeFrame({
          type: 'CHANGES',
          doc: 'fz',
          changes: [
            {
              actor: actorId('fuzzer'),
              seq: 1,
              startOp: 1,
              deps: {},
              time: 1,
              ops: [{ action: 'ins', obj: 'root', after: '_head', values: ['x'] }],
            },
          ],
        }),
        encodeFrame({ type: 'PING', nonce: 1 }),
      ];
      const frames = fc.sample(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc
            .tuple(fc.constantFrom(...valid), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }))
            .map(([v, flips]) => {
              const b = Uint8Array.from(v);
              for (const [i, x] of flips) b[i % b.length] = x;
              return b;
            }),
          fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([v, n]) => v.slice(0, n % v.length)),
        ),
        { numRuns: 3000, seed: 20261125 },
      );
      for (const f of frames) p.ws.send(f);
      p.ws.send(encodeFrame({ type: 'PING', nonce: 424242 }));
      await until(() => p.frames.find((f) => f.type === 'PONG' && f.nonce === 424242), 30_000);
      const codes = new Set(errorsOf(p.frames).map((e) => e.code));
      for (const c of codes) assert.match(c, /^SP_ERR_[A-Z_]+$/);
      assert.ok(!codes.has('SP_ERR_INTERNAL'), `no internal errors, got ${[...codes].join(', ')}`);
      // Another client is served normally.
      const c = t.client();
      await c.connect();
      const d = c.open('after-fuzz');
      await d.whenSynced();
      d.change((tx) => tx.set('root', 'ok', true));
      await d.whenAcked();
      p.ws.close();
    },
  );
});

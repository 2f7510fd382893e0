import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { docId } from '../../src/core/ids.ts';
import type { Stage, StageResult } from '../../src/core/stage.ts';
import { decodeFrame, encodeFrame } from '../../src/engine/protocol/frame-codec.ts';
import type { ProtocolMessage } from '../../src/engine/protocol/messages.ts';
import type { EngineEnvelope } from '../../src/engine/server/envelope.ts';
import { startTestServer, waitFor } from '../helpers/test-server.ts';

describe('backpressure and the outbound pipeline', () => {
  test(
    'a peer that stops reading is not buffered without bound, and gets every change once it reads again',
    { timeout: 120_000 },
    async () => {
      const t = await startTestServer({ config: { highWaterBytes: 64 * 1024 } });
      try {
        // A raw peer that subscribes and then stops reading its socket.
        const slow = new WebSocket(t.server.url);
        const frames: ProtocolMessage[] = [];
        slow.on('message', (d) => frames.push(decodeFrame(new Uint8Array(d as Buffer), { maxFrameBytes: 1 << 26 }).message));
        await new Promise((r) => slow.once('open', r));
        slow.send(encodeFrame({ type: 'HELLO', protocols: [1], actor: 'slow', client: 't', codecs: ['raw'], capabilities: [] }));
        slow.send(encodeFrame({ type: 'SUBSCRIBE', doc: 'bp', clock: {} }));
        await waitFor(() => frames.some((f) => f.type === 'SYNC' && f.complete), 5000, 'initial sync');
        slow.pause();

        const writer = t.client();
        await writer.connect();
        const d = writer.open('bp');
        await d.whenSynced();
        const chunk = 'x'.repeat(2000);
        const total = 6000; // ~12 MB of text: far more than socket buffers plus the high-water mark
        let maxBuffered = 0;
        for (let i = 0; i < total; i++) {
          d.change((tx) => tx.set('root', `k${i % 500}`, `${i}:${chunk}`));
          if (i % 200 === 0) {
            await d.whenAcked();
            maxBuffered = Math.max(maxBuffered, t.server.stats().maxPeerBufferedBytes);
          }
        }
        await d.whenAcked();
        maxBuffered = Math.max(maxBuffered, t.server.stats().maxPeerBufferedBytes);
        // The server stopped queueing for the slow peer near the high-water mark (plus at most one frame per doc).
        assert.ok(maxBuffered < 64 * 1024 + 256 * 1024, `server buffered ${maxBuffered} bytes for a peer that does not read`);
        assert.ok(t.server.stats().lagEvents >= 1, 'the slow peer was marked lagging');

        slow.resume();
        const serverClock = t.server.room(docId('bp')).clock();
        await waitFor(
          () => {
            const seen = new Map<string, number>();
            for (const f of frames)
              if (f.type === 'CHANGES' || f.type === 'SYNC')
                for (const c of f.changes) seen.set(c.actor, Math.max(seen.get(c.actor) ?? 0, c.seq));
            return Object.entries(serverClock).every(([a, s]) => (seen.get(a) ?? 0) >= s);
          },
          60_000,
          'the slow peer to catch up',
        );
        // Nothing twice: each (actor, seq) arrived once.
        const keys = frames.flatMap((f) => (f.type === 'CHANGES' || f.type === 'SYNC' ? f.changes.map((c) => `${c.actor}/${c.seq}`) : []));
        assert.equal(new Set(keys).size, keys.length);
        slow.close();
      } finally {
        await t.close();
      }
    },
  );

  test('outbound stages run per receiving peer, in order even when async, and can withhold a delivery', async () => {
    const delivered: string[] = [];
    const outbound: Stage<EngineEnvelope> = {
      name: 'outbound-gate',
      order: 500,
      kind: 'protecting',
      phases: ['outbound'],
      mode: 'async',
      budgetMs: 1000,
      process: async (m): Promise<StageResult<EngineEnvelope>> => {
        // Random delays must not reorder deliveries to one peer.
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        if (m.kind === 'changes' && m.payload.some((c) => c.ops.some((o) => o.action === 'set' && o.key === 'secret'))) {
          return { type: 'reject', code: 'SP_ERR_FORBIDDEN', reason: 'withheld' };
        }
        delivered.push(`${m.peer}:${m.kind}`);
        return { type: 'continue', replies: m.kind === 'sync' ? [{ kind: 'welcome-hint', data: { n: 1 } }] : [] };
      },
    };
    const t = await startTestServer({ stages: [outbound] });
    try {
      const a = t.client();
      const b = t.client();
      const hints: string[] = [];
      const errors: string[] = [];
      b.on('hint', (kind) => hints.push(kind));
      b.on('error', (e) => errors.push(e.code));
      await Promise.all([a.connect(), b.connect()]);
      const da = a.open('ob');
      const db = b.open('ob');
      await Promise.all([da.whenSynced(), db.whenSynced()]);
      assert.ok(hints.includes('welcome-hint'), 'a reply from an outbound stage reached the peer as a HINT');
      const list = da.change((tx) => void tx.makeList('root', 'l'));
      assert.ok(list);
      const ref = da.crdt.get('root', 'l');
      assert.ok(ref?.kind === 'object');
      for (let i = 0; i < 100; i++) da.change((tx) => tx.insert(ref.id, i, i));
      await da.whenAcked();
      await waitFor(() => db.crdt.get('root', 'l')?.kind === 'object' && db.crdt.length(ref.id) === 100, 5000, 'ordered delivery');
      assert.deepEqual(
        db.crdt.list(ref.id),
        Array.from({ length: 100 }, (_, i) => i),
      );
      da.change((tx) => tx.set('root', 'secret', 'x'));
      await da.whenAcked();
      await waitFor(() => errors.includes('SP_ERR_FORBIDDEN'), 5000, 'withheld delivery error');
      assert.equal(db.crdt.get('root', 'secret'), undefined);
      assert.ok(delivered.length > 0);
    } finally {
      await t.close();
    }
  });
});

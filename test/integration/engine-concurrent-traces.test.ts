import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { docId } from '../../src/core/ids.ts';
import { replayWorkload } from '../../src/cli/demo/replay-driver.ts';
import { convertTrace, defaultTracesDir, loadTrace, syntheticWorkload } from '../../src/workload/index.ts';
import { NodeWebSocket, startTestServer } from '../helpers/test-server.ts';

const dir = defaultTracesDir();

describe('concurrent editing traces over real WebSockets', () => {
  for (const name of ['friendsforever.json.gz', 'clownschool.json.gz']) {
    const path = join(dir, name);
    const skip = existsSync(path) ? false : `trace ${path} is absent (set SYNCPILOT_DATA_DIR to the shared data folder)`;
    test(`${name}: every client (writers and readers, several documents) converges to endContent`, { skip, timeout: 180_000 }, async () => {
      const workload = convertTrace(await loadTrace(path));
      const t = await startTestServer();
      try {
        const clients = workload.agents.length * 2 + 1;
        const r = await replayWorkload({ server: t.server, WebSocket: NodeWebSocket, workload, clients, window: 32 });
        assert.deepEqual(r.problems, []);
        assert.equal(r.complete, true);
        assert.equal(r.docs, 2);
        assert.equal(r.readers, 1);
        assert.equal(r.ops, workload.order.length * 2);
        assert.equal(r.converged, true);
        assert.equal(r.matchesEndContent, true);
        assert.ok(r.latencyMs.samples >= r.ops, 'latency was measured for every delivery');
      } finally {
        await t.close();
      }
    });
  }

  test('synthetic workload with map conflicts and counters converges, nothing lost', { timeout: 60_000 }, async () => {
    const workload = syntheticWorkload({ agents: 3, changesPerAgent: 300, seed: 7 });
    const t = await startTestServer();
    try {
      const r = await replayWorkload({ server: t.server, WebSocket: NodeWebSocket, workload, clients: 4, window: 8 });
      assert.deepEqual(r.problems, []);
      assert.equal(r.converged, true);
      const doc = t.server.room(docId('demo-0')).doc;
      const ref = doc.get('root', 'counter');
      assert.ok(ref?.kind === 'object');
      assert.equal(doc.counter(ref.id), workload.counterTotal);
    } finally {
      await t.close();
    }
  });
});

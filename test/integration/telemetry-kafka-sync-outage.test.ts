import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LatencyRecorder } from '../../src/cli/demo/latency-recorder.ts';
import { startEmbeddedStack } from '../../src/cli/embedded-stack.ts';
import { parseServerConfig } from '../../src/core/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { SyncClient } from '../../src/engine/client/sync-client.ts';
import type { ClientDoc } from '../../src/engine/client/client-doc.ts';
import { EVENT_SCHEMAS } from '../../src/telemetry/events/index.ts';
import { consumeTopics } from '../fixtures/telemetry-kafka-read.ts';
import { servicesSkip, startPrivateKafka } from '../helpers/services.ts';
import { NodeWebSocket } from '../helpers/test-server.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(
  'Kafka down in the middle of sync traffic: sync keeps its latency, and every telemetry event arrives once deduplicated',
  { skip: servicesSkip, timeout: 240_000 },
  async () => {
    const kafka = await startPrivateKafka();
    const dir = mkdtempSync(join(tmpdir(), 'syncpilot-outage-'));
    const stack = await startEmbeddedStack(parseServerConfig({ dataDir: dir, port: 0, logLevel: 'error' }), silentLogger, [], {
      kafkaBrokers: kafka.brokers,
    });
    const clients: SyncClient[] = [];
    try {
      // Two documents, two writers each: every edit is timed from its writer to the other writer.
      const pairs: [ClientDoc, ClientDoc][] = [];
      for (let d = 0; d < 2; d++) {
        const a = new SyncClient({ url: stack.server.url, WebSocket: NodeWebSocket });
        const b = new SyncClient({ url: stack.server.url, WebSocket: NodeWebSocket });
        clients.push(a, b);
        await Promise.all([a.connect(), b.connect()]);
        pairs.push([a.open(`outage-${d}`), b.open(`outage-${d}`)]);
      }
      await Promise.all(pairs.flat().map((doc) => doc.whenSynced()));
      let phase: LatencyRecorder = new LatencyRecorder();
      const sentAt = new Map<string, number>();
      for (const [x, y] of pairs) {
        for (const [from, to] of [
          [x, y],
          [y, x],
        ] as const) {
          to.on('change', (changes, origin) => {
            if (origin !== 'remote') return;
            for (const c of changes) {
              const t = sentAt.get(`${from.id}|${c.actor}|${c.seq}`);
              if (t !== undefined) phase.record(performance.now() - t);
            }
          });
        }
      }
      let typing = true;
      let n = 0;
      const typist = (async () => {
        while (typing) {
          for (const [x, y] of pairs)
            for (const doc of [x, y]) {
              const change = doc.change((tx) => tx.set('root', `k${n % 50}`, n));
              if (change !== undefined) sentAt.set(`${doc.id}|${change.actor}|${change.seq}`, performance.now());
              n++;
            }
          await sleep(5);
        }
      })();

      await sleep(3000);
      const before = phase;
      phase = new LatencyRecorder();
      await kafka.stop();
      await sleep(4000);
      const during = phase;
      phase = new LatencyRecorder();
      await kafka.start();
      await sleep(3000);
      const after = phase;
      typing = false;
      await typist;
      await Promise.all(pairs.flat().map((doc) => doc.whenAcked()));

      const b = before.summary();
      const d = during.summary();
      const a = after.summary();
      assert.ok(b.count > 500 && d.count > 500, `enough sync traffic in each phase (${b.count}, ${d.count}, ${a.count})`);
      // The sync path never waits for Kafka: latency while the broker is down stays in the same range.
      assert.ok(d.p50 < b.p50 * 2 + 2, `p50 before ${b.p50.toFixed(2)} ms, during the outage ${d.p50.toFixed(2)} ms`);
      assert.ok(d.p99 < Math.max(b.p99 * 3, b.p99 + 25), `p99 before ${b.p99.toFixed(2)} ms, during the outage ${d.p99.toFixed(2)} ms`);

      for (const c of clients) await c.close();
      clients.length = 0;
      const sink = stack.telemetry;
      await stack.close();
      const stats = sink.stats();
      assert.equal(stats.dropped, 0);
      const consumed = await consumeTopics(kafka.brokers, Object.keys(EVENT_SCHEMAS), 120_000);
      const ids = new Set(consumed.map((m) => m.event.id));
      assert.equal(ids.size, stats.emitted, `unique events on Kafka (${ids.size}) equal events emitted (${stats.emitted})`);
      process.stderr.write(
        `# sync latency p50/p99 ms: before ${b.p50.toFixed(2)}/${b.p99.toFixed(2)}, Kafka down ${d.p50.toFixed(2)}/${d.p99.toFixed(2)}, after ${a.p50.toFixed(2)}/${a.p99.toFixed(2)}; events ${stats.emitted}, on Kafka ${consumed.length} (${consumed.length - ids.size} duplicates)\n`,
      );
    } finally {
      for (const c of clients) await c.close();
      await stack.close().catch(() => undefined);
      await kafka.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

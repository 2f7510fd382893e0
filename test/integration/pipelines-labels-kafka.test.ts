// The train job's labels read back from Kafka (the default labels dependency with kafkaBrokers):
// a throw-away consumer group from the earliest offsets, under a topic prefix of this test only.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { KafkaSink } from '../../src/telemetry/kafka/kafka-sink.ts';
import { loadKafkaJs } from '../../src/telemetry/kafka/load-kafkajs.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import { defaultLabels } from '../../pipelines/default-deps.ts';
import { collectLabels } from '../../pipelines/jobs/collect-labels.ts';
import { DEFAULT_LABELS } from '../../pipelines/jobs/label-events.ts';
import { WatermarkCounter } from '../../pipelines/triggers/telemetry-trigger.ts';
import { chunksOf, labelEvent } from '../fixtures/compression-labels.ts';
import { kafkaForTests, tempSpoolDir, uniquePrefix } from '../fixtures/telemetry-kafka-env.ts';

const kafka = await kafkaForTests();

test('labels up to the watermark are read back from the Kafka topics', { skip: kafka.skip, timeout: 120_000 }, async () => {
  const prefix = `${uniquePrefix('labels')}.`;
  const spoolDir = await tempSpoolDir();
  const dataDir = await mkdtemp(join(tmpdir(), 'sp-pipelines-labels-kafka-'));
  const sink = await KafkaSink.open({ brokers: kafka.brokers, spoolDir, topicFor: (t) => prefix + t, lingerMs: 1, logger: silentLogger });
  try {
    const text = new TextEncoder().encode('Offline edits are resent when the connection returns. '.repeat(50));
    // One key: one partition, so "through the watermark" is the order they were written in.
    const good = chunksOf(text, 400, 6).map((c) => labelEvent(c, { peer: 'p1' }));
    const bad = labelEvent(text.subarray(0, 100), { peer: 'p1', data: { features: [1, 2] } });
    const events: SyncPilotEvent[] = [...good.slice(0, 3), bad, ...good.slice(3, 5)];
    for (const e of [...events, good[5]!]) sink.emit(e);
    await sink.flush();
    const deadline = Date.now() + 30_000;
    while (sink.stats().written < sink.stats().emitted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(sink.stats().written, sink.stats().emitted, 'the broker acknowledged every event');

    const counter = new WatermarkCounter();
    for (const e of events) counter.add(e.id);
    const labels = defaultLabels({ dataDir, kafkaBrokers: kafka.brokers, kafkaTopicPrefix: prefix, logger: silentLogger });
    const mapper = await labels.mapperFor('compression');
    assert.ok(mapper !== undefined);
    const source = labels.openSource();
    const file = join(dataDir, 'rows.jsonl');
    try {
      const r = await collectLabels(source, {
        isLabel: DEFAULT_LABELS.compression.isLabel,
        mapper,
        watermark: counter.value!,
        file,
        ...(labels.idleMs === undefined ? {} : { idleMs: labels.idleMs }),
      });
      assert.deepEqual([r.labels, r.rows, r.skipped], [6, 5, { featureCount: 1 }]);
    } finally {
      await source.close();
    }
    assert.equal((await readFile(file, 'utf8')).trim().split('\n').length, 5);
  } finally {
    await sink.close().catch(() => undefined);
    await rm(spoolDir, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
    const k = await loadKafkaJs();
    const admin = new k.Kafka({ clientId: 'sp-test-labels', brokers: kafka.brokers, logLevel: k.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
      if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 }).catch(() => undefined);
    } finally {
      await admin.disconnect();
    }
  }
});

// The Kafka telemetry sink against the real broker: one valid event of every family produced and
// consumed back in both message formats (topic per type, key or partition, headers, value,
// timestamp), schema-invalid events counted and never delivered, topics created with the
// configured partition count, one key on one partition (the murmur2 one, in both formats), in order.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { silentLogger } from '../../src/core/logger.ts';
import type { Logger } from '../../src/core/logger.ts';
import { newEventId } from '../../src/core/telemetry.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { EVENT_SCHEMAS } from '../../src/telemetry/events/index.ts';
import type { EventType } from '../../src/telemetry/events/index.ts';
import { KafkaSink } from '../../src/telemetry/kafka/index.ts';
import { consumeTopics, deleteTopics } from '../fixtures/telemetry-kafka-read.ts';
import { kafkaForTests, tempSpoolDir, uniquePrefix, VALID_DATA } from '../fixtures/telemetry-kafka-env.ts';

const kafka = await kafkaForTests();
const TYPES = Object.keys(EVENT_SCHEMAS) as EventType[];

/** The partition kafkajs' default (Java-compatible murmur2) partitioner gives a keyed message. */
function partitionOf(key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [],
    isr: [],
  }));
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } });
}

describe('KafkaSink against a real broker', { skip: kafka.skip }, () => {
  for (const format of ['batch', 'single'] as const) {
    test(`${format} format: every event family round-trips (topic per type, key, headers, JSON value, timestamp); invalid events are counted, not sent`, async () => {
      const prefix = uniquePrefix(`families-${format}`);
      const topics = TYPES.map((t) => `${prefix}.${t}`);
      const spoolDir = await tempSpoolDir();
      const warnings: Readonly<Record<string, unknown>>[] = [];
      const logger: Logger = { ...silentLogger, warn: (_m, f) => void warnings.push(f ?? {}) };
      const sink = await KafkaSink.open({
        brokers: kafka.brokers,
        spoolDir,
        topicFor: (t) => `${prefix}.${t}`,
        messageFormat: format,
        logger,
      });
      try {
        const sent: TelemetryEvent[] = [];
        TYPES.forEach((type, k) => {
          for (const key of [`doc-${k}`, `peer-${k}`]) {
            const e: TelemetryEvent = {
              type,
              id: newEventId(),
              time: 1_764_000_000_000 + k,
              tenant: k % 2 === 0 ? 'acme' : 'globex',
              key,
              data: VALID_DATA[type],
            };
            sent.push(e);
            sink.emit(e);
          }
        });
        const invalid: TelemetryEvent[] = [
          {
            type: 'syncpilot.access.v1',
            id: newEventId(),
            time: 1,
            tenant: 'acme',
            key: 'doc-x',
            data: { doc: 'd', peer: 'p', action: 'delete' },
          },
          {
            type: 'syncpilot.anomaly.v1',
            id: newEventId(),
            time: 1,
            tenant: 'acme',
            key: 'peer-x',
            data: { ...VALID_DATA['syncpilot.anomaly.v1'], score: Number.NaN },
          },
          { type: 'syncpilot.access.v1', id: newEventId(), time: 1, tenant: '', key: 'doc-y', data: VALID_DATA['syncpilot.access.v1'] },
        ];
        for (const e of invalid) sink.emit(e);
        // Close drains: a send slower than spillAfterMs on a loaded machine goes through the spool first.
        await sink.close();
        assert.deepEqual(sink.stats(), { emitted: sent.length + 3, written: sent.length, dropped: 3 });
        assert.equal(sink.detailedStats().invalid, 3);
        const codes = warnings.filter((w) => w['code'] === 'SP_ERR_EVENT_INVALID').map((w) => w['type']);
        assert.deepEqual(codes.sort(), ['syncpilot.access.v1', 'syncpilot.anomaly.v1'], 'logged once per type');

        const got = await consumeTopics(kafka.brokers, topics);
        assert.equal(got.length, sent.length);
        const byId = new Map(got.map((c) => [c.event.id, c]));
        for (const e of sent) {
          const c = byId.get(e.id);
          assert.ok(c !== undefined, `${e.type} ${e.key} arrived`);
          assert.equal(c.topic, `${prefix}.${e.type}`);
          assert.deepEqual(c.event, e);
          assert.equal(c.partition, partitionOf(e.key, 3), 'the partition of the key, as kafkajs would pick it');
          if (format === 'single') {
            assert.equal(c.key, e.key);
            assert.deepEqual(c.headers, { type: e.type, tenant: e.tenant });
            assert.equal(c.timestamp, e.time);
          } else {
            // The two events of a type share a time and a tenant, and are on one message unless their keys' partitions differ.
            assert.equal(c.key, undefined);
            assert.deepEqual(c.headers, { 'syncpilot-format': 'batch.v1', type: e.type, tenant: e.tenant });
            assert.equal(c.timestamp, e.time);
          }
        }
        for (const e of invalid) assert.ok(!byId.has(e.id), 'an invalid event never reaches the broker');
      } finally {
        await sink.close();
        await deleteTopics(kafka.brokers, topics).catch(() => undefined);
        await rm(spoolDir, { recursive: true, force: true });
      }
    });
  }

  test('topics are created with the configured partitions; one key stays on one partition, in order', async () => {
    const prefix = uniquePrefix('parts');
    const topic = `${prefix}.syncpilot.sync-latency.v1`;
    const spoolDir = await tempSpoolDir();
    const sink = await KafkaSink.open({
      brokers: kafka.brokers,
      spoolDir,
      topicFor: (t) => `${prefix}.${t}`,
      partitions: 4,
      maxBatchEvents: 100,
      logger: silentLogger,
    });
    try {
      const n = 3000;
      for (let i = 0; i < n; i++) {
        const key = `doc-${i % 17}`;
        sink.emit({
          type: 'syncpilot.sync-latency.v1',
          id: newEventId(),
          time: 1_764_000_000_000 + i,
          tenant: 'acme',
          key,
          data: { ...VALID_DATA['syncpilot.sync-latency.v1'], doc: key, changes: i },
        });
      }
      await sink.close();
      const admin = new Kafka({ clientId: 'sp-test', brokers: kafka.brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const md = await admin.fetchTopicMetadata({ topics: [topic] }).finally(() => admin.disconnect());
      assert.equal(md.topics[0]?.partitions.length, 4);

      const got = await consumeTopics(kafka.brokers, [topic]);
      assert.equal(got.length, n);
      const partitionByKey = new Map<string, number>();
      const last = new Map<string, number>();
      for (const c of got) {
        assert.equal(c.partition, partitionOf(c.event.key, 4), `key ${c.event.key} on the partition murmur2 gives it`);
        partitionByKey.set(c.event.key, c.partition);
        const i = c.event.data['changes'] as number;
        assert.ok((last.get(c.event.key) ?? -1) < i, `key ${c.event.key} out of order at ${i}`);
        last.set(c.event.key, i);
      }
      assert.ok(new Set(partitionByKey.values()).size > 1, '17 keys spread over more than one partition');
      assert.ok(new Set(got.map((c) => c.offset)).size < n / 10, 'events travel packed, many to a message');
    } finally {
      await sink.close();
      // open created the topic of every known type (schema validation is on).
      await deleteTopics(
        kafka.brokers,
        TYPES.map((t) => `${prefix}.${t}`),
      ).catch(() => undefined);
      await rm(spoolDir, { recursive: true, force: true });
    }
  });
});

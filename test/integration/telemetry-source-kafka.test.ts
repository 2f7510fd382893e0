// KafkaTelemetrySource against the real broker: the shared source conformance suite (each test
// with its own topic prefix, consumer groups and spool), then Kafka specifics: new topics picked
// up mid-run, offsets committed per partition, a throw-away group deleted on close.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { silentLogger } from '../../src/core/logger.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { KafkaSink } from '../../src/telemetry/kafka/kafka-sink.ts';
import { loadKafkaJs } from '../../src/telemetry/kafka/load-kafkajs.ts';
import { KafkaTelemetrySource } from '../../src/telemetry/source/kafka-telemetry-source.ts';
import type { SourcedEvent } from '../../src/telemetry/source/telemetry-source.ts';
import { accessEvent, runTelemetrySourceConformance, sampleEvents } from '../../src/testing/telemetry-source-conformance.ts';
import { ensureKafka, servicesSkip } from '../helpers/services.ts';

async function brokersOrSkip(): Promise<{ brokers: string[]; skip: false } | { brokers: []; skip: string }> {
  if (servicesSkip !== false) return { brokers: [], skip: servicesSkip };
  try {
    return { brokers: (await ensureKafka()).brokers, skip: false };
  } catch (err) {
    return { brokers: [], skip: `no Kafka broker: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}` };
  }
}

const kafka = await brokersOrSkip();

async function client(): Promise<Kafka> {
  const k = await loadKafkaJs();
  return new k.Kafka({ clientId: 'sp-test-source', brokers: kafka.brokers, logLevel: k.logLevel.NOTHING });
}

/** Deletes the topics and consumer groups whose names start with `prefix`. */
async function cleanUp(prefix: string): Promise<void> {
  const admin = (await client()).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

async function kafkaFixture() {
  const prefix = `sp-test-src-${randomUUID().slice(0, 8)}.`;
  const spoolDir = await mkdtemp(join(tmpdir(), 'sp-source-spool-'));
  // validate: false, so the suite's invalid events reach the topic (the sink would refuse them).
  const sink = await KafkaSink.open({
    brokers: kafka.brokers,
    spoolDir,
    topicFor: (t) => prefix + t,
    validate: false,
    lingerMs: 1,
    logger: silentLogger,
  });
  return {
    prefix,
    sink,
    open: async (name: string, o: { maxBatchEvents: number }) =>
      new KafkaTelemetrySource({
        brokers: kafka.brokers,
        groupId: `${prefix}${name}`,
        topicPrefix: prefix,
        fromBeginning: true,
        topicRefreshMs: 1000,
        heartbeatIntervalMs: 500,
        logger: silentLogger,
        ...o,
      }),
    append: async (events: readonly TelemetryEvent[]) => {
      for (const e of events) sink.emit(e);
      await sink.flush();
      // flush means acknowledged or spooled (creating topics can be slow): wait for the broker's acks.
      const deadline = Date.now() + 30_000;
      while (sink.stats().written < sink.stats().emitted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(sink.stats().written, sink.stats().emitted, 'the broker acknowledged every event');
    },
    teardown: async () => {
      await sink.close().catch(() => undefined);
      await rm(spoolDir, { recursive: true, force: true });
      await cleanUp(prefix).catch(() => undefined);
    },
  };
}

if (kafka.skip !== false) {
  test('KafkaTelemetrySource', { skip: kafka.skip }, () => undefined);
} else {
  runTelemetrySourceConformance('KafkaTelemetrySource', kafkaFixture, { timeoutMs: 60_000 });

  describe('KafkaTelemetrySource on the broker', () => {
    test('a topic of a requested family created during the run is picked up from its beginning', { timeout: 120_000 }, async () => {
      const f = await kafkaFixture();
      try {
        await f.append([accessEvent(0)]);
        const source = await f.open('late-topic', { maxBatchEvents: 100 });
        const got: SourcedEvent[] = [];
        const ctrl = new AbortController();
        const late = sampleEvents(5).filter((e) => e.type === 'syncpilot.conflict.v1');
        const running = source.run(
          async (b) => {
            got.push(...b);
            if (got.length === 1) setTimeout(() => void f.append(late), 200);
            if (got.length >= 2) ctrl.abort();
          },
          { signal: ctrl.signal, families: ['access', 'conflict'] },
        );
        const timer = setTimeout(() => ctrl.abort(), 60_000);
        await running;
        clearTimeout(timer);
        assert.deepEqual(
          got.map((e) => e.event.type),
          ['syncpilot.access.v1', 'syncpilot.conflict.v1'],
        );
        // The first message of its partition; an event batch adds the event's index in it.
        assert.match(got[1]?.position ?? '', new RegExp(`^${f.prefix.replace(/\./g, '\\.')}syncpilot\\.conflict\\.v1/\\d+/0(#0)?$`));
        await source.close();
      } finally {
        await f.teardown();
      }
    });

    test(
      'a handler slower than the session timeout keeps its partitions: heartbeats continue, the batch is committed once',
      { timeout: 120_000 },
      async () => {
        const f = await kafkaFixture();
        try {
          const events = Array.from({ length: 6 }, (_, i) => accessEvent(i, 'one-key'));
          await f.append(events);
          const source = new KafkaTelemetrySource({
            brokers: kafka.brokers,
            groupId: `${f.prefix}slow`,
            topicPrefix: f.prefix,
            fromBeginning: true,
            sessionTimeoutMs: 6000,
            heartbeatIntervalMs: 1000,
            logger: silentLogger,
          });
          const ctrl = new AbortController();
          const handled: string[] = [];
          let calls = 0;
          const running = source.run(
            async (b) => {
              calls++;
              if (calls === 1) await new Promise((r) => setTimeout(r, 9000));
              handled.push(...b.map((e) => e.event.id));
            },
            { signal: ctrl.signal },
          );
          // Long enough after the slow batch for a lost membership to show up as a re-delivery.
          const deadline = Date.now() + 60_000;
          while (handled.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
          await new Promise((r) => setTimeout(r, 3000));
          ctrl.abort();
          await running;
          assert.deepEqual(
            handled,
            events.map((e) => e.id),
            'every event once, in order: no re-delivery after the slow handler',
          );
          assert.equal(source.stats().committed, 6);
          await source.close();
        } finally {
          await f.teardown();
        }
      },
    );

    test(
      'offsets are committed per partition to the consumer group; deleteGroupOnClose removes the group',
      { timeout: 120_000 },
      async () => {
        const f = await kafkaFixture();
        try {
          const events = Array.from({ length: 30 }, (_, i) => accessEvent(i, `key-${i % 5}`));
          await f.append(events);
          const groupId = `${f.prefix}offsets`;
          const source = new KafkaTelemetrySource({
            brokers: kafka.brokers,
            groupId,
            topicPrefix: f.prefix,
            fromBeginning: true,
            deleteGroupOnClose: true,
            logger: silentLogger,
          });
          const ctrl = new AbortController();
          const lastByPartition = new Map<string, number>();
          let n = 0;
          await source.run(
            async (b) => {
              for (const e of b) {
                // `topic/partition/offset`, plus `#index` inside an event batch.
                const [topic, partition, offset] = e.position.split('#')[0]?.split('/') ?? [];
                lastByPartition.set(`${topic}/${partition}`, Number(offset));
              }
              n += b.length;
              if (n >= 30) ctrl.abort();
            },
            { signal: ctrl.signal },
          );
          const admin = (await client()).admin();
          await admin.connect();
          try {
            const topic = `${f.prefix}syncpilot.access.v1`;
            const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
            for (const p of committed[0]?.partitions ?? []) {
              const last = lastByPartition.get(`${topic}/${p.partition}`);
              assert.equal(p.offset, last === undefined ? '-1' : String(last + 1), `partition ${p.partition}`);
            }
            assert.ok(lastByPartition.size >= 2, 'five keys spread over more than one partition');
            await source.close();
            const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
            assert.ok(!groups.includes(groupId), 'the throw-away group is deleted');
          } finally {
            await admin.disconnect();
          }
        } finally {
          await f.teardown();
        }
      },
    );
  });
}

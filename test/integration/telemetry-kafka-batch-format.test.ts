// Event-batch messages against the real broker, read back by KafkaTelemetrySource:
// 1. one topic holding old single-event messages (a sink with messageFormat 'single', and one
//    produced by hand as an older sink would), new event batches with mixed keys, and a hand-made
//    batch with bad lines: every valid event arrives once, in order per key, each key on one
//    partition whatever the format; each bad line is counted on its own;
// 2. a batch message larger than maxBatchEvents is handed on in parts, each committed as a position
//    inside the message: a consumer stopped after the first part leaves exactly the rest to the next.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import type { Admin } from 'kafkajs';
import { silentLogger } from '../../src/core/logger.ts';
import type { Logger } from '../../src/core/logger.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { EVENT_BATCH_V1, TELEMETRY_FORMAT_HEADER } from '../../src/telemetry/kafka/event-batch-format.ts';
import { KafkaSink } from '../../src/telemetry/kafka/index.ts';
import type { SourcedEvent } from '../../src/telemetry/source/telemetry-source.ts';
import { KafkaTelemetrySource } from '../../src/telemetry/source/kafka-telemetry-source.ts';
import { kafkaForTests, tempSpoolDir, uniquePrefix, validEvent } from '../fixtures/telemetry-kafka-env.ts';

const kafka = await kafkaForTests();
const TYPE = 'syncpilot.sync-latency.v1';

function client(): Kafka {
  return new Kafka({ clientId: 'sp-test-batch', brokers: kafka.brokers, logLevel: logLevel.NOTHING });
}

/** Deletes the topics and consumer groups whose names start with `prefix`. */
async function cleanUp(admin: Admin, prefix: string): Promise<void> {
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 10_000 });
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
  if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
}

/** Sends `events` through a sink of `format` and waits until the broker acknowledged all of them. */
async function sendThroughSink(prefix: string, format: 'batch' | 'single', events: readonly TelemetryEvent[]): Promise<void> {
  const spoolDir = await tempSpoolDir();
  const sink = await KafkaSink.open({
    brokers: kafka.brokers,
    spoolDir,
    topicFor: (t) => `${prefix}${t}`,
    partitions: 4,
    messageFormat: format,
    logger: silentLogger,
  });
  try {
    for (const e of events) sink.emit(e);
    await sink.close();
    assert.deepEqual(sink.stats(), { emitted: events.length, written: events.length, dropped: 0 });
  } finally {
    await rm(spoolDir, { recursive: true, force: true });
  }
}

/** Runs a source until `done` says so (or 60 s pass), collecting what it hands on. */
async function collect(
  source: KafkaTelemetrySource,
  done: (got: readonly SourcedEvent[], calls: number) => boolean,
): Promise<{ got: SourcedEvent[]; calls: number[] }> {
  const got: SourcedEvent[] = [];
  const calls: number[] = [];
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), 60_000);
  try {
    await source.run(
      async (batch) => {
        got.push(...batch);
        calls.push(batch.length);
        if (done(got, calls.length)) ctrl.abort();
      },
      { signal: ctrl.signal },
    );
  } finally {
    clearTimeout(timer);
  }
  return { got, calls };
}

describe('event-batch messages through KafkaTelemetrySource', { skip: kafka.skip }, () => {
  const admin = client().admin();
  const prefixes: string[] = [];
  after(async () => {
    for (const p of prefixes) await cleanUp(admin, p).catch(() => undefined);
    await admin.disconnect();
  });

  test(
    'old single-event messages, new batches with mixed keys and bad lines in one topic: each valid event once, in order per key',
    { timeout: 120_000 },
    async () => {
      await admin.connect();
      const prefix = `${uniquePrefix('batch-mixed')}.`;
      prefixes.push(prefix);
      const topic = `${prefix}${TYPE}`;
      let n = 0;
      const next = (count: number): TelemetryEvent[] => Array.from({ length: count }, () => validEvent(n, `doc-${n++ % 13}`));
      const old = next(60);
      await sendThroughSink(prefix, 'single', old);
      // A single-event message as an older sink wrote it, by hand.
      const byHand = next(1)[0] as TelemetryEvent;
      const producer = client().producer();
      await producer.connect();
      await producer.send({
        topic,
        messages: [{ key: byHand.key, value: JSON.stringify(byHand), headers: { type: TYPE, tenant: byHand.tenant } }],
      });
      const batched = next(500);
      await sendThroughSink(prefix, 'batch', batched);
      // A batch with two bad lines (not JSON; JSON that fails its schema) between two valid events.
      const [a, b] = next(2) as [TelemetryEvent, TelemetryEvent];
      const schemaInvalid = JSON.stringify({ ...a, id: 'bad', data: { doc: 1 } });
      await producer.send({
        topic,
        messages: [
          {
            partition: 0,
            value: [JSON.stringify(a), '{ not json', schemaInvalid, JSON.stringify(b)].join('\n'),
            headers: { [TELEMETRY_FORMAT_HEADER]: EVENT_BATCH_V1 },
          },
        ],
      });
      await producer.disconnect();
      const sent = [...old, byHand, ...batched, a, b];

      const warnings: Readonly<Record<string, unknown>>[] = [];
      const logger: Logger = { ...silentLogger, warn: (_m, f) => void warnings.push(f ?? {}) };
      const source = new KafkaTelemetrySource({
        brokers: kafka.brokers,
        groupId: `${prefix}reader`,
        topicPrefix: prefix,
        fromBeginning: true,
        maxBatchEvents: 100,
        logger,
      });
      const { got, calls } = await collect(source, (g) => g.length >= sent.length);
      await source.close();

      assert.deepEqual(new Set(got.map((e) => e.event.id)), new Set(sent.map((e) => e.id)), 'every valid event arrives');
      assert.equal(got.length, sent.length, 'and only once');
      assert.ok(
        calls.every((c) => c <= 100),
        `maxBatchEvents holds: ${calls.join(',')}`,
      );
      const stats = source.stats();
      assert.equal(stats.invalid, 2, 'each bad line of the batch is counted');
      assert.equal(stats.received, sent.length + 2);
      const handMade = got.find((e) => e.event.id === a.id)?.position.split('#')[0] ?? '';
      assert.match(handMade, new RegExp(`^${topic.replace(/\./g, '\\.')}/0/\\d+$`));
      assert.equal(got.find((e) => e.event.id === b.id)?.position, `${handMade}#3`);
      assert.deepEqual(
        warnings.filter((w) => w['code'] === 'SP_ERR_EVENT_INVALID').map((w) => [w['type'], w['position']]),
        [
          ['(not JSON)', `${handMade}#1`],
          [TYPE, `${handMade}#2`],
        ],
        'each kind of failure logged once, with the position of the bad line',
      );

      const order = new Map(sent.map((e, i) => [e.id, i]));
      const lastByKey = new Map<string, number>();
      const partitionByKey = new Map<string, string>();
      for (const { event, position } of got) {
        const i = order.get(event.id) ?? -1;
        assert.ok((lastByKey.get(event.key) ?? -1) < i, `key ${event.key}: event ${i} after ${lastByKey.get(event.key)}`);
        lastByKey.set(event.key, i);
        if (event.id === a.id || event.id === b.id) continue; // put on partition 0 by hand
        const partition = position.split('/')[1] ?? '';
        assert.equal(partitionByKey.get(event.key) ?? partition, partition, `key ${event.key} on one partition in both formats`);
        partitionByKey.set(event.key, partition);
      }
      const batchedIds = new Set(batched.map((e) => e.id));
      const batchPositions = got.filter((e) => batchedIds.has(e.event.id)).map((e) => e.position);
      assert.ok(
        batchPositions.every((p) => /\/\d+\/\d+#\d+$/.test(p)),
        'events of a batch have topic/partition/offset#index',
      );
      assert.ok(new Set(batchPositions.map((p) => p.split('#')[0])).size < 20, '500 events travelled in a few messages');
      assert.ok(
        got
          .filter((e) => !batchedIds.has(e.event.id) && e.event.id !== a.id && e.event.id !== b.id)
          .every((e) => !e.position.includes('#')),
      );
    },
  );

  test('a batch larger than maxBatchEvents is handed on in parts; the next consumer resumes inside it', { timeout: 120_000 }, async () => {
    await admin.connect();
    const prefix = `${uniquePrefix('batch-split')}.`;
    prefixes.push(prefix);
    const topic = `${prefix}${TYPE}`;
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
    const events = Array.from({ length: 10 }, (_, i) => validEvent(i, `doc-${i % 3}`));
    const producer = client().producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: [{ value: events.map((e) => JSON.stringify(e)).join('\n'), headers: { [TELEMETRY_FORMAT_HEADER]: EVENT_BATCH_V1 } }],
    });
    await producer.disconnect();
    const groupId = `${prefix}reader`;
    const open = (): KafkaTelemetrySource =>
      new KafkaTelemetrySource({
        brokers: kafka.brokers,
        groupId,
        topicPrefix: prefix,
        fromBeginning: true,
        maxBatchEvents: 4,
        logger: silentLogger,
      });
    const committed = async (): Promise<{ offset?: string; metadata?: string | null }> =>
      (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions.find((p) => p.partition === 0) ?? {};

    // Stopped after the first part: that part is committed as a position inside the message.
    const first = open();
    const stopped = await collect(first, (_g, calls) => calls === 1);
    await first.close();
    assert.deepEqual(stopped.calls, [4]);
    assert.equal(first.stats().committed, 4);
    const inside = await committed();
    assert.equal(inside.offset, '0', 'the message is not done: its own offset');
    assert.equal(inside.metadata, 'syncpilot.handled-entries=4');

    // The next consumer of the group resumes inside the message: the rest, in parts of at most 4, then commits past it.
    const second = open();
    const rest = await collect(second, (g) => g.length >= 6);
    await second.close();
    assert.deepEqual(rest.calls, [4, 2]);
    assert.deepEqual(
      rest.got.map((e) => e.event.id),
      events.slice(4).map((e) => e.id),
      'no handled event comes again, none is lost',
    );
    assert.deepEqual(
      rest.got.map((e) => e.position),
      events.slice(4).map((_, i) => `${topic}/0/0#${i + 4}`),
    );
    assert.equal(second.stats().committed, 6);
    assert.equal((await committed()).offset, '1');
  });
});

// The shared TelemetrySink conformance suite against the real broker: each test gets its own
// topic (a unique prefix) and spool directory; readAll consumes the topic from the beginning.
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { KafkaSink } from '../../src/telemetry/kafka/index.ts';
import { runTelemetrySinkConformance } from '../../src/testing/telemetry-sink-conformance.ts';
import { consumeTopics, deleteTopics } from '../fixtures/telemetry-kafka-read.ts';
import { kafkaForTests, tempSpoolDir, uniquePrefix } from '../fixtures/telemetry-kafka-env.ts';

const kafka = await kafkaForTests();

// The suite's events use a private type (`syncpilot.conformance.v1`), so schema validation is off here.
function fixtureWith(extra: { lingerMs?: number; maxBatchEvents?: number; compression?: 'gzip' | 'none' }) {
  return async () => {
    const prefix = uniquePrefix('conf');
    const topic = `${prefix}.syncpilot.conformance.v1`;
    const spoolDir = await tempSpoolDir();
    const sink = await KafkaSink.open({
      brokers: kafka.brokers,
      spoolDir,
      topicFor: (type) => `${prefix}.${type}`,
      validate: false,
      logger: silentLogger,
      ...extra,
    });
    return {
      sink,
      readAll: async () => (await consumeTopics(kafka.brokers, [topic])).map((c) => c.event),
      teardown: async () => {
        await deleteTopics(kafka.brokers, [topic]).catch(() => undefined);
        await rm(spoolDir, { recursive: true, force: true });
      },
    };
  };
}

if (kafka.skip !== false) {
  test('KafkaSink conformance', { skip: kafka.skip }, () => undefined);
} else {
  runTelemetrySinkConformance('KafkaSink', fixtureWith({}));
  // One-event batches and no compression: many produce requests back to back.
  runTelemetrySinkConformance(
    'KafkaSink (batches of 7, no compression, linger 0)',
    fixtureWith({ maxBatchEvents: 7, lingerMs: 0, compression: 'none' }),
  );
}

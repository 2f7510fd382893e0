// The shared PromotionBus conformance suite against the real broker: each test gets its own
// topic (created by the bus), deleted afterwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { KafkaPromotionBus } from '../../src/ml/registry/kafka-bus.ts';
import { runPromotionBusConformance } from '../../src/testing/promotion-bus-conformance.ts';
import { deleteTopics } from '../fixtures/telemetry-kafka-read.ts';
import { kafkaForTests, uniquePrefix } from '../fixtures/telemetry-kafka-env.ts';

const kafka = await kafkaForTests();

if (kafka.skip !== false) {
  test('KafkaPromotionBus conformance', { skip: kafka.skip }, () => undefined);
} else {
  const { brokers } = kafka;
  runPromotionBusConformance(
    'KafkaPromotionBus',
    async () => {
      const topic = `${uniquePrefix('promotions')}.syncpilot.model-promotions`;
      const raw = new KafkaPromotionBus({ brokers, topic, logger: silentLogger });
      return {
        open: async () => new KafkaPromotionBus({ brokers, topic, logger: silentLogger }),
        injectRaw: (text) => raw.publishRaw(text),
        teardown: async () => {
          await raw.close();
          await deleteTopics(brokers, [topic]).catch(() => undefined);
        },
      };
    },
    { deliveryTimeoutMs: 20_000 },
  );

  test('a missing kafkajs is reported with an install hint', async (t) => {
    const missing = Object.assign(new Error('Cannot find package kafkajs'), { code: 'ERR_MODULE_NOT_FOUND' });
    const bus = new KafkaPromotionBus({ brokers, logger: silentLogger, importer: () => Promise.reject(missing) });
    t.after(() => bus.close());
    await assert.rejects(
      bus.publish({ policy: 'compression', champion: 1, challengers: [], at: 1, origin: 'test' }),
      (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID' && /npm install kafkajs/.test(err.message),
    );
  });
}

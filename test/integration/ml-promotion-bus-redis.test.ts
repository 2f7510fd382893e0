// The shared PromotionBus conformance suite against the real Redis: each test gets its own channel.
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { RedisPromotionBus } from '../../src/ml/registry/redis-bus.ts';
import { runPromotionBusConformance } from '../../src/testing/promotion-bus-conformance.ts';
import { ensureRedis, servicesSkip } from '../helpers/services.ts';
import { SyncPilotError } from '../../src/core/errors.ts';
import assert from 'node:assert/strict';

const redis = servicesSkip === false ? await ensureRedis() : undefined;

if (redis === undefined) {
  test('RedisPromotionBus conformance', { skip: servicesSkip || 'no Redis' }, () => undefined);
} else {
  const { url } = redis;
  runPromotionBusConformance('RedisPromotionBus', async () => {
    const channel = `sp-test:promotions:${randomUUID().slice(0, 8)}`;
    const raw = new RedisPromotionBus({ url, channel, logger: silentLogger });
    return {
      open: async () => new RedisPromotionBus({ url, channel, logger: silentLogger }),
      injectRaw: (text) => raw.publishRaw(text),
      teardown: () => raw.close(),
    };
  });

  test('an unreachable Redis makes publish fail with a retryable SP_ERR_TIMEOUT, not hang', async (t) => {
    // Port 1 on loopback: nothing listens there.
    const bus = new RedisPromotionBus({
      url: 'redis://127.0.0.1:1',
      timeoutMs: 500,
      logger: silentLogger,
      redis: { retryStrategy: () => 50 },
    });
    t.after(() => bus.close());
    await assert.rejects(
      bus.publish({ policy: 'compression', champion: 1, challengers: [], at: 1, origin: 'test' }),
      (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_TIMEOUT' && err.retryable,
    );
  });

  test('a missing ioredis is reported with an install hint', async (t) => {
    const missing = Object.assign(new Error('Cannot find package ioredis'), { code: 'ERR_MODULE_NOT_FOUND' });
    const bus = new RedisPromotionBus({ url, logger: silentLogger, importer: () => Promise.reject(missing) });
    t.after(() => bus.close());
    await assert.rejects(
      bus.publish({ policy: 'compression', champion: 1, challengers: [], at: 1, origin: 'test' }),
      (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID' && /npm install ioredis/.test(err.message),
    );
  });
}

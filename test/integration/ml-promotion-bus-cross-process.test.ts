// A promotion made here reaches a server-like listener in another process, through each bus;
// measures the time from calling promote() to the notice arriving there.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import type { PromotionBus } from '../../src/ml/registry/promotion-bus.ts';
import { openTestBus, type BusSpec } from '../fixtures/ml-registry-bus-spec.ts';
import { TestChild } from '../fixtures/ml-registry-child-process.ts';
import { tempDir, writeTestModel } from '../fixtures/ml-registry-models.ts';
import { deleteTopics } from '../fixtures/telemetry-kafka-read.ts';
import { kafkaForTests, uniquePrefix } from '../fixtures/telemetry-kafka-env.ts';
import { ensureRedis, servicesSkip } from '../helpers/services.ts';

const ROUNDS = 20;
const kafka = await kafkaForTests();
const redis = servicesSkip === false ? await ensureRedis().catch(() => undefined) : undefined;

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Promotes ROUNDS times and returns, per round, ms from calling promote() to the child printing the notice. */
async function measure(t: test.TestContext, name: string, spec: (root: string) => BusSpec, publisher: 'default' | 'spec'): Promise<void> {
  const base = await tempDir('xproc');
  t.after(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'models');
  const s = spec(root);
  let bus: PromotionBus | undefined;
  if (publisher === 'spec') {
    bus = openTestBus(s, silentLogger);
    t.after(() => bus?.close());
  }
  const registry = await ModelRegistry.open(root, { logger: silentLogger, ...(bus === undefined ? {} : { bus }) });
  t.after(() => registry.close());
  for (let i = 0; i < 2; i++) await registry.register((await writeTestModel(join(base, 'in'))).dir, { challenger: false });
  await registry.promote('compression', 1);

  const child = new TestChild('./ml-registry-bus-child.ts', [JSON.stringify(s)]);
  t.after(() => child.end());
  await child.line((l) => l === 'READY', 60_000);

  const latencies: number[] = [];
  const promoteMs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const target = i % 2 === 0 ? 2 : 1;
    const t0 = performance.timeOrigin + performance.now();
    const r = await registry.promote('compression', target, { force: true });
    promoteMs.push(performance.timeOrigin + performance.now() - t0);
    assert.equal(r.notified, true);
    const line = await child.line((l) => {
      if (!l.startsWith('NOTICE ')) return false;
      const { notice } = JSON.parse(l.slice(7)) as { notice: { at: number; champion: number } };
      return notice.at === r.at && notice.champion === target;
    }, 10_000);
    latencies.push((JSON.parse(line.slice(7)) as { t: number }).t - t0);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const p = [...promoteMs].sort((a, b) => a - b);
  const summary = {
    bus: name,
    rounds: ROUNDS,
    medianMs: +quantile(sorted, 0.5).toFixed(1),
    p95Ms: +quantile(sorted, 0.95).toFixed(1),
    maxMs: +(sorted.at(-1) ?? NaN).toFixed(1),
    promoteMedianMs: +quantile(p, 0.5).toFixed(1),
  };
  t.diagnostic(`promote() -> notice in another process: ${JSON.stringify(summary)}`);
  assert.ok(summary.medianMs < 1000, `median ${summary.medianMs} ms`);
  assert.ok(summary.maxMs < 2000, `max ${summary.maxMs} ms`);
}

test('file watch bus (the embedded default: registry with no bus configured)', (t) =>
  measure(t, 'file (fs.watch)', (root) => ({ kind: 'file', root }), 'default'));

test('file watch bus, polling fallback only (250 ms)', (t) =>
  measure(t, 'file (polling only)', (root) => ({ kind: 'file', root, watch: false }), 'default'));

test('Redis pub/sub bus', { skip: redis === undefined ? servicesSkip || 'no Redis' : false }, (t) =>
  measure(t, 'redis', () => ({ kind: 'redis', url: redis?.url ?? '', channel: `sp-test:promotions:${randomUUID().slice(0, 8)}` }), 'spec'),
);

test('Kafka topic bus', { skip: kafka.skip }, async (t) => {
  const topic = `${uniquePrefix('xproc')}.syncpilot.model-promotions`;
  t.after(() => deleteTopics(kafka.brokers, [topic]).catch(() => undefined));
  await measure(t, 'kafka', () => ({ kind: 'kafka', brokers: kafka.brokers, topic }), 'spec');
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

// In a fresh process: which optional clients has importing (and then running `thenRun`) loaded?
function loaded(thenRun = ''): Promise<{ ioredis: boolean; kafkajs: boolean }> {
  const script = `await import('./src/ml/registry/index.ts');
${thenRun}
const { createRequire } = await import('node:module');
const keys = Object.keys(createRequire(import.meta.url).cache);
console.log(JSON.stringify({ ioredis: keys.some((k) => k.includes('/node_modules/ioredis/')), kafkajs: keys.some((k) => k.includes('/node_modules/kafkajs/')) }));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null') as { ioredis: boolean; kafkajs: boolean });
    });
  });
}

test(
  'importing the registry and its buses loads neither ioredis nor kafkajs; publishing on those buses does',
  { timeout: 60_000 },
  async () => {
    assert.deepEqual(await loaded(), { ioredis: false, kafkajs: false });
    // The control: the probe sees them once a bus is used (here against nothing listening: it fails after loading).
    const use = `
const { RedisPromotionBus, KafkaPromotionBus } = await import('./src/ml/registry/index.ts');
const { silentLogger } = await import('./src/core/logger.ts');
const n = { policy: 'compression', champion: 1, challengers: [], at: 1, origin: 'lazy' };
const r = new RedisPromotionBus({ url: 'redis://127.0.0.1:1', timeoutMs: 200, logger: silentLogger });
const k = new KafkaPromotionBus({ brokers: ['127.0.0.1:1'], timeoutMs: 200, requestTimeoutMs: 200, logger: silentLogger });
await Promise.all([r.publish(n).catch(() => undefined), k.publish(n).catch(() => undefined)]);
await Promise.all([r.close(), k.close()]);`;
    assert.deepEqual(await loaded(use), { ioredis: true, kafkajs: true });
  },
);

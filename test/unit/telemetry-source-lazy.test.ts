import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

// In a fresh process: what does importing the modules load?
function loadedKafkaJs(modules: readonly string[], thenRun = ''): Promise<boolean> {
  const imports = modules.map((m) => `await import(${JSON.stringify(`./${m}`)});`).join('');
  const script = `${imports}${thenRun}
const { createRequire } = await import('node:module');
const req = createRequire(import.meta.url);
console.log(JSON.stringify(Object.keys(req.cache).some((k) => k.includes('/node_modules/kafkajs/'))));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null') as boolean);
    });
  });
}

test('importing the sources and the telemetry CLI loads no kafkajs; running a Kafka source does', { timeout: 60_000 }, async () => {
  assert.equal(await loadedKafkaJs(['src/telemetry/source/index.ts', 'src/cli/main.ts']), false);
  // The control: the probe does see kafkajs once a Kafka source runs (here against nothing: it fails to connect, after loading).
  const run = `
const { KafkaTelemetrySource } = await import('./src/telemetry/source/index.ts');
const { silentLogger } = await import('./src/core/logger.ts');
const s = new KafkaTelemetrySource({ brokers: ['127.0.0.1:1'], groupId: 'lazy', requestTimeoutMs: 200, logger: silentLogger });
const c = new AbortController();
setTimeout(() => c.abort(), 300);
await s.run(async () => {}, { signal: c.signal }).catch(() => undefined);
await s.close();`;
  assert.equal(await loadedKafkaJs([], run), true);
});

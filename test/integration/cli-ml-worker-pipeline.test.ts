import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { newEventId } from '../../src/core/telemetry.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import { EmbeddedLogSink } from '../../src/telemetry/embedded-log-sink.ts';
import { BullmqPipeline } from '../../pipelines/bullmq/bullmq-pipeline.ts';
import { ensureRedis, servicesSkip } from '../helpers/services.ts';

const CLI = fileURLToPath(new URL('../fixtures/pipelines-cli.ts', import.meta.url));
const CANTERBURY = fileURLToPath(new URL('../../../shared/data/corpora/canterbury/', import.meta.url));

/** A CLI child whose stderr is kept, with a way to wait for a line matching a pattern. */
function start(args: readonly string[]): { child: ChildProcess; output: () => string; waitFor: (re: RegExp, ms: number) => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer): void => {
    text += d.toString();
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const waitFor = (re: RegExp, ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms; output:\n${text}`)), ms);
      const check = (): void => {
        if (!re.test(text)) return;
        clearTimeout(timer);
        listeners.delete(check);
        resolve();
      };
      listeners.add(check);
      child.once('exit', (code) => reject(new Error(`exited (${code}) before ${re}; output:\n${text}`)));
      check();
    });
  return { child, output: () => text, waitFor };
}

const noData = existsSync(CANTERBURY) ? false : '../shared/data/corpora/canterbury absent';
const skip = servicesSkip || noData;

async function appendLabels(dir: string, n: number): Promise<void> {
  const sink = await EmbeddedLogSink.open({ dir: join(dir, 'telemetry') });
  for (let i = 0; i < n; i++) {
    sink.emit({
      type: 'syncpilot.compression.v1',
      id: newEventId(),
      time: Date.now(),
      tenant: 'default',
      key: 'p1',
      data: { peer: 'p1', decision: 'compress', codec: 'brotli', level: 4, rawBytes: 4096 + i, encodedBytes: 1200, encodeMicros: 50 },
    });
  }
  await sink.close();
}

async function waitForChampion(registry: ModelRegistry, ms: number, outputs: () => string): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { champion } = await registry.state('compression');
    if (champion !== null) return champion;
    if (Date.now() > deadline) throw new Error(`no champion in time\n${outputs()}`);
    await delay(200);
  }
}

async function stop(p: ReturnType<typeof start>): Promise<void> {
  const exited = once(p.child, 'exit');
  p.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, p.output());
}

describe('syncpilot pipeline in-process (no Redis)', { skip: noData, timeout: 180_000 }, () => {
  test('N new labels → the same job functions train, evaluate and promote in the pipeline process', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-cli-ml-inproc-'));
    const pipeline = start(['pipeline', '--data-dir', dir, '--labels', '3', '--epochs', '25', '--from-beginning']);
    const registry = await ModelRegistry.open(join(dir, 'models'), { bus: null });
    try {
      await pipeline.waitFor(/pipeline watching telemetry/, 60_000);
      await appendLabels(dir, 3);
      assert.equal(await waitForChampion(registry, 120_000, pipeline.output), 1);
      await pipeline.waitFor(/retraining done/, 10_000);
      await stop(pipeline);
    } finally {
      if (pipeline.child.exitCode === null && pipeline.child.signalCode === null) pipeline.child.kill('SIGKILL');
      await registry.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('syncpilot worker + pipeline over BullMQ', { skip, timeout: 180_000 }, () => {
  test('N new labels in the embedded log → the pipeline enqueues → a worker trains and promotes', async () => {
    const { url } = await ensureRedis();
    const dir = await mkdtemp(join(tmpdir(), 'sp-cli-ml-bull-'));
    const prefix = `sp-test-${randomUUID().slice(0, 8)}`;
    const common = ['--redis', url, '--prefix', prefix, '--data-dir', dir];
    const worker = start(['worker', ...common, '--lock-ms', '20000']);
    const pipeline = start(['pipeline', ...common, '--labels', '5', '--epochs', '25', '--from-beginning']);
    const registry = await ModelRegistry.open(join(dir, 'models'), { bus: null });
    try {
      await Promise.all([worker.waitFor(/pipeline worker running/, 60_000), pipeline.waitFor(/pipeline watching telemetry/, 60_000)]);
      await appendLabels(dir, 5);
      await waitForChampion(registry, 120_000, () => `worker:\n${worker.output()}\npipeline:\n${pipeline.output()}`);
      assert.equal((await registry.state('compression')).champion, 1);
      assert.match(pipeline.output(), /new labels: retraining/);
      assert.match(worker.output(), /model promoted/);
      const labels = JSON.parse(await readFile(join(dir, 'pipelines', 'triggers', 'labels-compression.json'), 'utf8')) as {
        pending: number;
        watermark: { count: number };
      };
      assert.deepEqual([labels.pending, labels.watermark.count], [0, 5]);
      await stop(worker);
      await stop(pipeline);
    } finally {
      for (const p of [worker, pipeline]) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await registry.close();
      const bull = await BullmqPipeline.open({ redisUrl: url, prefix, deps: { fingerprintData: async () => '0'.repeat(64) } });
      await bull.obliterate();
      await bull.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

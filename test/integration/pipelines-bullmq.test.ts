import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SyncPilotError } from '../../src/core/errors.ts';
import { BullmqPipeline } from '../../pipelines/bullmq/bullmq-pipeline.ts';
import { startPipelineWorkers, type PipelineWorkers } from '../../pipelines/bullmq/pipeline-workers.ts';
import { createPipelineDeps } from '../../pipelines/default-deps.ts';
import { InProcessRunner } from '../../pipelines/runner/in-process.ts';
import { createFakeDeps, logLines, type FakeDepsOptions } from '../fixtures/pipelines-fake-deps.ts';
import { ensureRedis, servicesSkip } from '../helpers/services.ts';

const CHILD = new URL('../fixtures/pipelines-worker-child.ts', import.meta.url).pathname;
const CANTERBURY = fileURLToPath(new URL('../../../shared/data/corpora/canterbury/', import.meta.url));
const LOCK_MS = 1500;
const STALL_CHECK_MS = 500;
const fastStall = { lockDuration: LOCK_MS, stalledInterval: STALL_CHECK_MS, maxStalledCount: 2 };

/** One isolated deployment per test: its own queue prefix and state directory. */
interface Env {
  readonly dir: string;
  readonly prefix: string;
  readonly pipeline: BullmqPipeline;
  readonly workers: PipelineWorkers[];
  readonly children: ChildProcess[];
}

describe('BullMQ pipeline against real Redis', { skip: servicesSkip, timeout: 120_000 }, () => {
  let redisUrl: string;
  const envs: Env[] = [];

  before(async () => {
    redisUrl = (await ensureRedis()).url;
  });

  after(async () => {
    for (const env of envs) {
      for (const c of env.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await Promise.all(env.workers.map((w) => w.close()));
      await env.pipeline.obliterate();
      await env.pipeline.close();
      await rm(env.dir, { recursive: true, force: true });
    }
  });

  async function makeEnv(retry = { attempts: 3, backoffMs: 200 }): Promise<Env> {
    const dir = await mkdtemp(join(tmpdir(), 'sp-pipelines-bullmq-'));
    const prefix = `sp-test-${randomUUID().slice(0, 8)}`;
    const deps = createFakeDeps({ dir });
    const pipeline = await BullmqPipeline.open({ redisUrl, prefix, deps, retry });
    const env: Env = { dir, prefix, pipeline, workers: [], children: [] };
    envs.push(env);
    return env;
  }

  async function startWorkers(env: Env, fake: Omit<FakeDepsOptions, 'dir'> = {}): Promise<PipelineWorkers> {
    const w = await startPipelineWorkers({
      redisUrl,
      prefix: env.prefix,
      deps: createFakeDeps({ dir: env.dir, ...fake }),
      stall: { train: fastStall, evaluate: fastStall, promote: fastStall },
    });
    env.workers.push(w);
    return w;
  }

  function forkWorker(
    env: Env,
    extra: { trainMs: number; holdAfterRegisterMs?: number; real?: boolean; lockDuration?: number; stalledInterval?: number },
  ): { child: ChildProcess; next: (msg: string) => Promise<void> } {
    const child = fork(
      CHILD,
      [JSON.stringify({ redisUrl, prefix: env.prefix, dir: env.dir, lockDuration: LOCK_MS, stalledInterval: STALL_CHECK_MS, ...extra })],
      {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    env.children.push(child);
    const seen: string[] = [];
    const waiters = new Map<string, () => void>();
    child.on('message', (m) => {
      const msg = typeof m === 'string' ? m : JSON.stringify(m);
      seen.push(msg);
      waiters.get(msg)?.();
    });
    const next = (msg: string): Promise<void> =>
      seen.includes(msg)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            waiters.set(msg, resolve);
            child.once('exit', (code) => reject(new Error(`worker child exited (${code}) before "${msg}"`)));
          });
    return { child, next };
  }

  async function kill(child: ChildProcess): Promise<void> {
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  test('a worker killed mid-training: another worker takes the stalled job over and the model is registered once', async () => {
    const env = await makeEnv();
    const { child, next } = forkWorker(env, { trainMs: 60_000 });
    await next('ready');
    // Only the child serves the train queue until it dies; evaluate and promote run here.
    await startWorkers(env, { trainMs: 100 }).then((w) => w.workers.length);
    const { jobId } = await env.pipeline.enqueue({ policy: 'compression', epochs: 2 });
    await next('train-started');
    const killedAt = Date.now();
    await kill(child);
    const result = await env.pipeline.waitFor(jobId, 60_000);
    const recoveryMs = Date.now() - killedAt;
    assert.equal(result.train.version, 1);
    assert.equal(result.promote?.promoted, true);
    const starts = await logLines(env.dir, 'train-starts.log');
    assert.equal(starts.length, 2, 'trained by the killed worker, then once more by the survivor');
    assert.notEqual(starts[0]?.split(' ')[0], starts[1]?.split(' ')[0]);
    assert.deepEqual(await logLines(env.dir, 'registrations.log'), [`${process.pid} compression v1`]);
    const job = await env.pipeline.trainJob(jobId);
    assert.equal(job?.stalledCounter, 1);
    assert.ok(recoveryMs >= LOCK_MS, `taken over after the lock expired (${recoveryMs} ms)`);
    console.log(
      `# stalled train job recovered and completed ${recoveryMs} ms after SIGKILL (lock ${LOCK_MS} ms, stall check ${STALL_CHECK_MS} ms)`,
    );
  });

  test('a worker killed between registering and recording it: the rerun finds the registration, nothing is registered twice', async () => {
    const env = await makeEnv();
    const { child, next } = forkWorker(env, { trainMs: 50, holdAfterRegisterMs: 60_000 });
    await next('ready');
    await startWorkers(env, { trainMs: 50 });
    const { jobId } = await env.pipeline.enqueue({ policy: 'compression', epochs: 2 });
    await next('registered');
    await kill(child);
    const result = await env.pipeline.waitFor(jobId, 60_000);
    assert.equal(result.train.version, 1);
    assert.equal(result.train.reused, true);
    assert.equal(result.promote?.champion, 1);
    assert.equal((await logLines(env.dir, 'train-starts.log')).length, 1, 'the survivor did not train again');
    assert.equal((await logLines(env.dir, 'registrations.log')).length, 1);
  });

  test('duplicate triggers with the same data and config train once', async () => {
    const env = await makeEnv();
    await startWorkers(env, { trainMs: 300 });
    const request = { policy: 'compression', epochs: 3 } as const;
    const adds = await Promise.all(Array.from({ length: 6 }, (_, i) => env.pipeline.enqueue({ ...request, margin: 0.01 + i / 100 })));
    const ids = new Set(adds.map((a) => a.jobId));
    assert.equal(ids.size, 1);
    const [jobId] = ids;
    const first = await env.pipeline.waitFor(jobId!, 30_000);
    const later = await env.pipeline.enqueue({ ...request, trigger: { kind: 'labels', at: Date.now() } });
    assert.deepEqual(later, { jobId, duplicate: true });
    assert.deepEqual(await env.pipeline.result(jobId!), first);
    assert.equal((await logLines(env.dir, 'train-starts.log')).length, 1);
    assert.equal((await logLines(env.dir, 'registrations.log')).length, 1);
    // Different data (a new label watermark) is a different cycle.
    const other = await env.pipeline.enqueue({ ...request, watermark: { count: 5, through: 'e5', digest: 'd'.repeat(64) } });
    assert.notEqual(other.jobId, jobId);
    assert.equal(other.duplicate, false);
  });

  test('a retryable failure is retried with exponential backoff; a non-retryable one fails at once', async () => {
    const env = await makeEnv({ attempts: 3, backoffMs: 300 });
    await startWorkers(env, { failures: 2 });
    const { jobId } = await env.pipeline.enqueue({ policy: 'compression', epochs: 1 });
    const r = await env.pipeline.waitFor(jobId, 30_000);
    assert.equal(r.train.version, 1);
    const times = (await logLines(env.dir, 'train-starts.log')).map((l) => Number(l.split(' ')[1]));
    assert.equal(times.length, 3);
    const gaps = [times[1]! - times[0]!, times[2]! - times[1]!];
    assert.ok(gaps[0]! >= 300 && gaps[1]! >= 600, `backoff gaps ${gaps.join(', ')} ms`);
    assert.equal((await env.pipeline.trainJob(jobId))?.attemptsMade, 3);

    const env2 = await makeEnv({ attempts: 3, backoffMs: 100 });
    await startWorkers(env2, { failures: 5, failWith: () => new SyncPilotError('SP_ERR_DATASET_INVALID', 'no rows') });
    const bad = await env2.pipeline.enqueue({ policy: 'compression', epochs: 1 });
    await assert.rejects(env2.pipeline.waitFor(bad.jobId, 30_000), /train: SP_ERR_DATASET_INVALID: no rows/);
    assert.equal((await logLines(env2.dir, 'train-starts.log')).length, 1);
    assert.deepEqual(await env2.pipeline.states(bad.jobId), { train: 'failed', evaluate: 'failed', promote: 'failed' });
    // The failed cycle may be asked for again: it is replaced, not deduplicated away.
    const retry = await env2.pipeline.enqueue({ policy: 'compression', epochs: 1 });
    assert.deepEqual(retry, { jobId: bad.jobId, duplicate: false });
  });

  test(
    'real trainer and registry: a worker killed mid-epoch, the survivor retrains and exactly one version is registered and promoted',
    { skip: existsSync(CANTERBURY) ? false : '../shared/data/corpora/canterbury absent' },
    async () => {
      const env = await makeEnv();
      const stall = { lockDuration: 5000, stalledInterval: 1000, maxStalledCount: 2 };
      const { child, next } = forkWorker(env, {
        trainMs: 0,
        real: true,
        lockDuration: stall.lockDuration,
        stalledInterval: stall.stalledInterval,
      });
      await next('ready');
      const survivorDeps = createPipelineDeps({ dataDir: env.dir });
      const { jobId } = await env.pipeline.enqueue({ policy: 'compression', epochs: 30 });
      await next('train-started');
      await kill(child);
      const survivor = await startPipelineWorkers({
        redisUrl,
        prefix: env.prefix,
        deps: survivorDeps,
        stall: { train: stall, evaluate: stall, promote: stall },
      });
      env.workers.push(survivor);
      try {
        const r = await env.pipeline.waitFor(jobId, 120_000);
        const registry = await survivorDeps.registry();
        assert.deepEqual(await registry.versions('compression'), [1]);
        assert.equal(r.train.version, 1);
        assert.equal((await env.pipeline.trainJob(jobId))?.stalledCounter, 1);
        // The cycle ran to its end either way; a model this short-trained may lose to the baseline.
        assert.equal(r.promote?.promoted, r.evaluate?.eligible);
        assert.equal((await registry.state('compression')).champion, r.promote?.promoted === true ? 1 : null);
      } finally {
        await survivor.close();
        await survivorDeps.close();
      }
    },
  );

  test('a BullMQ job scheduler fires through the trigger worker; ticks over unchanged data train once', async () => {
    const env = await makeEnv();
    await startWorkers(env);
    await env.pipeline.schedule('retrain-compression', 1000, { policy: 'compression', epochs: 1 });
    const deadline = Date.now() + 30_000;
    while (((await env.pipeline.counts()).trigger['completed'] ?? 0) < 3) {
      assert.ok(Date.now() < deadline, 'three scheduled ticks within 30 s');
      await delay(100);
    }
    assert.equal(await env.pipeline.unschedule('retrain-compression'), true);
    const counts = await env.pipeline.counts();
    assert.equal(counts.promote['completed'], 1, 'one cycle for three ticks');
    assert.equal((await logLines(env.dir, 'train-starts.log')).length, 1);
  });

  test('the in-process runner gives the same cycle (same id, same outcome) without Redis', async () => {
    const env = await makeEnv();
    await startWorkers(env);
    const request = { policy: 'compression', epochs: 2, seed: 7 } as const;
    const { jobId } = await env.pipeline.enqueue(request);
    const viaBull = await env.pipeline.waitFor(jobId, 30_000);
    const dir = await mkdtemp(join(tmpdir(), 'sp-pipelines-inproc-eq-'));
    try {
      const runner = new InProcessRunner({ deps: createFakeDeps({ dir }) });
      const inProcess = await runner.run(request);
      await runner.close();
      const strip = (r: typeof viaBull) => ({
        ...r,
        train: { ...r.train, modelSha256: '', trainMs: 0 },
      });
      assert.deepEqual(strip(inProcess), strip(viaBull));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

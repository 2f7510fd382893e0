import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { InProcessRunner } from '../../pipelines/runner/in-process.ts';
import { createFakeDeps, logLines } from '../fixtures/pipelines-fake-deps.ts';

describe('InProcessRunner', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-pipelines-inproc-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('runs train → evaluate → promote with the job functions', async () => {
    const progress: number[] = [];
    const runner = new InProcessRunner({ deps: createFakeDeps({ dir }), onProgress: (_id, p) => progress.push(p.epoch) });
    const r = await runner.run({ policy: 'compression', epochs: 3 });
    await runner.close();
    assert.equal(r.train.version, 1);
    assert.equal(r.evaluate?.eligible, true);
    assert.equal(r.promote?.promoted, true);
    assert.equal(r.promote?.champion, 1);
    assert.deepEqual(progress, [1, 2, 3]);
  });

  test('duplicate requests, concurrent or later, collapse into one training', async () => {
    const runner = new InProcessRunner({ deps: createFakeDeps({ dir, trainMs: 100 }) });
    const results = await Promise.all(Array.from({ length: 5 }, () => runner.enqueue({ policy: 'compression', margin: 0.02 })));
    assert.equal(new Set(results.map((r) => r.jobId)).size, 1);
    assert.deepEqual(
      results.map((r) => r.duplicate),
      [false, true, true, true, true],
    );
    await runner.result(results[0]!.jobId);
    assert.equal((await runner.enqueue({ policy: 'compression' })).duplicate, true);
    await runner.close();
    // A new runner (a restarted process) finds the finished cycle in the ledger: no new training.
    const restarted = new InProcessRunner({ deps: createFakeDeps({ dir }) });
    const again = await restarted.run({ policy: 'compression' });
    await restarted.close();
    assert.equal(again.train.reused, true);
    assert.equal(again.promote?.promoted, true);
    assert.equal((await logLines(dir, 'train-starts.log')).length, 1);
    assert.equal((await logLines(dir, 'registrations.log')).length, 1);
  });

  test('retries a retryable failure with exponential backoff', async () => {
    const waits: number[] = [];
    const runner = new InProcessRunner({
      deps: createFakeDeps({ dir, failures: 2 }),
      retry: { attempts: 3, backoffMs: 100 },
      sleep: async (ms) => void waits.push(ms),
    });
    const r = await runner.run({ policy: 'compression' });
    await runner.close();
    assert.equal(r.train.version, 1);
    assert.deepEqual(waits, [100, 200]);
    assert.equal((await logLines(dir, 'train-starts.log')).length, 3);
  });

  test('gives up after the last attempt, and a failed cycle may be requested again', async () => {
    const waits: number[] = [];
    const runner = new InProcessRunner({
      deps: createFakeDeps({ dir, failures: 3 }),
      retry: { attempts: 2, backoffMs: 10 },
      sleep: async (ms) => void waits.push(ms),
    });
    const { jobId } = await runner.enqueue({ policy: 'compression' });
    await assert.rejects(runner.result(jobId), /fake training failure 2/);
    assert.deepEqual(waits, [10]);
    // Third training fails again (attempt 1), fourth succeeds.
    const r = await runner.run({ policy: 'compression' });
    assert.equal(r.jobId, jobId);
    assert.equal(r.train.version, 1);
    await runner.close();
  });

  test('a non-retryable failure fails at once', async () => {
    const runner = new InProcessRunner({
      deps: createFakeDeps({ dir, failures: 1, failWith: () => new SyncPilotError('SP_ERR_DATASET_INVALID', 'no rows') }),
      sleep: async () => assert.fail('no retry expected'),
    });
    await assert.rejects(
      runner.run({ policy: 'compression' }),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_DATASET_INVALID',
    );
    await runner.close();
    assert.equal((await logLines(dir, 'train-starts.log')).length, 1);
  });

  test('promote: false only registers a challenger', async () => {
    const deps = createFakeDeps({ dir });
    const runner = new InProcessRunner({ deps });
    const r = await runner.run({ policy: 'compression', promote: false });
    await runner.close();
    assert.equal(r.train.version, 1);
    assert.equal(r.promote, undefined);
    assert.equal(await deps.registry.champion('compression'), null);
  });

  test('refuses work after close', async () => {
    const runner = new InProcessRunner({ deps: createFakeDeps({ dir }) });
    await runner.close();
    await assert.rejects(
      runner.enqueue({ policy: 'compression' }),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CLOSED',
    );
  });
});

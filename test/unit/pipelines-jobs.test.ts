import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { evaluateJob } from '../../pipelines/jobs/evaluate-job.ts';
import { JobLedger } from '../../pipelines/jobs/job-ledger.ts';
import { canonicalJson, pipelineJobId } from '../../pipelines/jobs/job-id.ts';
import { parseTrainRequest } from '../../pipelines/jobs/job-schemas.ts';
import { prepareTrainPayload } from '../../pipelines/jobs/prepare-train.ts';
import { promoteJob } from '../../pipelines/jobs/promote-job.ts';
import { trainJob } from '../../pipelines/jobs/train-job.ts';
import { createFakeDeps, logLines } from '../fixtures/pipelines-fake-deps.ts';

const FP = 'a'.repeat(64);

describe('pipeline job ids', () => {
  test('canonical JSON ignores key order and drops undefined members', () => {
    assert.equal(canonicalJson({ b: 1, a: [1, { d: 2, c: 'x' }] }), canonicalJson({ a: [1, { c: 'x', d: 2 }], b: 1 }));
    assert.equal(canonicalJson({ a: 1, b: undefined } as never), '{"a":1}');
  });

  test('the id depends on policy, data fingerprint and config, and nothing else', () => {
    const id = pipelineJobId('compression', FP, { seed: 1, epochs: 10 });
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(id, pipelineJobId('compression', FP, { epochs: 10, seed: 1 }));
    assert.notEqual(id, pipelineJobId('anomaly', FP, { seed: 1, epochs: 10 }));
    assert.notEqual(id, pipelineJobId('compression', 'b'.repeat(64), { seed: 1, epochs: 10 }));
    assert.notEqual(id, pipelineJobId('compression', FP, { seed: 2, epochs: 10 }));
  });

  test('margin, trigger and promotion choice do not change the id; watermarks do', async () => {
    const deps = { fingerprintData: async () => FP };
    const a = await prepareTrainPayload(parseTrainRequest({ policy: 'compression', margin: 0.05 }), deps);
    const b = await prepareTrainPayload(
      parseTrainRequest({ policy: 'compression', promote: false, trigger: { kind: 'schedule', at: 5 } }),
      deps,
    );
    const c = await prepareTrainPayload(
      parseTrainRequest({ policy: 'compression', watermark: { count: 3, through: 'e3', digest: 'c'.repeat(64) } }),
      deps,
    );
    assert.equal(a.jobId, b.jobId);
    assert.notEqual(a.jobId, c.jobId);
    assert.notEqual(a.dataFingerprint, c.dataFingerprint);
  });

  test('requests are parsed strictly', () => {
    assert.throws(
      () => parseTrainRequest({ policy: 'compression', bogus: 1 }),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_JOB_INVALID',
    );
    assert.throws(() => parseTrainRequest({ policy: 'nope' }), /SP_ERR_JOB_INVALID|policy/);
  });
});

describe('pipeline jobs', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-pipelines-jobs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const payload = async (deps: Parameters<typeof prepareTrainPayload>[1], extra: Record<string, unknown> = {}) =>
    prepareTrainPayload(parseTrainRequest({ policy: 'compression', epochs: 2, ...extra }), deps);

  test('trainJob registers once however often it runs, and survives a crash between register and its record', async () => {
    const deps = createFakeDeps({ dir });
    const p = await payload(deps);
    const first = await trainJob(p, deps);
    assert.equal(first.version, 1);
    assert.equal(first.reused, false);
    const again = await trainJob(p, deps);
    assert.deepEqual({ ...again, reused: false }, first);
    assert.equal(again.reused, true);
    // A worker that died after registering but before recording the result:
    await unlink(join(new JobLedger(deps.workDir, p.jobId).dir, 'result.json'));
    const afterCrash = await trainJob(p, deps);
    assert.equal(afterCrash.version, 1);
    assert.equal(afterCrash.reused, true);
    assert.equal((await logLines(dir, 'registrations.log')).length, 1);
    assert.equal((await logLines(dir, 'train-starts.log')).length, 1);
  });

  test('trainJob reuses a model trained by an attempt that died before registering', async () => {
    let registerCalls = 0;
    const deps = createFakeDeps({ dir });
    const p = await payload(deps);
    const flaky = {
      ...deps,
      openRegistry: async () => ({
        ...deps.registry,
        cards: deps.registry.cards.bind(deps.registry),
        show: deps.registry.show.bind(deps.registry),
        modelDir: deps.registry.modelDir.bind(deps.registry),
        champion: deps.registry.champion.bind(deps.registry),
        promote: deps.registry.promote.bind(deps.registry),
        register: async (d: string) => {
          if (registerCalls++ === 0) throw new Error('registry unavailable');
          return deps.registry.register(d);
        },
      }),
    };
    await assert.rejects(trainJob(p, flaky), /registry unavailable/);
    const r = await trainJob(p, flaky);
    assert.equal(r.version, 1);
    assert.equal((await logLines(dir, 'train-starts.log')).length, 1, 'the second attempt did not train again');
    assert.equal((await logLines(dir, 'registrations.log')).length, 1);
  });

  test('evaluate and promote: first model beats the baseline and is promoted; a worse one stays a challenger', async () => {
    const deps = createFakeDeps({ dir, maes: [0.5, 0.499, 0.3] });
    const cycle = async (seed: number) => {
      const p = await payload(deps, { seed });
      const t = await trainJob(p, deps);
      const e = await evaluateJob({ jobId: p.jobId, policy: p.policy, version: t.version, margin: p.margin }, deps);
      const r = await promoteJob(
        { jobId: p.jobId, policy: p.policy, version: t.version, margin: p.margin, eligible: e.eligible, reason: e.reason },
        deps,
      );
      return { t, e, r };
    };
    const one = await cycle(1);
    assert.equal(one.e.eligible, true);
    assert.equal(one.e.primary.baseline, 1);
    assert.equal(one.r.promoted, true);
    assert.equal(await deps.registry.champion('compression'), 1);

    const two = await cycle(2); // 0.499 vs 0.5: better, but not by 1 %
    assert.equal(two.e.eligible, false);
    assert.match(two.e.reason, /does not beat/);
    assert.equal(two.e.primary.champion, 0.5);
    assert.equal(two.r.promoted, false);
    assert.equal(await deps.registry.champion('compression'), 1);

    const three = await cycle(3);
    assert.equal(three.r.promoted, true);
    assert.equal(three.r.champion, 3);
    // Promoting the champion again (a retried promote job) is a no-op success.
    const again = await promoteJob(
      { jobId: three.t.jobId, policy: 'compression', version: 3, margin: 0.01, eligible: true, reason: 'x' },
      deps,
    );
    assert.equal(again.promoted, true);
    assert.equal(again.champion, 3);
  });

  test('a model worse than the baseline is not eligible', async () => {
    const deps = createFakeDeps({ dir, maes: [1.5] });
    const p = await payload(deps);
    const t = await trainJob(p, deps);
    const e = await evaluateJob({ jobId: p.jobId, policy: 'compression', version: t.version, margin: 0.01 }, deps);
    assert.equal(e.eligible, false);
    assert.match(e.reason, /baseline/);
  });

  test('a gate rejection by the registry is an outcome, not an error', async () => {
    const deps = createFakeDeps({ dir, maes: [0.5, 0.6] });
    const p1 = await payload(deps, { seed: 1 });
    await trainJob(p1, deps);
    await deps.registry.promote('compression', 1, { margin: 0 });
    const p2 = await payload(deps, { seed: 2 });
    const t2 = await trainJob(p2, deps);
    // The evaluation said yes (say, an old verdict) but the registry's gate says no.
    const r = await promoteJob(
      { jobId: p2.jobId, policy: 'compression', version: t2.version, margin: 0.01, eligible: true, reason: 'stale' },
      deps,
    );
    assert.equal(r.promoted, false);
    assert.equal(r.champion, 1);
    assert.match(r.reason, /does not beat/);
  });

  test('evaluate refuses a registered model whose file was damaged', async () => {
    const deps = createFakeDeps({ dir });
    const p = await payload(deps);
    const t = await trainJob(p, deps);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(deps.registry.modelDir('compression', t.version), 'model.onnx'), 'garbage');
    await assert.rejects(
      evaluateJob({ jobId: p.jobId, policy: 'compression', version: t.version, margin: 0.01 }, deps),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_MODEL_CORRUPT',
    );
  });
});

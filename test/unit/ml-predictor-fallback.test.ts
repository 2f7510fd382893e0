import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Predictor } from '../../src/ml/predictor.ts';
import { assertClose, referenceForward, testInputs } from '../../src/testing/model-runtime-conformance.ts';
import { deferred, failingModel, jsModel, sumBaseline, tracked } from '../fixtures/ml-runtime-models.ts';

const row = (seed: number): Float32Array => testInputs(1, 4, seed);

describe('Predictor: model, baseline, budget and failures', () => {
  test('without a model the baseline answers, with no code', async () => {
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 50 });
    const x = row(1);
    const r = await p.predict(x);
    assert.equal(r.source, 'baseline');
    assert.equal(r.model, null);
    assert.equal(r.code, undefined);
    assert.deepEqual(r.output, sumBaseline(x));
    assert.ok(r.latencyMicros >= 0);
    await p.close();
  });

  test('with a model: its outputs, tagged with its name and version, batched', async () => {
    const { net, model } = jsModel(3);
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 1000, maxBatch: 16, maxWaitMs: 2 });
    p.swap(model);
    const xs = Array.from({ length: 40 }, (_, i) => row(i));
    const rs = await Promise.all(xs.map((x) => p.predict(x)));
    for (const [i, r] of rs.entries()) {
      assert.equal(r.source, 'model');
      assert.deepEqual(r.model, { name: 'test-model', version: 3 });
      assert.equal(r.code, undefined);
      assertClose(r.output, referenceForward(net, xs[i]!, 1), 1e-5, `row ${i}`);
    }
    const s = p.stats();
    assert.equal(s.model, 40);
    assert.ok(s.batches <= 4 && s.largestBatch === 16, `batched: ${s.batches} batches, largest ${s.largestBatch}`);
    await p.close();
  });

  test('over budget: the baseline answers with SP_ERR_INFERENCE_FAILED at the budget, and the late result is dropped', async () => {
    const gate = deferred();
    const slow = tracked(jsModel(1).model, () => gate.promise);
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 30, maxWaitMs: 0 });
    p.swap(slow);
    const t0 = performance.now();
    const rs = await Promise.all([row(1), row(2), row(3)].map((x) => p.predict(x)));
    const waited = performance.now() - t0;
    assert.ok(waited >= 25 && waited < 1000, `answered at the budget (${waited.toFixed(1)} ms)`);
    for (const r of rs) {
      assert.equal(r.source, 'baseline');
      assert.equal(r.code, 'SP_ERR_INFERENCE_FAILED');
      assert.equal(r.model, null);
    }
    assert.equal(p.stats().overBudget, 3);
    gate.resolve();
    await p.close();
    assert.equal(slow.closeCalls, 1);
  });

  test('a failing model: baseline with SP_ERR_INFERENCE_FAILED; predict never rejects', async () => {
    const bad = failingModel(2);
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 1000, maxWaitMs: 0 });
    p.swap(bad);
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => p.predict(row(i))));
    assert.ok(rs.every((r) => r.source === 'baseline' && r.code === 'SP_ERR_INFERENCE_FAILED'));
    assert.equal(p.stats().failed, 10);
    await p.close();
  });

  test('features of the wrong width get the baseline with a code; the rest of their batch is served', async () => {
    const { model } = jsModel(1);
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 1000, maxWaitMs: 0 });
    p.swap(model);
    const [good, short, good2] = await Promise.all([p.predict(row(1)), p.predict(new Float32Array(3)), p.predict(row(2))]);
    assert.equal(good?.source, 'model');
    assert.equal(good2?.source, 'model');
    assert.equal(short?.source, 'baseline');
    assert.equal(short?.code, 'SP_ERR_INFERENCE_FAILED');
    await p.close();
  });

  test('a throwing baseline still resolves: empty output, SP_ERR_INTERNAL', async () => {
    const p = new Predictor({
      policy: 'compression',
      baseline: () => {
        throw new Error('bug');
      },
      budgetMs: 10,
    });
    const r = await p.predict(row(1));
    assert.equal(r.source, 'baseline');
    assert.equal(r.code, 'SP_ERR_INTERNAL');
    assert.equal(r.output.length, 0);
    await p.close();
  });

  test('close: queued requests are answered by the model, later ones get SP_ERR_CLOSED, models are closed', async () => {
    const m = tracked(jsModel(1).model);
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 60_000, maxWaitMs: 60_000 });
    p.swap(m);
    const pending = p.predict(row(1));
    await p.close();
    assert.equal((await pending).source, 'model', 'queued request drained on close');
    const after = await p.predict(row(2));
    assert.equal(after.source, 'baseline');
    assert.equal(after.code, 'SP_ERR_CLOSED');
    assert.equal(m.closeCalls, 1);
    const late = tracked(jsModel(2).model);
    p.swap(late);
    await p.close();
    assert.equal(late.closeCalls, 1, 'a model handed over after close is closed, not leaked');
    assert.deepEqual(m.violations, []);
  });

  test('rejects a bad configuration with SP_ERR_CONFIG_INVALID', () => {
    for (const bad of [{ budgetMs: 0 }, { shadowSampleRate: 1.5 }, { shadowSampleRate: -0.1 }, { maxBatch: 0 }]) {
      assert.throws(() => new Predictor({ policy: 'compression', baseline: sumBaseline, ...bad }), { code: 'SP_ERR_CONFIG_INVALID' });
    }
  });
});

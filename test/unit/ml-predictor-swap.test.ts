import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Predictor } from '../../src/ml/predictor.ts';
import { testInputs } from '../../src/testing/model-runtime-conformance.ts';
import { deferred, jsModel, sumBaseline, tracked } from '../fixtures/ml-runtime-models.ts';

const row = (seed: number): Float32Array => testInputs(1, 4, seed);
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Predictor: swapping models', () => {
  test('a batch running on the old model finishes on it; later batches use the new one; the old is closed once drained', async () => {
    const gate = deferred();
    const old = tracked(jsModel(1).model, (n) => (n === 1 ? gate.promise : undefined));
    const next = tracked(jsModel(2).model);
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 60_000, maxWaitMs: 0 });
    p.swap(old);
    const early = [p.predict(row(1)), p.predict(row(2))];
    await turn();
    assert.equal(old.runs, 1, 'the first batch is running on v1');
    p.swap(next);
    assert.deepEqual(p.champion, { name: 'test-model', version: 2 });
    const late = [p.predict(row(3)), p.predict(row(4))];
    await turn();
    assert.equal(old.closed, false, 'not closed while its batch runs');
    gate.resolve();
    const [e1, e2, l1, l2] = await Promise.all([...early, ...late]);
    assert.deepEqual(
      [e1, e2].map((r) => r?.model?.version),
      [1, 1],
    );
    assert.deepEqual(
      [l1, l2].map((r) => r?.model?.version),
      [2, 2],
    );
    assert.equal(old.closeCalls, 1);
    assert.equal(next.closed, false);
    assert.deepEqual([...old.violations, ...next.violations], []);
    await p.close();
    assert.equal(next.closeCalls, 1);
  });

  test('swap(null) goes back to the baseline (no code); swapping in the same model twice does not close it', async () => {
    const m = tracked(jsModel(1).model);
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 1000 });
    p.swap(m);
    p.swap(m);
    assert.equal(m.closed, false);
    assert.equal((await p.predict(row(1))).source, 'model');
    p.swap(null);
    const r = await p.predict(row(1));
    assert.equal(r.source, 'baseline');
    assert.equal(r.code, undefined);
    assert.equal(m.closeCalls, 1);
    await p.close();
  });

  test('update() moves a challenger to champion and back without closing either', async () => {
    const a = tracked(jsModel(1).model);
    const b = tracked(jsModel(2).model);
    // No shadow runs: a shadow run in flight would (rightly) delay closing `a`.
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 1000, shadowSampleRate: 0 });
    p.update(a, [b]);
    p.update(b, [a]); // promotion: the challenger becomes champion, the champion a challenger
    assert.equal((await p.predict(row(1))).model?.version, 2);
    p.setShadows([]);
    assert.deepEqual([a.closeCalls, b.closeCalls], [1, 0]);
    p.swap(null);
    await p.close();
    assert.deepEqual([a.closeCalls, b.closeCalls], [1, 1]);
    assert.deepEqual(p.stats().shadows, []);
  });
});

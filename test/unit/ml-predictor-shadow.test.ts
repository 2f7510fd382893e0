import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Predictor } from '../../src/ml/predictor.ts';
import { parseEvent } from '../../src/telemetry/events/index.ts';
import { assertClose, referenceForward, testInputs } from '../../src/testing/model-runtime-conformance.ts';
import { failingModel, jsModel, MemorySink, sumBaseline, tracked } from '../fixtures/ml-runtime-models.ts';

const rows = (n: number): Float32Array[] => Array.from({ length: n }, (_, i) => testInputs(1, 4, 500 + i));

describe('Predictor: shadow challengers', () => {
  test('challengers run on the same batches; their outputs go to telemetry only, paired with the champion by input digest', async () => {
    const sink = new MemorySink();
    const champion = jsModel(1);
    const challenger = jsModel(2);
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 1000, maxWaitMs: 0, telemetry: sink, tenant: 't1' });
    p.update(champion.model, [challenger.model]);
    const xs = rows(24);
    const rs = await Promise.all(xs.map((x) => p.predict(x)));
    assert.ok(
      rs.every((r) => r.model?.version === 1),
      'responses come from the champion only',
    );
    await p.close(); // waits for shadow runs still in flight
    const events = sink.events.map((e) => parseEvent(e));
    assert.equal(events.length, 48);
    const byDigest = new Map<string, { champion?: number; shadow?: number }>();
    for (const e of events) {
      assert.equal(e.type, 'syncpilot.prediction.v1');
      if (e.type !== 'syncpilot.prediction.v1') continue;
      assert.equal(e.tenant, 't1');
      assert.equal(e.data.policy, 'compression');
      assert.equal(e.data.model.id, 'compression/test-model');
      assert.equal(e.data.shadow, e.data.model.version === '2');
      const pair = byDigest.get(e.data.inputsDigest) ?? {};
      pair[e.data.shadow ? 'shadow' : 'champion'] = e.data.output as number;
      byDigest.set(e.data.inputsDigest, pair);
    }
    assert.equal(byDigest.size, 24, 'one digest per distinct input');
    // Each recorded output is what that model computes for that input.
    for (const [i, x] of xs.entries()) {
      const want1 = referenceForward(champion.net, x, 1)[0]!;
      const want2 = referenceForward(challenger.net, x, 1)[0]!;
      assertClose(rs[i]!.output, [want1], 1e-5, `response ${i}`);
      const pair = [...byDigest.values()].find((v) => v.champion !== undefined && Math.abs(v.champion - want1) < 1e-5);
      assert.ok(pair !== undefined, `champion event for row ${i}`);
      assert.ok(Math.abs(pair.shadow! - want2) < 1e-5, `shadow output for row ${i}`);
    }
    assert.equal(p.stats().shadowRuns, p.stats().batches);
  });

  test('shadowSampleRate picks which batches the shadows run on', async () => {
    const sink = new MemorySink();
    const shadow = tracked(jsModel(2).model);
    let flip = 0;
    const p = new Predictor({
      policy: 'compression',
      baseline: sumBaseline,
      budgetMs: 1000,
      maxWaitMs: 0,
      telemetry: sink,
      shadowSampleRate: 0.5,
      random: () => (flip++ % 2 === 0 ? 0.1 : 0.9),
    });
    p.update(jsModel(1).model, [shadow]);
    for (const x of rows(10)) await p.predict(x); // ten batches of one
    await p.close();
    assert.equal(shadow.runs, 5);
    assert.equal(sink.events.length, 10);

    const none = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 1000, telemetry: sink, shadowSampleRate: 0 });
    const idle = tracked(jsModel(3).model);
    none.update(jsModel(1).model, [idle]);
    await Promise.all(rows(5).map((x) => none.predict(x)));
    await none.close();
    assert.equal(idle.runs, 0);
    assert.equal(sink.events.length, 10);
  });

  test('a failing challenger never affects responses', async () => {
    const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 1000, maxWaitMs: 0, telemetry: new MemorySink() });
    const bad = failingModel(9);
    p.update(jsModel(1).model, [bad]);
    const rs = await Promise.all(rows(30).map((x) => p.predict(x)));
    assert.ok(rs.every((r) => r.source === 'model' && r.model?.version === 1));
    await p.close();
    assert.ok(p.stats().shadowFailures >= 1);
    assert.equal(bad.closeCalls, 1);
  });
});

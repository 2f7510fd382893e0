import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DenseNetwork } from '../../src/ml/dense-network.ts';
import { Predictor } from '../../src/ml/predictor.ts';
import { createJsRuntime } from '../../src/ml/runtime/js-runtime.ts';
import { createOnnxRuntime } from '../../src/ml/runtime/onnx-runtime.ts';
import { referenceForward, testInputs, type TestArchitecture } from '../../src/testing/model-runtime-conformance.ts';
import { runtimeModel, sumBaseline, tracked, type TrackedModel } from '../fixtures/ml-runtime-models.ts';
import type { ModelRuntime } from '../../src/ml/model-runtime.ts';

const ARCH: TestArchitecture = { widths: [8, 32, 4], activations: ['tanh', 'softmax'] };
const VERSIONS = 7; // v1 serves first, then six swaps
const TOTAL = 24_000;
const CALLERS = 96;
const SWAP_EVERY = Math.floor(TOTAL / VERSIONS);

/**
 * Sustained concurrent inference across several swaps. Every response must come from the model
 * (zero failed), carry the version of a model that was champion at some point while the request
 * was in flight, hold exactly that version's output for its input, and no model may run after it
 * was closed.
 */
async function hotSwapUnderLoad(runtime: ModelRuntime): Promise<void> {
  const nets = new Map<number, DenseNetwork>();
  const models = new Map<number, TrackedModel>();
  for (let v = 1; v <= VERSIONS; v++) {
    const { net, model } = await runtimeModel(runtime, v, ARCH);
    nets.set(v, net);
    models.set(v, tracked(model));
  }
  const pool = Array.from({ length: 512 }, (_, i) => testInputs(1, 8, 10_000 + i));
  const expected = new Map<string, Float64Array>();
  const want = (v: number, i: number): Float64Array => {
    const key = `${v}:${i}`;
    let y = expected.get(key);
    if (y === undefined) expected.set(key, (y = referenceForward(nets.get(v)!, pool[i]!, 1)));
    return y;
  };

  const p = new Predictor({ policy: 'compression', baseline: sumBaseline, budgetMs: 10_000, maxBatch: 64, maxWaitMs: 1 });
  const championOfEpoch: number[] = [1];
  p.swap(models.get(1)!);
  let issued = 0;
  let completed = 0;
  let straddled = 0;
  const failures: string[] = [];
  const servedBy = new Map<number, number>();

  async function caller(): Promise<void> {
    while (issued < TOTAL) {
      const i = issued++ % pool.length;
      const startEpoch = championOfEpoch.length - 1;
      const r = await p.predict(pool[i]!);
      const endEpoch = championOfEpoch.length - 1;
      completed++;
      if (startEpoch !== endEpoch) straddled++;
      if (r.source !== 'model' || r.model === null) {
        failures.push(`request ${completed}: ${r.source} ${r.code ?? ''}`);
      } else {
        const v = r.model.version;
        servedBy.set(v, (servedBy.get(v) ?? 0) + 1);
        if (!championOfEpoch.slice(startEpoch, endEpoch + 1).includes(v)) {
          failures.push(`tagged v${v}, champions in flight were ${championOfEpoch.slice(startEpoch, endEpoch + 1).join(',')}`);
        }
        const y = want(v, i);
        for (let k = 0; k < y.length; k++) {
          if (!(Math.abs(r.output[k]! - y[k]!) <= 1e-5)) failures.push(`tagged v${v} but the output is not v${v}'s`);
        }
      }
      if (completed % SWAP_EVERY === 0 && championOfEpoch.length < VERSIONS) {
        const next = championOfEpoch.length + 1;
        championOfEpoch.push(next);
        p.swap(models.get(next)!);
      }
    }
  }

  await Promise.all(Array.from({ length: CALLERS }, () => caller()));
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failed or mistagged responses`);
  assert.equal(completed, TOTAL);
  assert.equal(championOfEpoch.length, VERSIONS, 'every swap happened');
  for (let v = 1; v <= VERSIONS; v++) assert.ok((servedBy.get(v) ?? 0) > 0, `v${v} served`);
  assert.ok(straddled > 0, 'some requests were in flight across a swap');
  for (let v = 1; v < VERSIONS; v++) assert.equal(models.get(v)!.closeCalls, 1, `retired v${v} closed once`);
  assert.equal(models.get(VERSIONS)!.closed, false, 'the champion stays open');
  await p.close();
  assert.equal(models.get(VERSIONS)!.closeCalls, 1);
  const violations = [...models.values()].flatMap((m) => m.violations);
  assert.deepEqual(violations, [], 'no model ran after it was closed');
  const s = p.stats();
  assert.equal(s.baseline, 0);
  assert.ok(s.largestBatch > 1, 'requests were batched');
}

describe('hot swap under sustained load', () => {
  test(`pure JS runtime: ${TOTAL} predictions, ${CALLERS} callers, ${VERSIONS - 1} swaps`, () => hotSwapUnderLoad(createJsRuntime()));
  test(`onnxruntime-node: ${TOTAL} predictions, ${CALLERS} callers, ${VERSIONS - 1} swaps`, () => hotSwapUnderLoad(createOnnxRuntime()));
});

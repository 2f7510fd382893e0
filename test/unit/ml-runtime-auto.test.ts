import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createAutoRuntime } from '../../src/ml/runtime/auto-runtime.ts';
import { runModelRuntimeConformance, testInputs } from '../../src/testing/model-runtime-conformance.ts';
import type { LoadedModel } from '../../src/ml/model-runtime.ts';
import { versionedModel } from '../fixtures/ml-runtime-models.ts';

// Small calls of the suite run on JS, large ones on onnxruntime: both must meet the reference.
runModelRuntimeConformance('auto (per call by work)', () => createAutoRuntime());
runModelRuntimeConformance('auto (always onnxruntime)', () => createAutoRuntime({ jsMaxWork: 0 }));

/**
 * Which runtime answered: the JS pass resolves within the current turn's microtasks, while
 * onnxruntime-node runs its session in a setImmediate callback.
 */
async function answeredWithinTurn(model: LoadedModel, rows: number): Promise<boolean> {
  let done = false;
  const run = model.run(testInputs(rows, model.inputs, rows), rows).then(() => (done = true));
  for (let i = 0; i < 10; i++) await Promise.resolve(); // a few microtask turns, no macrotask
  const within = done;
  await run;
  return within;
}

describe('createAutoRuntime', () => {
  test('small calls run on the JS forward pass, large ones on onnxruntime', async () => {
    const compression = versionedModel(1, { widths: [12, 32, 16, 1], activations: ['relu', 'relu', 'linear'] }); // 961 parameters
    const auto = createAutoRuntime();
    const m = await auto.load(compression.bytes, compression.card);
    assert.equal(m.runtime, 'auto');
    assert.equal(await answeredWithinTurn(m, 1), true, '961 multiply-adds: JS');
    assert.equal(await answeredWithinTurn(m, 8), true, '7,688: JS');
    assert.equal(await answeredWithinTurn(m, 9), false, '8,649: onnxruntime');
    assert.equal(await answeredWithinTurn(m, 256), false);
    const big = versionedModel(2, { widths: [128, 256, 1], activations: ['relu', 'linear'] });
    const b = await auto.load(big.bytes, big.card);
    assert.equal(await answeredWithinTurn(b, 1), false, 'larger than the limit at one row: onnxruntime only');
    const never = await createAutoRuntime({ jsMaxWork: 0 }).load(compression.bytes, compression.card);
    assert.equal(await answeredWithinTurn(never, 1), false);
    await Promise.all([m.close(), b.close(), never.close()]);
    await assert.rejects(m.run(new Float32Array(12), 1), { code: 'SP_ERR_CLOSED' });
    await assert.rejects(m.run(new Float32Array(12 * 100), 100), { code: 'SP_ERR_CLOSED' });
    assert.throws(() => createAutoRuntime({ jsMaxWork: -1 }), { code: 'SP_ERR_CONFIG_INVALID' });
  });
});

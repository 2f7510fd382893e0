import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DenseNetwork } from '../../src/ml/dense-network.ts';
import { DenseForward } from '../../src/ml/runtime/dense-forward.ts';
import { loadNetwork } from '../../src/ml/runtime/js-runtime.ts';
import {
  assertClose,
  referenceForward,
  testInputs,
  testModelBytes,
  testModelCard,
  testNetwork,
} from '../../src/testing/model-runtime-conformance.ts';

const arch = { widths: [6, 10, 3], activations: ['relu', 'softmax'], normalize: true } as const;

describe('DenseForward and loadNetwork', () => {
  test('scratch reuse: growing, shrinking and very large batches all give the reference answer', () => {
    const net = testNetwork({ widths: [...arch.widths], activations: [...arch.activations], normalize: true }, 1);
    const f = new DenseForward(net);
    for (const rows of [1, 3, 300, 2, 5000, 17, 1]) {
      const x = testInputs(rows, 6, rows);
      const out = new Float32Array(rows * 3);
      f.forward(x, rows, out);
      assertClose(out, referenceForward(net, x, rows), 1e-5, `rows ${rows}`);
    }
    assert.equal(f.parameters, 6 * 10 + 10 + 10 * 3 + 3);
  });

  test('loadNetwork checks the card: io widths → SP_ERR_MODEL_MISMATCH, inconsistent network → SP_ERR_MODEL_CORRUPT', () => {
    const net = testNetwork({ widths: [4, 5, 2], activations: ['tanh', 'linear'] }, 2);
    const card = testModelCard(net, testModelBytes(net));
    assert.equal(loadNetwork(net, card).runtime, 'js');
    assert.throws(() => loadNetwork(net, testModelCard(net, testModelBytes(net), { inputs: 5 })), { code: 'SP_ERR_MODEL_MISMATCH' });
    assert.throws(() => loadNetwork(net, testModelCard(net, testModelBytes(net), { outputs: 1 })), { code: 'SP_ERR_MODEL_MISMATCH' });
    const broken: DenseNetwork[] = [
      { layers: [] },
      { layers: [net.layers[0]!, { ...net.layers[1]!, inputs: 4, weights: new Float32Array(8) }] },
      { layers: [{ ...net.layers[0]!, bias: new Float32Array(1) }, net.layers[1]!] },
      { layers: net.layers, normalize: { mean: new Float32Array(4), std: new Float32Array(4) } },
    ];
    for (const [i, b] of broken.entries()) assert.throws(() => loadNetwork(b, card), { code: 'SP_ERR_MODEL_CORRUPT' }, `case ${i}`);
  });

  test('does not mutate its input', () => {
    const net = testNetwork({ widths: [3, 2], activations: ['sigmoid'], normalize: true }, 3);
    const f = new DenseForward(net);
    const x = testInputs(4, 3, 9);
    const copy = x.slice();
    f.forward(x, 4, new Float32Array(8));
    assert.deepEqual(x, copy);
  });
});

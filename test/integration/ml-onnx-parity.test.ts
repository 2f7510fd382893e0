/**
 * TensorFlow.js (WASM backend) against onnxruntime-node on the models our exporter writes: several
 * architectures and every activation, 1,000 inputs each, max |diff| ≤ 1e-4 — measured by the
 * exporter and again here independently, on other inputs, from the files on disk.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type * as Tf from '@tensorflow/tfjs';
import type * as Ort from 'onnxruntime-node';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { DenseNetwork } from '../../src/ml/dense-network.ts';
import { readModelFiles } from '../../src/ml/model-files.ts';
import { decodeOnnxModel } from '../../src/ml/onnx/decode-onnx.ts';
import { exportModel } from '../../training/export/export-model.ts';
import { parityInputs } from '../../training/export/parity.ts';
import { networkFromTfjs } from '../../training/export/tfjs-to-network.ts';
import { cardFields, seededRandom } from '../fixtures/ml-onnx-examples.ts';
import { variantModel } from '../fixtures/ml-onnx-graph-builder.ts';

const ROWS = 1000;
const TOLERANCE = 1e-4;

let tf: typeof Tf;
let ort: typeof Ort;
let root = '';

before(async () => {
  tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const dist = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
  wasm.setWasmPaths(`${dist}/`);
  assert.ok(await tf.setBackend('wasm'), 'the WASM backend did not initialise');
  ort = await import('onnxruntime-node');
  root = await mkdtemp(join(tmpdir(), 'sp-onnx-parity-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Arch {
  readonly name: string;
  readonly inputs: number;
  readonly layers: readonly { units: number; activation: 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax'; useBias?: boolean }[];
  readonly normalize: boolean;
  /** Build as a functional model with a Dropout layer (identity at inference). */
  readonly functional?: boolean;
}

const ARCHS: readonly Arch[] = [
  {
    name: 'regressor 16→32 relu→16 relu→1 linear, standardised',
    inputs: 16,
    layers: [
      { units: 32, activation: 'relu' },
      { units: 16, activation: 'relu' },
      { units: 1, activation: 'linear' },
    ],
    normalize: true,
  },
  {
    name: 'classifier 8→24 tanh→12 sigmoid→4 softmax, standardised',
    inputs: 8,
    layers: [
      { units: 24, activation: 'tanh' },
      { units: 12, activation: 'sigmoid' },
      { units: 4, activation: 'softmax' },
    ],
    normalize: true,
  },
  {
    name: 'binary 10→32 relu→1 sigmoid, raw inputs',
    inputs: 10,
    layers: [
      { units: 32, activation: 'relu' },
      { units: 1, activation: 'sigmoid' },
    ],
    normalize: false,
  },
  {
    name: 'bias-free 5→3 linear→2 tanh, standardised',
    inputs: 5,
    layers: [
      { units: 3, activation: 'linear', useBias: false },
      { units: 2, activation: 'tanh' },
    ],
    normalize: true,
  },
  {
    name: 'functional 6→16 relu→dropout→3 softmax, standardised',
    inputs: 6,
    layers: [
      { units: 16, activation: 'relu' },
      { units: 3, activation: 'softmax' },
    ],
    normalize: true,
    functional: true,
  },
];

function buildModel(arch: Arch, seed: number): Tf.LayersModel {
  const dense = (i: number, inputShape?: number[]): Tf.layers.Layer => {
    const l = arch.layers[i] ?? { units: 1, activation: 'linear' };
    return tf.layers.dense({
      units: l.units,
      activation: l.activation,
      useBias: l.useBias ?? true,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
      // Non-zero biases, so that the bias path is compared too.
      biasInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.5, seed: seed + 100 + i }),
      ...(inputShape === undefined ? {} : { inputShape }),
    });
  };
  if (arch.functional === true) {
    const input = tf.input({ shape: [arch.inputs] });
    let x = dense(0).apply(input) as Tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: 0.3 }).apply(x) as Tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: dense(1).apply(x) as Tf.SymbolicTensor });
  }
  return tf.sequential({ layers: arch.layers.map((_, i) => (i === 0 ? dense(i, [arch.inputs]) : dense(i))) });
}

function standardisation(n: number, seed: number): { mean: Float32Array; std: Float32Array } {
  const rnd = seededRandom(seed);
  return {
    mean: Float32Array.from({ length: n }, () => (rnd() - 0.5) * 200),
    std: Float32Array.from({ length: n }, () => 0.1 + rnd() * 50),
  };
}

async function runOnnx(bytes: Uint8Array, inputName: string, outputName: string, x: Float32Array, width: number): Promise<Float32Array> {
  // Severity 3 (errors only): the IR-7 layouts list initializers as inputs, which onnxruntime warns about.
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const out = (await session.run({ [inputName]: new ort.Tensor('float32', x, [x.length / width, width]) }))[outputName];
    assert.ok(out?.data instanceof Float32Array);
    return out.data;
  } finally {
    await session.release();
  }
}

async function runTf(model: Tf.LayersModel, net: DenseNetwork, x: Float32Array, width: number): Promise<Float32Array> {
  const z = Float32Array.from(x, (v, i) => {
    const n = net.normalize;
    return n === undefined ? v : Math.fround(v - (n.mean[i % width] ?? 0)) / (n.std[i % width] ?? 1);
  });
  const input = tf.tensor2d(z, [x.length / width, width]);
  const out = model.predict(input) as Tf.Tensor;
  const data = Float32Array.from(await out.data());
  input.dispose();
  out.dispose();
  return data;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs((a[i] ?? NaN) - (b[i] ?? NaN));
    assert.ok(Number.isFinite(d), `non-finite output at ${i}`);
    max = Math.max(max, d);
  }
  return max;
}

describe('TF.js (WASM) vs onnxruntime-node parity', () => {
  test('the WASM backend is the one running', () => {
    assert.equal(tf.getBackend(), 'wasm');
  });

  ARCHS.forEach((arch, k) => {
    test(`${arch.name}: ≤ 1e-4 on ${ROWS} inputs, exporter and independent check`, async (t) => {
      const model = buildModel(arch, 1000 * (k + 1));
      try {
        const network = networkFromTfjs(model, arch.normalize ? standardisation(arch.inputs, k + 7) : undefined);
        assert.equal(network.layers.length, arch.layers.length);
        const outDir = join(root, `arch-${k}`);
        const { card } = await exportModel({ network, tfModel: model, outDir, card: cardFields({ name: `arch-${k}` }) });
        assert.equal(card.parity?.samples, ROWS);
        assert.ok((card.parity?.maxAbsDiff ?? Infinity) <= TOLERANCE, `exporter measured ${card.parity?.maxAbsDiff}`);

        // Independent: the files on disk, other inputs, our own comparison.
        const files = await readModelFiles(outDir);
        assert.deepStrictEqual(decodeOnnxModel(files.bytes).network, network);
        const x = parityInputs(network, ROWS, 4242 + k);
        const fromOnnx = await runOnnx(files.bytes, card.io.inputName, card.io.outputName, x, arch.inputs);
        const fromTf = await runTf(model, network, x, arch.inputs);
        assert.equal(fromOnnx.length, ROWS * card.io.outputs);
        const diff = maxAbsDiff(fromOnnx, fromTf);
        assert.ok(diff <= TOLERANCE, `independent check: max |diff| ${diff}`);
        t.diagnostic(`${arch.name}: exporter max|diff| ${card.parity?.maxAbsDiff.toExponential(2)}, independent ${diff.toExponential(2)}`);
      } finally {
        model.dispose();
      }
    });
  });

  test("other exporters' layouts of the same network compute the same in onnxruntime", async (t) => {
    const arch = ARCHS[1];
    assert.ok(arch);
    const model = buildModel(arch, 77);
    try {
      const network = networkFromTfjs(model, standardisation(arch.inputs, 3));
      const x = parityInputs(network, ROWS, 5);
      const reference = await runTf(model, network, x, arch.inputs);
      for (const style of ['gemm-transB', 'gemm-no-bias-attrs', 'matmul-add', 'matmul-add-swapped'] as const) {
        const bytes = variantModel(network, style);
        assert.deepStrictEqual(decodeOnnxModel(bytes).network, network, style);
        const diff = maxAbsDiff(await runOnnx(bytes, 'x', 'y', x, arch.inputs), reference);
        assert.ok(diff <= TOLERANCE, `${style}: ${diff}`);
        t.diagnostic(`${style}: max|diff| vs TF.js ${diff.toExponential(2)}`);
      }
    } finally {
      model.dispose();
    }
  });

  test('a TF.js model that does not match the network fails parity with SP_ERR_MODEL_MISMATCH and writes nothing', async () => {
    const arch = ARCHS[0];
    assert.ok(arch);
    const a = buildModel(arch, 1);
    const b = buildModel(arch, 2);
    try {
      const outDir = join(root, 'mismatch', 'v0');
      await assert.rejects(
        exportModel({ network: networkFromTfjs(a), tfModel: b, outDir, card: cardFields() }),
        (err) => err instanceof SyncPilotError && err.code === 'SP_ERR_MODEL_MISMATCH' && /differ by up to/.test(err.message),
      );
      assert.deepEqual(await readdir(join(root, 'mismatch')).catch(() => []), []);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  test('networkFromTfjs refuses layers, activations and topologies outside the subset', () => {
    const refused: Record<string, () => Tf.LayersModel> = {
      'BatchNormalization layer': () =>
        tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] }), tf.layers.batchNormalization()] }),
      'elu activation': () => tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], activation: 'elu' })] }),
      'rank-3 input': () => tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [4, 3] })] }),
      'two inputs': () => {
        const i1 = tf.input({ shape: [2] });
        const i2 = tf.input({ shape: [2] });
        const c = tf.layers.concatenate().apply([i1, i2]) as Tf.SymbolicTensor;
        return tf.model({ inputs: [i1, i2], outputs: tf.layers.dense({ units: 1 }).apply(c) as Tf.SymbolicTensor });
      },
      'a branch merged by Add': () => {
        const i = tf.input({ shape: [3] });
        const a = tf.layers.dense({ units: 2 }).apply(i) as Tf.SymbolicTensor;
        const b = tf.layers.dense({ units: 2 }).apply(i) as Tf.SymbolicTensor;
        return tf.model({ inputs: i, outputs: tf.layers.add().apply([a, b]) as Tf.SymbolicTensor });
      },
    };
    for (const [name, make] of Object.entries(refused)) {
      const model = make();
      try {
        assert.throws(
          () => networkFromTfjs(model),
          (err) => err instanceof SyncPilotError && err.code === 'SP_ERR_MODEL_MISMATCH',
          name,
        );
      } finally {
        model.dispose();
      }
    }
  });
});

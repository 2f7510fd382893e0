import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { DenseNetwork } from '../../src/ml/dense-network.ts';
import type { Dataset } from '../../training/dataset/dataset.ts';
import { classificationMetrics, regressionMetrics } from '../../training/evaluate.ts';
import { createRng } from '../../training/random.ts';
import { trainDense, type DenseTrainConfig, type EpochProgress } from '../../training/trainer/train-dense.ts';

/** y = sin(a) + b² / 100 with features on very different scales (standardisation matters). */
function synthetic(rows: number, seed: number): Dataset {
  const rng = createRng(seed);
  const x = new Float32Array(rows * 3);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const a = rng.next() * 6 - 3;
    const b = rng.next() * 20 - 10;
    x.set([a, b, 1000 + rng.next()], r * 3);
    y[r] = Math.sin(a) + (b * b) / 100;
  }
  return { inputs: 3, outputs: 1, rows, x, y, featureNames: ['a', 'b', 'noise'] };
}

/** A plain forward pass of an exported network, written here independently of the runtimes. */
function forward(net: DenseNetwork, x: Float32Array): Float32Array {
  const inputs = net.layers[0]?.inputs ?? 0;
  const rows = x.length / inputs;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let v = Array.from(x.subarray(r * inputs, (r + 1) * inputs));
    if (net.normalize !== undefined) v = v.map((e, j) => (e - (net.normalize?.mean[j] ?? 0)) / (net.normalize?.std[j] ?? 1));
    for (const l of net.layers) {
      const next = Array.from(l.bias);
      for (let i = 0; i < l.inputs; i++)
        for (let j = 0; j < l.outputs; j++) next[j] = (next[j] ?? 0) + (v[i] ?? 0) * (l.weights[i * l.outputs + j] ?? 0);
      v = next.map((e) => (l.activation === 'relu' ? Math.max(0, e) : l.activation === 'sigmoid' ? 1 / (1 + Math.exp(-e)) : e));
    }
    out.push(...v);
  }
  return Float32Array.from(out);
}

const config: DenseTrainConfig = {
  hidden: [16, 8],
  activation: 'relu',
  outputActivation: 'linear',
  loss: 'mse',
  epochs: 40,
  batchSize: 32,
  learningRate: 0.01,
  seed: 7,
  patience: 10,
};

describe('trainDense', () => {
  const train = synthetic(400, 1);
  const validation = synthetic(100, 2);

  test('learns, reports every epoch, keeps the best epoch, and exports a network that computes the same', async () => {
    const progress: EpochProgress[] = [];
    const r = await trainDense({ train, validation }, config, (p) => progress.push(p));
    try {
      assert.equal(r.backend.length > 0, true);
      assert.equal(progress.length, r.epochsRun);
      assert.equal(r.history.loss.length, r.epochsRun);
      assert.ok(progress.every((p, i) => p.epoch === i + 1 && p.epochs === config.epochs && p.valLoss !== undefined));
      const predicted = r.predict(validation.x);
      const mean = train.y.reduce((s, v) => s + v, 0) / train.rows;
      const model = regressionMetrics(validation.y, predicted);
      const constant = regressionMetrics(validation.y, new Float32Array(validation.rows).fill(mean));
      assert.ok(model.mae < constant.mae / 3, `model MAE ${model.mae} vs constant ${constant.mae}`);
      // The kept weights are the best epoch's: their validation loss is the minimum seen.
      const best = Math.min(...r.history.valLoss);
      assert.equal(r.history.valLoss[r.history.bestEpoch - 1], best);
      assert.ok(Math.abs(regressionMetrics(validation.y, predicted).rmse ** 2 - best) < 1e-5);
      // Standardisation was fitted on train and folded into the network.
      assert.ok(Math.abs((r.network.normalize?.mean[2] ?? 0) - 1000.5) < 0.1);
      const plain = forward(r.network, validation.x);
      for (let i = 0; i < plain.length; i++) assert.ok(Math.abs((plain[i] ?? 0) - (predicted[i] ?? 0)) < 1e-4);
    } finally {
      r.tfModel.dispose();
    }
  });

  test('deterministic: the same seed gives bit-identical weights, another seed different ones', async () => {
    const short = { ...config, epochs: 5 };
    const [a, b, c] = [
      await trainDense({ train }, short),
      await trainDense({ train }, short),
      await trainDense({ train }, { ...short, seed: 8 }),
    ];
    try {
      const weights = (n: DenseNetwork) => n.layers.flatMap((l) => [...l.weights, ...l.bias]);
      assert.deepEqual(weights(a.network), weights(b.network));
      assert.deepEqual(a.history.loss, b.history.loss);
      assert.notDeepEqual(weights(a.network), weights(c.network));
    } finally {
      for (const r of [a, b, c]) r.tfModel.dispose();
    }
  });

  test('binary classification with a sigmoid output', async () => {
    const rng = createRng(3);
    const rows = 300;
    const x = Float32Array.from({ length: rows * 2 }, () => rng.next() * 2 - 1);
    const y = Float32Array.from({ length: rows }, (_, r) => ((x[2 * r] ?? 0) + (x[2 * r + 1] ?? 0) > 0 ? 1 : 0));
    const ds: Dataset = { inputs: 2, outputs: 1, rows, x, y, featureNames: ['u', 'v'] };
    const r = await trainDense(
      { train: ds },
      { ...config, hidden: [8], outputActivation: 'sigmoid', loss: 'binaryCrossentropy', epochs: 30 },
    );
    try {
      assert.ok(classificationMetrics(y, r.predict(x)).accuracy > 0.9);
      assert.equal(r.network.layers.at(-1)?.activation, 'sigmoid');
    } finally {
      r.tfModel.dispose();
    }
  });

  test('bad configuration and empty data are refused with their codes', async () => {
    const code = (c: string) => (e: unknown) => e instanceof SyncPilotError && e.code === c;
    await assert.rejects(trainDense({ train }, { ...config, epochs: 0 }), code('SP_ERR_CONFIG_INVALID'));
    await assert.rejects(trainDense({ train }, { ...config, hidden: [4.5] }), code('SP_ERR_CONFIG_INVALID'));
    await assert.rejects(trainDense({ train }, { ...config, learningRate: -1 }), code('SP_ERR_CONFIG_INVALID'));
    const empty: Dataset = { ...train, rows: 0, x: new Float32Array(0), y: new Float32Array(0) };
    await assert.rejects(trainDense({ train: empty }, config), code('SP_ERR_DATASET_INVALID'));
    await assert.rejects(trainDense({ train, validation: { ...validation, inputs: 2 } }, config), code('SP_ERR_DATASET_INVALID'));
  });
});

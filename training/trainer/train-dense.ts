import type * as tfTypes from '@tensorflow/tfjs';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { Activation, DenseNetwork } from '../../src/ml/dense-network.ts';
import { initTfjs, type Tf } from '../backend.ts';
import { assertDataset, type Dataset } from '../dataset/dataset.ts';
import { networkFromTfjs } from '../export/tfjs-to-network.ts';
import { createRng, permutation } from '../random.ts';
import { applyStandardization, fitStandardization, type Standardization } from './standardize.ts';

/** Hyper-parameters of {@link trainDense}. */
export interface DenseTrainConfig {
  /** Units of each hidden layer, e.g. `[32, 16]`; `[]` is a linear (or logistic) model. */
  readonly hidden: readonly number[];
  /** Activation of the hidden layers. */
  readonly activation: Activation;
  /** Activation of the output layer (`linear` for regression, `sigmoid` / `softmax` for classes). */
  readonly outputActivation: Activation;
  readonly loss: 'mse' | 'binaryCrossentropy' | 'categoricalCrossentropy';
  /** Most epochs (fewer when early stopping ends the run). */
  readonly epochs: number;
  readonly batchSize: number;
  /** Adam's learning rate. */
  readonly learningRate: number;
  /** Seeds the weight initialisers and the per-epoch shuffles. */
  readonly seed: number;
  /** Stop after this many epochs without a better validation loss, and keep the best epoch's weights. */
  readonly patience?: number;
}

/** Progress after one epoch. */
export interface EpochProgress {
  /** 1-based. */
  readonly epoch: number;
  readonly epochs: number;
  /** Mean training loss over the epoch's batches. */
  readonly loss: number;
  /** Loss on the whole validation split, when there is one. */
  readonly valLoss?: number;
}

/** What {@link trainDense} gives back. The caller owns `tfModel` and must `dispose()` it. */
export interface DenseTrainResult {
  readonly tfModel: tfTypes.LayersModel;
  /** The trained network with the standardisation folded in as its `normalize` (what is exported and served). */
  readonly network: DenseNetwork;
  readonly normalize: Standardization;
  readonly history: { readonly loss: readonly number[]; readonly valLoss: readonly number[]; readonly bestEpoch: number };
  /** Epochs actually run. */
  readonly epochsRun: number;
  readonly durationMs: number;
  /** The TensorFlow.js backend it ran on (`wasm`, `tensorflow`). */
  readonly backend: string;
  /** Runs the trained model on raw (unstandardised) rows: `rows * outputs` values. */
  predict(x: Float32Array): Float32Array;
}

/**
 * Trains a dense network with TensorFlow.js (see `initTfjs` for the backend). Standardisation is
 * fitted on `splits.train` only. Deterministic for a given seed on a given backend: initialisers
 * are seeded, batches come from a seeded shuffle, and nothing random (dropout) is used; the WASM
 * backend runs single-threaded here, so float sums are in a fixed order. Another backend (tfjs-node)
 * gives slightly different floats.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` for an empty or malformed train split, or
 * validation data of another shape; `SP_ERR_CONFIG_INVALID` for bad hyper-parameters
 */
export async function trainDense(
  splits: { readonly train: Dataset; readonly validation?: Dataset },
  config: DenseTrainConfig,
  onEpoch?: (p: EpochProgress) => void,
): Promise<DenseTrainResult> {
  checkConfig(config);
  const { train } = splits;
  assertDataset(train, 'train split');
  const validation = splits.validation !== undefined && splits.validation.rows > 0 ? splits.validation : undefined;
  if (validation !== undefined) {
    assertDataset(validation, 'validation split');
    if (validation.inputs !== train.inputs || validation.outputs !== train.outputs) {
      throw new SyncPilotError('SP_ERR_DATASET_INVALID', 'validation split has another shape than the train split');
    }
  }
  const { tf, backend } = await initTfjs();
  const started = performance.now();
  const normalize = fitStandardization(train.x, train.rows, train.inputs);
  const model = buildModel(tf, train.inputs, train.outputs, config);
  const lossFn = lossOf(tf, config.loss);
  const optimizer = tf.train.adam(config.learningRate);
  const xTrain = tf.tensor2d(applyStandardization(train.x, normalize), [train.rows, train.inputs]);
  const yTrain = tf.tensor2d(train.y, [train.rows, train.outputs]);
  const xVal =
    validation === undefined ? undefined : tf.tensor2d(applyStandardization(validation.x, normalize), [validation.rows, validation.inputs]);
  const yVal = validation === undefined ? undefined : tf.tensor2d(validation.y, [validation.rows, validation.outputs]);
  const rng = createRng(config.seed);
  const loss: number[] = [];
  const valLoss: number[] = [];
  let best: { epoch: number; loss: number; weights: tfTypes.Tensor[] } | undefined;
  let epoch = 0;
  try {
    for (epoch = 1; epoch <= config.epochs; epoch++) {
      const order = permutation(train.rows, rng);
      let sum: tfTypes.Tensor = tf.scalar(0);
      for (let start = 0; start < train.rows; start += config.batchSize) {
        const idx = order.subarray(start, Math.min(train.rows, start + config.batchSize));
        const next = tf.tidy(() => {
          const indices = tf.tensor1d(Int32Array.from(idx), 'int32');
          const xb = tf.gather(xTrain, indices);
          const yb = tf.gather(yTrain, indices);
          const cost = optimizer.minimize(() => lossFn(yb, model.apply(xb, { training: true }) as tfTypes.Tensor), true);
          if (cost === null) throw new SyncPilotError('SP_ERR_INTERNAL', 'optimizer returned no cost');
          return sum.add(cost.mul(idx.length));
        });
        sum.dispose();
        sum = next;
      }
      const epochLoss = ((await sum.data())[0] as number) / train.rows;
      sum.dispose();
      loss.push(epochLoss);
      let v: number | undefined;
      if (xVal !== undefined && yVal !== undefined) {
        const t = tf.tidy(() => lossFn(yVal, model.predict(xVal) as tfTypes.Tensor));
        v = Number((await t.data())[0]);
        t.dispose();
        valLoss.push(v);
      }
      onEpoch?.({ epoch, epochs: config.epochs, loss: epochLoss, ...(v === undefined ? {} : { valLoss: v }) });
      const score = v ?? epochLoss;
      if (best === undefined || score < best.loss) {
        for (const w of best?.weights ?? []) w.dispose();
        best = { epoch, loss: score, weights: model.getWeights().map((w) => w.clone()) };
      } else if (config.patience !== undefined && epoch - best.epoch >= config.patience) {
        break;
      }
    }
    if (best !== undefined) model.setWeights(best.weights);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    for (const w of best?.weights ?? []) w.dispose();
    optimizer.dispose();
    for (const t of [xTrain, yTrain, xVal, yVal]) t?.dispose();
  }
  const network = networkFromTfjs(model, normalize);
  return {
    tfModel: model,
    network,
    normalize,
    history: { loss, valLoss, bestEpoch: best?.epoch ?? 0 },
    epochsRun: Math.min(epoch, config.epochs),
    durationMs: performance.now() - started,
    backend,
    predict: (x) => predictRows(tf, model, normalize, x),
  };
}

function buildModel(tf: Tf, inputs: number, outputs: number, config: DenseTrainConfig): tfTypes.Sequential {
  const model = tf.sequential();
  const units = [...config.hidden, outputs];
  units.forEach((u, i) => {
    const last = i === units.length - 1;
    model.add(
      tf.layers.dense({
        units: u,
        activation: last ? config.outputActivation : config.activation,
        // A distinct seed per layer: the same seed would give layers of one shape identical weights.
        kernelInitializer: tf.initializers.glorotUniform({ seed: (config.seed + 7919 * (i + 1)) >>> 0 }),
        biasInitializer: 'zeros',
        ...(i === 0 ? { inputShape: [inputs] } : {}),
      }),
    );
  });
  return model;
}

function lossOf(tf: Tf, loss: DenseTrainConfig['loss']): (y: tfTypes.Tensor, p: tfTypes.Tensor) => tfTypes.Scalar {
  switch (loss) {
    case 'mse':
      return (y, p) => tf.losses.meanSquaredError<tfTypes.Tensor, tfTypes.Scalar>(y, p);
    case 'binaryCrossentropy':
      return (y, p) => tf.mean(tf.metrics.binaryCrossentropy(y, p));
    case 'categoricalCrossentropy':
      return (y, p) => tf.mean(tf.metrics.categoricalCrossentropy(y, p));
  }
}

function predictRows(tf: Tf, model: tfTypes.LayersModel, normalize: Standardization, x: Float32Array): Float32Array {
  const inputs = normalize.mean.length;
  if (x.length % inputs !== 0) throw new SyncPilotError('SP_ERR_DATASET_INVALID', `${x.length} values are not rows of ${inputs} inputs`);
  const rows = x.length / inputs;
  if (rows === 0) return new Float32Array(0);
  return tf.tidy(() => {
    const out = model.predict(tf.tensor2d(applyStandardization(x, normalize), [rows, inputs])) as tfTypes.Tensor;
    return out.dataSync() as Float32Array;
  });
}

function checkConfig(c: DenseTrainConfig): void {
  const positiveInt = (v: number): boolean => Number.isInteger(v) && v > 0;
  const problems: string[] = [];
  if (!c.hidden.every(positiveInt)) problems.push('hidden units must be positive integers');
  if (!positiveInt(c.epochs)) problems.push('epochs must be a positive integer');
  if (!positiveInt(c.batchSize)) problems.push('batchSize must be a positive integer');
  if (!(c.learningRate > 0 && Number.isFinite(c.learningRate))) problems.push('learningRate must be > 0');
  if (!Number.isInteger(c.seed)) problems.push('seed must be an integer');
  if (c.patience !== undefined && !positiveInt(c.patience)) problems.push('patience must be a positive integer');
  if (problems.length > 0) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid training config: ${problems.join('; ')}`);
}

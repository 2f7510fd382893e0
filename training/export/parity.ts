import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { DenseNetwork } from '../../src/ml/dense-network.ts';
import { mulberry32 } from '../../src/core/random.ts';

/** The tolerance the issue sets for TF.js vs onnxruntime agreement. */
export const PARITY_TOLERANCE = 1e-4;

/** Inputs of {@link measureParity}. */
export interface ParityArgs {
  /** The trained model; it sees standardised features (standardisation lives outside it). */
  readonly tfModel: LayersModel;
  /** The network `onnx` was encoded from (for its width and standardisation). */
  readonly network: DenseNetwork;
  readonly onnx: Uint8Array;
  readonly inputName: string;
  readonly outputName: string;
  /** Raw feature rows, packed row-major (`rows * inputs` values). */
  readonly inputs: Float32Array;
  readonly rows: number;
}

/** How far TF.js and onnxruntime were apart. */
export interface ParityResult {
  readonly samples: number;
  /** Largest |TF.js − onnxruntime| over every output of every row; `Infinity` if either gave a non-finite value. */
  readonly maxAbsDiff: number;
}

/**
 * Runs the same rows through the TF.js model (after the network's standardisation, computed as
 * onnxruntime does it: float32 subtract, then float32 divide) and through onnxruntime-node on the
 * encoded bytes, and compares every output. onnxruntime-node and TF.js are imported lazily.
 * @throws SyncPilotError `SP_ERR_MODEL_MISMATCH` when the two disagree on the output shape;
 * `SP_ERR_MODEL_CORRUPT` when onnxruntime refuses the bytes; `SP_ERR_CONFIG_INVALID` when
 * onnxruntime-node or TF.js is not installed, or `inputs` is not `rows` rows wide
 */
export async function measureParity(args: ParityArgs): Promise<ParityResult> {
  const width = args.network.layers[0]?.inputs ?? 0;
  if (args.inputs.length !== args.rows * width) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `parity inputs hold ${args.inputs.length} values, expected ${args.rows} × ${width}`);
  }
  const [fromOnnx, fromTf] = [await runOnnx(args, width), await runTf(args, width)];
  if (fromOnnx.length !== fromTf.length) {
    throw new SyncPilotError('SP_ERR_MODEL_MISMATCH', `parity: onnxruntime gave ${fromOnnx.length} values, TF.js ${fromTf.length}`);
  }
  let maxAbsDiff = 0;
  for (let i = 0; i < fromOnnx.length; i++) {
    const d = Math.abs((fromOnnx[i] ?? NaN) - (fromTf[i] ?? NaN));
    // NaN compares false with everything: count it as the worst possible disagreement.
    if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
  }
  return { samples: args.rows, maxAbsDiff };
}

async function runOnnx(args: ParityArgs, width: number): Promise<Float32Array> {
  const ort = await optional(() => import('onnxruntime-node'), 'onnxruntime-node');
  let session: Awaited<ReturnType<typeof ort.InferenceSession.create>>;
  try {
    session = await ort.InferenceSession.create(args.onnx);
  } catch (err) {
    throw new SyncPilotError('SP_ERR_MODEL_CORRUPT', `onnxruntime refused the exported model: ${String(err)}`, { cause: err });
  }
  try {
    const feeds = { [args.inputName]: new ort.Tensor('float32', args.inputs, [args.rows, width]) };
    const out = (await session.run(feeds))[args.outputName];
    if (out?.type !== 'float32' || !(out.data instanceof Float32Array)) {
      throw new SyncPilotError('SP_ERR_MODEL_MISMATCH', `parity: onnxruntime gave no float32 output "${args.outputName}"`);
    }
    return out.data;
  } finally {
    await session.release();
  }
}

async function runTf(args: ParityArgs, width: number): Promise<Float32Array> {
  const tf = await optional(() => import('@tensorflow/tfjs'), '@tensorflow/tfjs');
  const x = standardise(args.inputs, args.network);
  const input = tf.tensor2d(x, [args.rows, width], 'float32');
  let output: Tensor | Tensor[] | undefined;
  try {
    output = args.tfModel.predict(input);
    if (Array.isArray(output)) throw new SyncPilotError('SP_ERR_MODEL_MISMATCH', 'parity: the TF.js model has several outputs');
    return Float32Array.from(await output.data());
  } finally {
    input.dispose();
    if (Array.isArray(output)) for (const t of output) t.dispose();
    else output?.dispose();
  }
}

/** Loads an optional dependency, or says how to install it. */
async function optional<T>(load: () => Promise<T>, name: string): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `the parity check needs ${name}: npm install ${name}`, { cause: err });
  }
}

function standardise(inputs: Float32Array, net: DenseNetwork): Float32Array {
  const norm = net.normalize;
  if (norm === undefined) return inputs;
  const width = norm.mean.length;
  const out = new Float32Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const j = i % width;
    out[i] = Math.fround((inputs[i] ?? 0) - (norm.mean[j] ?? 0)) / (norm.std[j] ?? 1);
  }
  return out;
}

/**
 * Seeded feature rows for a parity check: standard-normal draws, mapped through the network's
 * standardisation inverse (`mean + std * z`) so that the model sees the range it was trained on.
 */
export function parityInputs(net: DenseNetwork, rows: number, seed: number): Float32Array {
  const width = net.layers[0]?.inputs ?? 0;
  const next = mulberry32(seed);
  const out = new Float32Array(rows * width);
  for (let i = 0; i < out.length; i++) {
    // Box–Muller; 1 - u keeps the logarithm's argument in (0, 1].
    const z = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    const j = i % width;
    out[i] = (net.normalize?.mean[j] ?? 0) + (net.normalize?.std[j] ?? 1) * z;
  }
  return out;
}

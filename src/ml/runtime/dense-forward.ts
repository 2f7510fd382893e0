import { SyncPilotError } from '../../core/errors.ts';
import type { Activation, DenseNetwork } from '../dense-network.ts';

/** Scratch kept between calls covers batches up to this many rows; larger ones borrow a buffer for the call. */
const RETAINED_SCRATCH_ROWS = 4096;

interface PreparedLayer {
  readonly inputs: number;
  readonly outputs: number;
  /** Transposed to `[outputs][inputs]` so each output is one contiguous dot product. */
  readonly weightsT: Float32Array;
  readonly bias: Float32Array;
  readonly activation: Activation;
}

/**
 * The forward pass of a {@link DenseNetwork} in plain JS, for models small enough that crossing
 * into a native runtime costs more than the arithmetic. Allocation-light: weights are transposed
 * once, and intermediate activations live in two scratch buffers reused across calls (grown to
 * the largest batch seen, up to {@link RETAINED_SCRATCH_ROWS} rows). Values between layers are
 * rounded to float32, as onnxruntime does, so both runtimes agree closely.
 */
export class DenseForward {
  readonly inputs: number;
  readonly outputs: number;
  readonly #layers: readonly PreparedLayer[];
  readonly #mean: Float32Array | undefined;
  /** `1 / std`, so standardising is a multiply. */
  readonly #invStd: Float32Array | undefined;
  /** Widest layer input or output: the per-row size of a scratch buffer. */
  readonly #width: number;
  #scratchRows = 0;
  #a = new Float32Array(0);
  #b = new Float32Array(0);

  /**
   * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when the network is not internally consistent
   * (layer widths do not chain, arrays of the wrong length, non-finite or zero std)
   */
  constructor(net: DenseNetwork) {
    checkNetwork(net);
    const first = net.layers[0]!;
    this.inputs = first.inputs;
    this.outputs = net.layers.at(-1)!.outputs;
    this.#layers = net.layers.map((l) => ({
      inputs: l.inputs,
      outputs: l.outputs,
      weightsT: transpose(l.weights, l.inputs, l.outputs),
      bias: Float32Array.from(l.bias),
      activation: l.activation,
    }));
    if (net.normalize !== undefined) {
      this.#mean = Float32Array.from(net.normalize.mean);
      this.#invStd = Float32Array.from(net.normalize.std, (s) => 1 / s);
    }
    this.#width = Math.max(this.inputs, ...net.layers.map((l) => l.outputs));
  }

  /** Parameters (weights and biases): a rough measure of the work per row. */
  get parameters(): number {
    let n = 0;
    for (const l of this.#layers) n += l.weightsT.length + l.bias.length;
    return n;
  }

  /**
   * Runs `rows` packed input rows into `out` (`rows * outputs` values). Synchronous, so
   * concurrent callers cannot interleave inside the shared scratch buffers.
   */
  forward(input: Float32Array, rows: number, out: Float32Array): void {
    let a = this.#a;
    let b = this.#b;
    if (rows > this.#scratchRows) {
      if (rows <= RETAINED_SCRATCH_ROWS) {
        this.#grow(rows);
        a = this.#a;
        b = this.#b;
      } else {
        a = new Float32Array(rows * this.#width);
        b = new Float32Array(rows * this.#width);
      }
    }
    let src = input;
    if (this.#mean !== undefined && this.#invStd !== undefined) {
      standardise(input, rows, this.inputs, this.#mean, this.#invStd, a);
      src = a;
    }
    const last = this.#layers.length - 1;
    for (let l = 0; l <= last; l++) {
      const dst = l === last ? out : src === a ? b : a;
      dense(this.#layers[l]!, src, rows, dst);
      src = dst;
    }
  }

  #grow(rows: number): void {
    const grown = Math.min(RETAINED_SCRATCH_ROWS, Math.max(rows, this.#scratchRows * 2, 16));
    this.#scratchRows = grown;
    this.#a = new Float32Array(grown * this.#width);
    this.#b = new Float32Array(grown * this.#width);
  }
}

function standardise(x: Float32Array, rows: number, n: number, mean: Float32Array, invStd: Float32Array, dst: Float32Array): void {
  for (let r = 0, o = 0; r < rows; r++, o += n) {
    for (let i = 0; i < n; i++) dst[o + i] = (x[o + i]! - mean[i]!) * invStd[i]!;
  }
}

/**
 * One layer over every row. Four outputs are computed per pass over a row's inputs, so each input
 * read feeds four independent accumulators (V8 does not vectorise; this register blocking roughly
 * halves the time per multiply-add against one dot product at a time).
 */
function dense(layer: PreparedLayer, src: Float32Array, rows: number, dst: Float32Array): void {
  const { inputs, outputs, weightsT: w, bias, activation } = layer;
  for (let r = 0; r < rows; r++) {
    const xo = r * inputs;
    const yo = r * outputs;
    let j = 0;
    for (; j + 3 < outputs; j += 4) {
      const w0 = j * inputs;
      const w1 = w0 + inputs;
      const w2 = w1 + inputs;
      const w3 = w2 + inputs;
      let s0 = bias[j]!;
      let s1 = bias[j + 1]!;
      let s2 = bias[j + 2]!;
      let s3 = bias[j + 3]!;
      for (let i = 0; i < inputs; i++) {
        const x = src[xo + i]!;
        s0 += x * w[w0 + i]!;
        s1 += x * w[w1 + i]!;
        s2 += x * w[w2 + i]!;
        s3 += x * w[w3 + i]!;
      }
      dst[yo + j] = s0;
      dst[yo + j + 1] = s1;
      dst[yo + j + 2] = s2;
      dst[yo + j + 3] = s3;
    }
    for (; j < outputs; j++) {
      const wo = j * inputs;
      // Two accumulators: the add latency chain, not the multiplies, bounds a single dot product.
      let a = bias[j]!;
      let b = 0;
      let i = 0;
      for (; i + 1 < inputs; i += 2) {
        a += src[xo + i]! * w[wo + i]!;
        b += src[xo + i + 1]! * w[wo + i + 1]!;
      }
      if (i < inputs) a += src[xo + i]! * w[wo + i]!;
      dst[yo + j] = a + b;
    }
    activate(activation, dst, yo, outputs);
  }
}

function activate(activation: Activation, v: Float32Array, o: number, n: number): void {
  switch (activation) {
    case 'linear':
      return;
    case 'relu':
      for (let j = o; j < o + n; j++) if (v[j]! < 0) v[j] = 0;
      return;
    case 'sigmoid':
      for (let j = o; j < o + n; j++) v[j] = 1 / (1 + Math.exp(-v[j]!));
      return;
    case 'tanh':
      for (let j = o; j < o + n; j++) v[j] = Math.tanh(v[j]!);
      return;
    case 'softmax': {
      let max = -Infinity;
      for (let j = o; j < o + n; j++) if (v[j]! > max) max = v[j]!;
      let sum = 0;
      for (let j = o; j < o + n; j++) {
        const e = Math.exp(v[j]! - max);
        v[j] = e;
        sum += v[j]!;
      }
      for (let j = o; j < o + n; j++) v[j] = v[j]! / sum;
      return;
    }
  }
}

function transpose(w: Float32Array, inputs: number, outputs: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let i = 0; i < inputs; i++) for (let j = 0; j < outputs; j++) t[j * inputs + i] = w[i * outputs + j]!;
  return t;
}

const ACTIVATIONS: ReadonlySet<string> = new Set<Activation>(['linear', 'relu', 'sigmoid', 'tanh', 'softmax']);

function checkNetwork(net: DenseNetwork): void {
  const bad = (why: string): never => {
    throw new SyncPilotError('SP_ERR_MODEL_CORRUPT', `dense network is inconsistent: ${why}`);
  };
  if (net.layers.length === 0) bad('no layers');
  net.layers.forEach((l, k) => {
    if (!Number.isInteger(l.inputs) || !Number.isInteger(l.outputs) || l.inputs < 1 || l.outputs < 1) {
      bad(`layer ${k} has shape ${l.inputs}x${l.outputs}`);
    }
    if (l.weights.length !== l.inputs * l.outputs) bad(`layer ${k} has ${l.weights.length} weights, expected ${l.inputs * l.outputs}`);
    if (l.bias.length !== l.outputs) bad(`layer ${k} has ${l.bias.length} biases, expected ${l.outputs}`);
    if (!ACTIVATIONS.has(l.activation)) bad(`layer ${k} has unknown activation ${String(l.activation)}`);
    const prev = net.layers[k - 1];
    if (prev !== undefined && prev.outputs !== l.inputs) bad(`layer ${k - 1} gives ${prev.outputs} values, layer ${k} takes ${l.inputs}`);
  });
  if (net.normalize !== undefined) {
    const n = net.layers[0]!.inputs;
    const { mean, std } = net.normalize;
    if (mean.length !== n || std.length !== n) bad(`normalisation has ${mean.length}/${std.length} values, expected ${n}`);
    if (!std.every((s) => Number.isFinite(s) && s !== 0)) bad('normalisation std has a zero or non-finite value');
  }
}

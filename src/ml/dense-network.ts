/**
 * The model family our policies use today: a stack of fully connected layers. Training produces
 * one, the ONNX exporter encodes it, the ONNX decoder gives it back, and the pure-JS runtime runs
 * it. Weights are row-major `[inputs][outputs]` (the TensorFlow.js Dense kernel layout).
 */
export type Activation = 'linear' | 'relu' | 'sigmoid' | 'tanh' | 'softmax';

export interface DenseLayer {
  readonly inputs: number;
  readonly outputs: number;
  /** `inputs * outputs` values, row-major: weight of input i to output j at `i * outputs + j`. */
  readonly weights: Float32Array;
  /** `outputs` values. */
  readonly bias: Float32Array;
  readonly activation: Activation;
}

export interface DenseNetwork {
  /** Optional standardisation applied to the input first: `(x - mean) / std`, per feature. */
  readonly normalize?: { readonly mean: Float32Array; readonly std: Float32Array };
  readonly layers: readonly DenseLayer[];
}

/** Number of input features of a network. */
export function networkInputs(net: DenseNetwork): number {
  const first = net.layers[0];
  if (first === undefined) throw new RangeError('a network needs at least one layer');
  return first.inputs;
}

/** Number of outputs of a network. */
export function networkOutputs(net: DenseNetwork): number {
  const last = net.layers.at(-1);
  if (last === undefined) throw new RangeError('a network needs at least one layer');
  return last.outputs;
}

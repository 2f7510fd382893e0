import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { Activation, DenseLayer, DenseNetwork } from '../../src/ml/dense-network.ts';
import { checkNetwork } from '../../src/ml/onnx/check-network.ts';

type Layer = LayersModel['layers'][number];

const ACTIVATIONS: ReadonlySet<string> = new Set<Activation>(['linear', 'relu', 'sigmoid', 'tanh', 'softmax']);

/** Layers that compute nothing at inference time and are skipped. */
const PASS_THROUGH: ReadonlySet<string> = new Set(['InputLayer', 'Dropout']);

/**
 * Reads a trained TensorFlow.js model into a {@link DenseNetwork}: a single chain of `Dense`
 * layers (kernel `[in][out]` copied as is, bias or zeros, activation linear / relu / sigmoid /
 * tanh / softmax) on a `[batch, n]` input. `InputLayer` and `Dropout` (identity at inference) are
 * skipped. Standardisation is not part of a TF.js model here, so the trainer passes the one it
 * fitted as `normalize`; the network then expects raw features.
 * @throws SyncPilotError `SP_ERR_MODEL_MISMATCH` for any other layer type or activation, a model
 * that is not one chain (several inputs or outputs, a shared or branching layer), an input that
 * is not `[batch, n]`, or a `normalize` of the wrong width; `SP_ERR_MODEL_CORRUPT` for non-finite
 * weights
 */
export function networkFromTfjs(model: LayersModel, normalize?: { readonly mean: Float32Array; readonly std: Float32Array }): DenseNetwork {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw mismatch(`the model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; one of each is supported`);
  }
  const inputShape = model.inputs[0]?.shape ?? [];
  if (inputShape.length !== 2) throw mismatch(`the model input has shape [${inputShape.join(', ')}], expected [batch, n]`);

  const layers: DenseLayer[] = [];
  let previous: Layer | undefined;
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    checkChained(layer, previous);
    previous = layer;
    if (PASS_THROUGH.has(kind)) continue;
    if (kind !== 'Dense') throw mismatch(`layer "${layer.name}" is a ${kind}; only Dense layers can be exported`);
    layers.push(denseLayer(layer));
  }
  if (previous === undefined || model.outputs[0]?.sourceLayer !== previous) {
    throw mismatch('the model output is not produced by its last layer');
  }
  if (layers.length > 0 && layers[0]?.inputs !== inputShape[1]) {
    throw mismatch(`the first Dense layer takes ${layers[0]?.inputs} inputs, the model input is ${inputShape[1]} wide`);
  }
  const net: DenseNetwork = normalize === undefined ? { layers } : { normalize: { mean: normalize.mean, std: normalize.std }, layers };
  checkNetwork(net);
  return net;
}

function denseLayer(layer: Layer): DenseLayer {
  const config = layer.getConfig();
  const activation = config.activation ?? 'linear';
  if (typeof activation !== 'string' || !ACTIVATIONS.has(activation)) {
    throw mismatch(`Dense layer "${layer.name}" has activation ${JSON.stringify(activation)}; supported: ${[...ACTIVATIONS].join(', ')}`);
  }
  const [kernel, bias, ...rest] = layer.getWeights();
  if (kernel === undefined || rest.length > 0)
    throw mismatch(`Dense layer "${layer.name}" has ${layer.getWeights().length} weight tensors`);
  if (kernel.rank !== 2) throw mismatch(`Dense layer "${layer.name}" has a kernel of rank ${kernel.rank}`);
  const [inputs = 0, outputs = 0] = kernel.shape;
  return {
    inputs,
    outputs,
    weights: floats(kernel, layer),
    bias: bias === undefined ? new Float32Array(outputs) : floats(bias, layer),
    activation: activation as Activation,
  };
}

/** One chain: each layer is called once, on the output of the layer before it. */
function checkChained(layer: Layer, previous: Layer | undefined): void {
  if (layer.getClassName() === 'InputLayer') {
    if (previous !== undefined) throw mismatch(`input layer "${layer.name}" in the middle of the model`);
    return;
  }
  const nodes = layer.inboundNodes;
  const from = nodes[0]?.inboundLayers ?? [];
  const source = from[0];
  if (nodes.length !== 1 || from.length !== 1 || source === undefined) {
    throw mismatch(`layer "${layer.name}" is shared or has several inputs; only a single chain of layers is supported`);
  }
  const chained = previous === undefined ? source.getClassName() === 'InputLayer' : source === previous;
  if (!chained)
    throw mismatch(`layer "${layer.name}" does not take the previous layer's output; only a single chain of layers is supported`);
}

function floats(t: Tensor, layer: Layer): Float32Array {
  if (t.dtype !== 'float32') throw mismatch(`layer "${layer.name}" has ${t.dtype} weights`);
  return Float32Array.from(t.dataSync());
}

function mismatch(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_MODEL_MISMATCH', `TensorFlow.js model cannot be exported: ${message}`);
}

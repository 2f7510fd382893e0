import { SyncPilotError } from '../../core/errors.ts';
import type { Activation, DenseNetwork } from '../dense-network.ts';

const ACTIVATIONS: ReadonlySet<Activation> = new Set(['linear', 'relu', 'sigmoid', 'tanh', 'softmax']);

/**
 * Checks that a {@link DenseNetwork} is internally consistent and numerically usable, before we
 * encode one or after we decode one: the same rules on both sides, so whatever the encoder writes
 * the decoder accepts.
 * @throws SyncPilotError `SP_ERR_MODEL_MISMATCH` when shapes disagree (no layer, a weight count
 * that is not inputs × outputs, consecutive layers that do not chain, an unknown activation);
 * `SP_ERR_MODEL_CORRUPT` when a weight, bias or mean is not finite or a std is zero or not finite
 * (a diverged training run or a damaged file — either way nothing to serve)
 */
export function checkNetwork(net: DenseNetwork): void {
  if (net.layers.length === 0) throw mismatch('a network needs at least one layer');
  let width = -1;
  net.layers.forEach((layer, i) => {
    const { inputs, outputs } = layer;
    if (!isWidth(inputs) || !isWidth(outputs)) throw mismatch(`layer ${i} has ${inputs} inputs and ${outputs} outputs`);
    if (width !== -1 && inputs !== width) throw mismatch(`layer ${i} takes ${inputs} inputs but layer ${i - 1} gives ${width}`);
    if (layer.weights.length !== inputs * outputs) {
      throw mismatch(`layer ${i} has ${layer.weights.length} weights, expected ${inputs} × ${outputs}`);
    }
    if (layer.bias.length !== outputs) throw mismatch(`layer ${i} has ${layer.bias.length} biases, expected ${outputs}`);
    if (!ACTIVATIONS.has(layer.activation)) throw mismatch(`layer ${i} has unknown activation "${String(layer.activation)}"`);
    if (!allFinite(layer.weights) || !allFinite(layer.bias)) throw nonFinite(`layer ${i} has non-finite weights or biases`);
    width = outputs;
  });
  const norm = net.normalize;
  if (norm === undefined) return;
  const inputs = net.layers[0]?.inputs ?? 0;
  if (norm.mean.length !== inputs || norm.std.length !== inputs) {
    throw mismatch(`normalisation has ${norm.mean.length} means and ${norm.std.length} stds for ${inputs} inputs`);
  }
  if (!allFinite(norm.mean)) throw nonFinite('normalisation has a non-finite mean');
  for (const s of norm.std) if (!Number.isFinite(s) || s === 0) throw nonFinite(`normalisation has a std of ${s}`);
}

function isWidth(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1;
}

function allFinite(values: Float32Array): boolean {
  for (const v of values) if (!Number.isFinite(v)) return false;
  return true;
}

function mismatch(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_MODEL_MISMATCH', `dense network: ${message}`);
}

function nonFinite(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_MODEL_CORRUPT', `dense network: ${message}`);
}

import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import type { DenseNetwork } from '../dense-network.ts';
import type { ModelCard } from '../model-card.ts';
import type { LoadedModel, ModelRuntime } from '../model-runtime.ts';
import { decodeOnnxModel } from '../onnx/decode-onnx.ts';
import { DenseForward } from './dense-forward.ts';
import { checkRunArgs, modelLabel as describe } from './run-args.ts';

/**
 * The pure-JS runtime: decodes our ONNX subset (`decodeOnnxModel`) back into a
 * {@link DenseNetwork} and runs it with {@link DenseForward}. No native code, no thread hop:
 * faster than onnxruntime for tiny models at small batches (see `bench/ml/inference.ts`).
 * `load` throws `SP_ERR_MODEL_CORRUPT` for bytes that do not decode and `SP_ERR_MODEL_MISMATCH`
 * for a graph outside our subset or whose names or shape disagree with `card.io`.
 */
export function createJsRuntime(): ModelRuntime {
  return {
    name: 'js',
    load(bytes: Uint8Array, card: ModelCard): Promise<LoadedModel> {
      try {
        const decoded = decodeOnnxModel(bytes);
        if (decoded.inputName !== card.io.inputName || decoded.outputName !== card.io.outputName) {
          throw new SyncPilotError(
            'SP_ERR_MODEL_MISMATCH',
            `${describe(card)}: graph reads "${decoded.inputName}" and writes "${decoded.outputName}", card says "${card.io.inputName}" → "${card.io.outputName}"`,
          );
        }
        return Promise.resolve(loadNetwork(decoded.network, card));
      } catch (err) {
        return Promise.reject(toSyncPilotError(err, 'SP_ERR_MODEL_CORRUPT'));
      }
    },
  };
}

/**
 * Wraps an in-memory network as a {@link LoadedModel} on the JS forward pass (used by the JS
 * runtime after decoding, and directly by training and tests). `run` validates its arguments
 * (`SP_ERR_MODEL_MISMATCH` for a batch whose length is not `rows * inputs`) and rejects with
 * `SP_ERR_CLOSED` after `close`.
 * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` for an inconsistent network,
 * `SP_ERR_MODEL_MISMATCH` when its input or output width differs from `card.io`
 */
export function loadNetwork(net: DenseNetwork, card: ModelCard): LoadedModel {
  const forward = new DenseForward(net);
  if (forward.inputs !== card.io.inputs || forward.outputs !== card.io.outputs) {
    throw new SyncPilotError(
      'SP_ERR_MODEL_MISMATCH',
      `${describe(card)}: network is ${forward.inputs} → ${forward.outputs}, card says ${card.io.inputs} → ${card.io.outputs}`,
    );
  }
  let closed = false;
  return {
    card,
    runtime: 'js',
    inputs: forward.inputs,
    outputs: forward.outputs,
    run(batch: Float32Array, rows: number): Promise<Float32Array> {
      if (closed) return Promise.reject(new SyncPilotError('SP_ERR_CLOSED', `${describe(card)} is closed`));
      const bad = checkRunArgs(card, forward.inputs, batch, rows);
      if (bad !== undefined) return Promise.reject(bad);
      const out = new Float32Array(rows * forward.outputs);
      try {
        forward.forward(batch, rows, out);
      } catch (err) {
        return Promise.reject(toSyncPilotError(err, 'SP_ERR_INFERENCE_FAILED'));
      }
      return Promise.resolve(out);
    },
    close(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
  };
}

import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import type { ModelCard } from '../model-card.ts';
import type { LoadedModel, ModelRuntime } from '../model-runtime.ts';
import { decodeOnnxModel, type DecodedOnnxModel } from '../onnx/decode-onnx.ts';
import { loadNetwork } from './js-runtime.ts';
import { createOnnxRuntime, type OnnxRuntimeOptions } from './onnx-runtime.ts';
import { modelLabel } from './run-args.ts';

/** Options of {@link createAutoRuntime}. */
export interface AutoRuntimeOptions {
  /**
   * A call whose work (rows × parameters, about one multiply-add each) is at most this runs on the
   * pure-JS forward pass, a larger one on onnxruntime. Default 8192: in `bench/ml/inference.ts`
   * onnxruntime costs a fixed ≈ 10–15 µs per call and then far less per multiply-add than JS
   * (≈ 1 ns), and the crossover sat between 2,600 and 10,000 multiply-adds for every model
   * measured (161 to 6,500 parameters). 0: always onnxruntime.
   */
  readonly jsMaxWork?: number;
  readonly onnx?: OnnxRuntimeOptions;
}

/**
 * Runs each call where it is faster: small calls (a tiny model, a few rows) on the pure-JS forward
 * pass, which has no fixed cost, and the rest on onnxruntime-node, whose kernels are vectorised.
 * Both are loaded; onnxruntime checks the graph against the card at load, and the JS pass agrees
 * with it within 1e-5 (both pass the runtime conformance suite). A graph outside the JS decoder's
 * subset runs on onnxruntime only; when onnxruntime-node is not installed, everything runs on JS.
 * Models that switch per call report `runtime: 'auto'`; one that can only run on one side reports that side.
 * @throws SyncPilotError from `load`: `SP_ERR_MODEL_CORRUPT`, `SP_ERR_MODEL_MISMATCH` (as the runtimes'
 * `load`), `SP_ERR_CONFIG_INVALID` for a bad `jsMaxWork`
 */
export function createAutoRuntime(opts: AutoRuntimeOptions = {}): ModelRuntime {
  const limit = opts.jsMaxWork ?? 8192;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `jsMaxWork must be a non-negative integer, got ${limit}`);
  }
  const onnx = createOnnxRuntime(opts.onnx);
  return {
    name: 'auto',
    async load(bytes: Uint8Array, card: ModelCard): Promise<LoadedModel> {
      let decoded: DecodedOnnxModel | undefined;
      try {
        decoded = decodeOnnxModel(bytes);
      } catch (err) {
        // Valid ONNX outside our subset is onnxruntime's to run; undecodable bytes are refused here.
        const e = toSyncPilotError(err, 'SP_ERR_MODEL_CORRUPT');
        if (e.code !== 'SP_ERR_MODEL_MISMATCH') throw e;
      }
      const js = decoded === undefined || limit === 0 ? undefined : jsModel(decoded, card);
      let ort: LoadedModel;
      try {
        ort = await onnx.load(bytes, card);
      } catch (err) {
        if (js !== undefined && toSyncPilotError(err).code === 'SP_ERR_CONFIG_INVALID') return js; // no onnxruntime here
        throw err;
      }
      const parameters = decoded === undefined ? Infinity : countParameters(decoded);
      if (js === undefined || parameters > limit) {
        await js?.close();
        return ort;
      }
      return {
        card,
        runtime: 'auto',
        inputs: ort.inputs,
        outputs: ort.outputs,
        run: (batch, rows) => (rows * parameters <= limit ? js.run(batch, rows) : ort.run(batch, rows)),
        close: async () => {
          await Promise.all([js.close(), ort.close()]);
        },
      };
    },
  };
}

function jsModel(decoded: DecodedOnnxModel, card: ModelCard): LoadedModel {
  if (decoded.inputName !== card.io.inputName || decoded.outputName !== card.io.outputName) {
    throw new SyncPilotError(
      'SP_ERR_MODEL_MISMATCH',
      `${modelLabel(card)}: graph reads "${decoded.inputName}" and writes "${decoded.outputName}", card says "${card.io.inputName}" → "${card.io.outputName}"`,
    );
  }
  return loadNetwork(decoded.network, card);
}

function countParameters(d: DecodedOnnxModel): number {
  return d.network.layers.reduce((n, l) => n + l.weights.length + l.bias.length, 0);
}

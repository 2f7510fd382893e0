import type * as OrtModule from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import { loadOptional } from '../../core/load-optional.ts';
import type { ModelCard } from '../model-card.ts';
import type { LoadedModel, ModelRuntime } from '../model-runtime.ts';
import { checkRunArgs, modelLabel } from './run-args.ts';

type Ort = typeof OrtModule;

/** Options of {@link createOnnxRuntime}. */
export interface OnnxRuntimeOptions {
  /**
   * Threads onnxruntime may use inside one operator. Default 1: our models are small, a batch
   * takes microseconds, and a thread pool per session only adds hand-off latency and contends
   * with the event loop.
   */
  readonly intraOpThreads?: number;
}

let ortPromise: Promise<Ort> | undefined;

/** What to tell someone whose install lacks the optional dependency. */
const ORT_INSTALL_HINT = 'the ONNX model runtime needs the optional dependency onnxruntime-node: npm install onnxruntime-node';

/** Loads onnxruntime-node once, on first use, so importing syncpilot does not load native code. */
function loadOrt(): Promise<Ort> {
  ortPromise ??= loadOptional('onnxruntime-node', ORT_INSTALL_HINT, {
    exportName: 'InferenceSession',
    pick: (mod) => ((mod as { InferenceSession?: unknown } | null)?.InferenceSession === undefined ? undefined : (mod as Ort)),
  }).catch((err: unknown) => {
    ortPromise = undefined;
    throw err;
  });
  return ortPromise;
}

/**
 * A {@link ModelRuntime} over onnxruntime-node (CPU), loaded lazily. `load` creates a session from
 * the bytes, checks its signature against `card.io` (one float32 input `[batch, inputs]` named
 * `io.inputName`, an output `io.outputName` of `outputs` values per row) and runs one probe row.
 * @throws SyncPilotError from `load`: `SP_ERR_MODEL_CORRUPT` when onnxruntime cannot load or run
 * the bytes, `SP_ERR_MODEL_MISMATCH` when names, types or widths disagree with the card,
 * `SP_ERR_CONFIG_INVALID` when onnxruntime-node is not installed
 */
export function createOnnxRuntime(opts: OnnxRuntimeOptions = {}): ModelRuntime {
  const threads = opts.intraOpThreads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `intraOpThreads must be a positive integer, got ${threads}`);
  }
  return {
    name: 'onnx',
    async load(bytes: Uint8Array, card: ModelCard): Promise<LoadedModel> {
      const ort = await loadOrt();
      let session: InferenceSession;
      try {
        session = await ort.InferenceSession.create(bytes, {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
          logSeverityLevel: 3,
        });
      } catch (err) {
        throw new SyncPilotError('SP_ERR_MODEL_CORRUPT', `${modelLabel(card)}: onnxruntime cannot load the model: ${message(err)}`, {
          cause: err,
        });
      }
      try {
        checkSignature(session, card);
        const model = new OrtModel(ort, session, card);
        await probe(model, card);
        return model;
      } catch (err) {
        await session.release().catch(() => undefined);
        throw err;
      }
    },
  };
}

class OrtModel implements LoadedModel {
  readonly runtime = 'onnx';
  readonly inputs: number;
  readonly outputs: number;
  readonly #ort: Ort;
  readonly #session: InferenceSession;
  readonly card: ModelCard;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(ort: Ort, session: InferenceSession, card: ModelCard) {
    this.#ort = ort;
    this.#session = session;
    this.card = card;
    this.inputs = card.io.inputs;
    this.outputs = card.io.outputs;
  }

  async run(batch: Float32Array, rows: number): Promise<Float32Array> {
    if (this.#closing !== undefined) throw new SyncPilotError('SP_ERR_CLOSED', `${modelLabel(this.card)} is closed`);
    const bad = checkRunArgs(this.card, this.inputs, batch, rows);
    if (bad !== undefined) throw bad;
    if (rows === 0) return new Float32Array(0);
    this.#inFlight++;
    try {
      const { inputName, outputName } = this.card.io;
      const result = await this.#session.run({ [inputName]: new this.#ort.Tensor('float32', batch, [rows, this.inputs]) });
      const out = result[outputName];
      if (out === undefined || !(out.data instanceof Float32Array) || out.data.length !== rows * this.outputs) {
        throw new SyncPilotError(
          'SP_ERR_MODEL_MISMATCH',
          `${modelLabel(this.card)}: output "${outputName}" is not ${rows}x${this.outputs} float32`,
        );
      }
      return out.data;
    } catch (err) {
      throw toSyncPilotError(err, 'SP_ERR_INFERENCE_FAILED');
    } finally {
      if (--this.#inFlight === 0) this.#drained?.();
    }
  }

  /** Waits for runs in flight (releasing a session under a pending run would crash it), then releases it. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
      await this.#session.release();
    })();
    return this.#closing;
  }
}

function checkSignature(session: InferenceSession, card: ModelCard): void {
  const { inputName, outputName, inputs, outputs } = card.io;
  const mismatch = (why: string): SyncPilotError => new SyncPilotError('SP_ERR_MODEL_MISMATCH', `${modelLabel(card)}: ${why}`);
  if (session.inputNames.length !== 1 || session.inputNames[0] !== inputName) {
    throw mismatch(`graph inputs are [${session.inputNames.join(', ')}], card says one input "${inputName}"`);
  }
  if (!session.outputNames.includes(outputName)) {
    throw mismatch(`graph outputs are [${session.outputNames.join(', ')}], card says "${outputName}"`);
  }
  const checkShape = (meta: InferenceSession.ValueMetadata | undefined, name: string, width: number): void => {
    if (meta === undefined || !meta.isTensor || meta.type !== 'float32') throw mismatch(`"${name}" is not a float32 tensor`);
    const last = meta.shape.at(-1);
    // A symbolic last dimension cannot be checked here; the probe run checks the output's width.
    if (meta.shape.length !== 2 || (typeof last === 'number' && last !== width)) {
      throw mismatch(`"${name}" has shape [${meta.shape.join(', ')}], card says [batch, ${width}]`);
    }
  };
  checkShape(
    session.inputMetadata.find((m) => m.name === inputName),
    inputName,
    inputs,
  );
  checkShape(
    session.outputMetadata.find((m) => m.name === outputName),
    outputName,
    outputs,
  );
}

/** One row of zeros through the model: catches graphs that load but cannot run, or give the wrong width. */
async function probe(model: OrtModel, card: ModelCard): Promise<void> {
  try {
    await model.run(new Float32Array(model.inputs), 1);
  } catch (err) {
    const e = toSyncPilotError(err);
    if (e.code === 'SP_ERR_MODEL_MISMATCH') throw e;
    throw new SyncPilotError('SP_ERR_MODEL_CORRUPT', `${modelLabel(card)}: onnxruntime cannot run the model: ${e.message}`, { cause: err });
  }
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

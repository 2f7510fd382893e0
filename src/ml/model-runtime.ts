import type { ModelCard } from './model-card.ts';

/**
 * A model ready to run. `run` takes `rows` feature vectors packed row-major in one Float32Array
 * (`rows * inputs` values) and resolves `rows * outputs` values. Safe to call concurrently.
 */
export interface LoadedModel {
  readonly card: ModelCard;
  readonly runtime: RuntimeName;
  readonly inputs: number;
  readonly outputs: number;
  run(batch: Float32Array, rows: number): Promise<Float32Array>;
  /** Releases native resources; later `run` calls reject with SP_ERR_CLOSED. Idempotent. */
  close(): Promise<void>;
}

export type RuntimeName = 'onnx' | 'js' | 'auto';

/**
 * Turns verified model bytes into a {@link LoadedModel}. Implementations: onnxruntime-node and a
 * pure-JS interpreter of our ONNX subset (`src/ml/runtime/`); each runs the conformance suite in
 * `src/testing/model-runtime-conformance.ts`. Verification of bytes against the card (size,
 * SHA-256) happens before, in `loadVerifiedModel`.
 * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when the bytes do not decode,
 * `SP_ERR_MODEL_MISMATCH` when their shape disagrees with `card.io`
 */
export interface ModelRuntime {
  readonly name: RuntimeName;
  load(bytes: Uint8Array, card: ModelCard): Promise<LoadedModel>;
}

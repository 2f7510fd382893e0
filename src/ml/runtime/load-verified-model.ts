import { SyncPilotError } from '../../core/errors.ts';
import type { LoadedModel, ModelRuntime } from '../model-runtime.ts';
import { readModelFiles } from '../model-files.ts';
import type { Policy } from '../policy.ts';
import { modelLabel } from './run-args.ts';

/** What the caller needs a model to fit; every field given is checked against the model card. */
export interface ModelExpectations {
  readonly policy?: Policy;
  /** The feature function the serving side computes: name and version must both match. */
  readonly featureSchema?: { readonly name: string; readonly version: number };
  readonly inputs?: number;
  readonly outputs?: number;
}

/**
 * Loads the model version in `dir` (`card.json` + model file) only after its size and SHA-256
 * match the card, and the card matches `expect`; then hands the bytes to `runtime`.
 * @throws SyncPilotError `SP_ERR_MODEL_NOT_FOUND` (missing files), `SP_ERR_MODEL_CARD_INVALID`,
 * `SP_ERR_MODEL_CORRUPT` (truncated, checksum differs, or the runtime cannot decode it),
 * `SP_ERR_MODEL_MISMATCH` (policy, feature schema or shape differ from `expect` or from the card)
 */
export async function loadVerifiedModel(dir: string, runtime: ModelRuntime, expect: ModelExpectations = {}): Promise<LoadedModel> {
  const { card, bytes } = await readModelFiles(dir);
  const problems: string[] = [];
  if (expect.policy !== undefined && card.policy !== expect.policy) problems.push(`policy is ${card.policy}, expected ${expect.policy}`);
  const fs = expect.featureSchema;
  if (fs !== undefined && (card.featureSchema.name !== fs.name || card.featureSchema.version !== fs.version)) {
    problems.push(`feature schema is ${card.featureSchema.name}@${card.featureSchema.version}, expected ${fs.name}@${fs.version}`);
  }
  if (expect.inputs !== undefined && card.io.inputs !== expect.inputs)
    problems.push(`takes ${card.io.inputs} inputs, expected ${expect.inputs}`);
  if (expect.outputs !== undefined && card.io.outputs !== expect.outputs) {
    problems.push(`gives ${card.io.outputs} outputs, expected ${expect.outputs}`);
  }
  if (problems.length > 0) {
    throw new SyncPilotError('SP_ERR_MODEL_MISMATCH', `${modelLabel(card)} does not fit: ${problems.join('; ')}`, { details: { dir } });
  }
  return runtime.load(bytes, card);
}

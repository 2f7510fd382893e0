import { SyncPilotError } from '../../core/errors.ts';
import type { ModelCard } from '../model-card.ts';

/** `compression/size-regressor v3`: how a model is named in messages. */
export function modelLabel(card: ModelCard): string {
  return `${card.policy}/${card.name} v${card.version}`;
}

/**
 * The argument check every runtime's `run` makes: `rows` a non-negative integer and `batch`
 * exactly `rows * inputs` values. Returns the error to reject with, or undefined.
 */
export function checkRunArgs(card: ModelCard, inputs: number, batch: Float32Array, rows: number): SyncPilotError | undefined {
  if (!Number.isSafeInteger(rows) || rows < 0) {
    return new SyncPilotError('SP_ERR_MODEL_MISMATCH', `${modelLabel(card)}: rows must be a non-negative integer, got ${rows}`);
  }
  if (batch.length !== rows * inputs) {
    return new SyncPilotError(
      'SP_ERR_MODEL_MISMATCH',
      `${modelLabel(card)}: a batch of ${rows} rows needs ${rows * inputs} values (${inputs} per row), got ${batch.length}`,
    );
  }
  return undefined;
}

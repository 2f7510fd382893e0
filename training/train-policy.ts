import { readdir } from 'node:fs/promises';
import { SyncPilotError } from '../src/core/errors.ts';
import { isPolicy, type Policy } from '../src/ml/policy.ts';
import { trainSizeRegressor } from './policies/compression/train-size-regressor.ts';
import type { TelemetryData } from './policies/compression/telemetry-dataset.ts';
import type { TrainPolicyOptions, TrainResult } from './train-result.ts';

export type { TrainPolicyOptions, TrainResult } from './train-result.ts';
export type { TelemetryData } from './policies/compression/telemetry-dataset.ts';

/** Seed used when none is given. */
export const DEFAULT_TRAIN_SEED = 1;

/**
 * Trains a policy's model on its data, evaluates it and its baseline on the held-out test split,
 * and exports it (ONNX + model card, parity-checked) to `opts.outDir`. Only `compression` (the
 * size regressor) has a trainer yet. Deterministic for a seed on one backend (see `trainDense`).
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for an unknown policy or one with no trainer yet,
 * bad options, or an `outDir` that exists and is not empty; `SP_ERR_DATASET_INVALID` for missing or
 * malformed data (the telemetry rows' file included); `SP_ERR_MODEL_MISMATCH` when TF.js /
 * onnxruntime parity fails
 */
export async function trainPolicy(policy: Policy, opts: TrainPolicyOptions): Promise<TrainResult> {
  if (!isPolicy(policy)) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `unknown policy ${JSON.stringify(policy)}`);
  const seed = opts.seed ?? DEFAULT_TRAIN_SEED;
  if (!Number.isSafeInteger(seed)) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `seed must be an integer, got ${seed}`);
  if (opts.epochs !== undefined && !(Number.isInteger(opts.epochs) && opts.epochs > 0 && opts.epochs <= 100_000)) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `epochs must be an integer in 1..100000, got ${opts.epochs}`);
  }
  if (typeof opts.outDir !== 'string' || opts.outDir === '') throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'outDir is required');
  checkTelemetry(opts.telemetry);
  // The exporter refuses it too, but only after training: fail before spending the time.
  await refuseNonEmptyDir(opts.outDir);
  switch (policy) {
    case 'compression':
      return trainSizeRegressor({ ...opts, seed });
    case 'conflict':
    case 'prefetch':
    case 'anomaly':
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `no trainer yet for the ${policy} policy (only compression is trainable)`);
  }
}

async function refuseNonEmptyDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `outDir ${dir} is not a usable directory`, { cause: err });
  }
  if (entries.length > 0) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `outDir ${dir} already exists and is not empty`);
}

function checkTelemetry(t: TelemetryData | undefined): void {
  if (t === undefined) return;
  const count = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  if (
    !count(t.labels) ||
    !Object.values(t.skipped).every(count) ||
    (t.file !== undefined && (typeof t.file !== 'string' || t.file === ''))
  ) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'telemetry needs a label count, skip counts and (when rows were made) a file');
  }
}

import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyncPilotError } from '../../../src/core/errors.ts';
import { compressionSizeBaseline } from '../../../src/ml/features/compression-size-baseline.ts';
import { COMPRESSION_SIZE_FEATURE_NAMES, COMPRESSION_SIZE_FEATURES } from '../../../src/ml/features/compression-size.ts';
import type { Dataset } from '../../dataset/dataset.ts';
import { readDatasetFile } from '../../dataset/file-readers.ts';
import { splitDataset, type DatasetSplits, type SplitOptions } from '../../dataset/split.ts';
import { regressionMetrics, type RegressionMetrics } from '../../evaluate.ts';
import type { DenseTrainConfig } from '../../trainer/train-dense.ts';
import { buildSizeDataset, DEFAULT_CHUNK_SIZES } from './size-dataset.ts';
import { DEFAULT_SIZE_TARGET, SIZE_TARGET_NAME, sizeTargetLabel } from './size-target.ts';
import { withTelemetryRows, type TelemetryData } from './telemetry-dataset.ts';

/** Where the Canterbury corpus is by default: `<repo>/../shared/data/corpora/canterbury`. */
export const DEFAULT_CANTERBURY_DIR = fileURLToPath(new URL('../../../../shared/data/corpora/canterbury/', import.meta.url));

/** Rows per file and chunk size when building from the corpus. */
export const MAX_CHUNKS_PER_SIZE = 48;

export { SIZE_TARGET_NAME };

/**
 * Held-out Canterbury files, chosen so that each kind of content in test has a relative in train:
 * test = a play (asyoulik.txt; train has three English texts), C source (fields.c; train has
 * Lisp) and a SPARC executable (sum; train has a spreadsheet and a fax bitmap). Validation (early
 * stopping) = a man page (xargs.1) and HTML (cp.html). Train = alice29.txt, lcet10.txt,
 * plrabn12.txt, grammar.lsp, kennedy.xls, ptt5.
 */
export const CANTERBURY_HOLDOUT = {
  validation: ['cp.html', 'xargs.1'],
  test: ['asyoulik.txt', 'fields.c', 'sum'],
} as const;

/**
 * Hyper-parameters of the size regressor. Picked on the validation files (and for a training time
 * of a few seconds on two cores) among [16], [32,16], [32,32], [64,32] and a few learning rates.
 */
export const SIZE_REGRESSOR_CONFIG: Omit<DenseTrainConfig, 'seed'> = {
  hidden: [32, 16],
  activation: 'relu',
  outputActivation: 'linear',
  loss: 'mse',
  epochs: 120,
  batchSize: 128,
  learningRate: 0.01,
  patience: 20,
};

/** A size dataset, split, with how it was made. */
export interface SizeExperiment {
  readonly dataset: Dataset;
  readonly splits: DatasetSplits;
  readonly split: SplitOptions & { readonly groupBy?: string };
  /** For the card's `dataset.source` (no machine paths: the corpus is named by its folder). */
  readonly source: string;
  readonly config: Readonly<Record<string, number | string | boolean | number[]>>;
}

/**
 * Loads the size dataset — from a corpus directory (chunks, features, brotli ratios) or from a
 * dataset file (`.csv` / `.jsonl` with the `compression-size` feature columns, the target column
 * {@link SIZE_TARGET_NAME} and optionally `group`) — plus, when given, rows made from telemetry
 * labels (each in a `telemetry:` group) — and splits it: by {@link CANTERBURY_HOLDOUT} when those
 * files are among the groups (telemetry rows then all train: the test split stays the held-out
 * files, so successive versions are compared on the same rows), else grouped 70/15/15 by seed,
 * else random.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` for missing or malformed data
 */
export async function loadSizeExperiment(data: string, seed: number, telemetry?: TelemetryData): Promise<SizeExperiment> {
  let isDir: boolean;
  try {
    isDir = (await stat(data)).isDirectory();
  } catch (err) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `no training data at ${data}`, { cause: err });
  }
  let dataset: Dataset;
  let source: string;
  const config: Record<string, number | string | boolean | number[]> = { target: sizeTargetLabel(DEFAULT_SIZE_TARGET) };
  if (isDir) {
    const built = await buildSizeDataset({ dir: data, maxChunksPerSize: MAX_CHUNKS_PER_SIZE });
    dataset = built.dataset;
    source = `${basename(data)}: ${built.source}`;
    config['chunkSizes'] = [...DEFAULT_CHUNK_SIZES];
    config['maxChunksPerSize'] = MAX_CHUNKS_PER_SIZE;
  } else {
    const columns = { features: COMPRESSION_SIZE_FEATURE_NAMES, targets: [SIZE_TARGET_NAME] };
    dataset = await readDatasetFile(data, { ...columns, groupBy: 'group' }).catch(async (err: unknown) => {
      // A file without a group column is still usable (split at random); if it fails either way, the first error says why.
      try {
        return await readDatasetFile(data, columns);
      } catch {
        throw err;
      }
    });
    source = `file ${basename(data)} (${dataset.rows} rows)`;
  }
  if (telemetry !== undefined) {
    const merged = await withTelemetryRows(dataset, telemetry);
    dataset = merged.dataset;
    source = `${source} ${merged.source}`;
    Object.assign(config, merged.config);
  }
  const groups = new Set(dataset.groups ?? []);
  const holdout = [...CANTERBURY_HOLDOUT.validation, ...CANTERBURY_HOLDOUT.test].every((g) => groups.has(g)) && groups.size > 5;
  const split: SizeExperiment['split'] = holdout
    ? {
        seed,
        method: 'grouped',
        ratios: [1, 0, 0],
        holdout: CANTERBURY_HOLDOUT,
        groupBy: config['telemetryRows'] ? 'file; telemetry: doc or peer' : 'file',
      }
    : dataset.groups !== undefined && groups.size >= 3
      ? { seed, method: 'grouped', ratios: [0.7, 0.15, 0.15], groupBy: 'group' }
      : { seed, method: 'random', ratios: [0.7, 0.15, 0.15] };
  if (holdout) {
    config['holdoutValidation'] = CANTERBURY_HOLDOUT.validation.join(',');
    config['holdoutTest'] = CANTERBURY_HOLDOUT.test.join(',');
  }
  const splits = splitDataset(dataset, split);
  if (splits.test.rows === 0) throw new SyncPilotError('SP_ERR_DATASET_INVALID', `${source}: too few rows or groups for a test split`);
  return { dataset, splits, split, source, config };
}

/** The baseline heuristic's prediction for every row of `ds`. */
export function baselinePredictions(ds: Dataset): Float32Array {
  const out = new Float32Array(ds.rows);
  for (let r = 0; r < ds.rows; r++)
    out[r] = compressionSizeBaseline(ds.x.subarray(r * COMPRESSION_SIZE_FEATURES, (r + 1) * COMPRESSION_SIZE_FEATURES));
  return out;
}

/** `{ mae, rmse, r2 }` as card metrics (count dropped). */
export function cardMetrics(m: RegressionMetrics): Record<string, number> {
  return { mae: m.mae, rmse: m.rmse, r2: m.r2 };
}

/** Regression metrics of predictions on a split. */
export function evaluateOn(ds: Dataset, predicted: Float32Array): RegressionMetrics {
  return regressionMetrics(ds.y, predicted);
}

import { SyncPilotError } from '../../../src/core/errors.ts';
import { buildSizeDataset } from './size-dataset.ts';
import { splitDataset } from '../../dataset/split.ts';
import { regressionMetrics } from '../../evaluate.ts';
import { trainDense } from '../../trainer/train-dense.ts';
import { baselinePredictions, DEFAULT_CANTERBURY_DIR, MAX_CHUNKS_PER_SIZE, SIZE_REGRESSOR_CONFIG } from './size-experiment.ts';

/** One fold of {@link crossValidateSizeRegressor}: one file held out. */
export interface SizeFold {
  readonly testFile: string;
  readonly validationFile: string;
  readonly testRows: number;
  readonly modelMae: number;
  readonly baselineMae: number;
  /** Predicting the train split's mean ratio for every row. */
  readonly trainMeanMae: number;
  readonly trainMs: number;
}

/**
 * Leave-one-file-out cross-validation of the size regressor on a corpus directory: each file is
 * the test split once, the next file (in name order, wrapping) is the validation split for early
 * stopping, and every other file trains. Same configuration as the shipped model.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` with fewer than three files
 */
export async function crossValidateSizeRegressor(opts: {
  readonly data?: string;
  readonly seed: number;
  readonly epochs?: number;
}): Promise<SizeFold[]> {
  const built = await buildSizeDataset({ dir: opts.data ?? DEFAULT_CANTERBURY_DIR, maxChunksPerSize: MAX_CHUNKS_PER_SIZE });
  const files = built.files;
  if (files.length < 3) throw new SyncPilotError('SP_ERR_DATASET_INVALID', 'cross-validation by file needs at least three files');
  const config = { ...SIZE_REGRESSOR_CONFIG, seed: opts.seed, ...(opts.epochs === undefined ? {} : { epochs: opts.epochs }) };
  const folds: SizeFold[] = [];
  for (let k = 0; k < files.length; k++) {
    const testFile = files[k] as string;
    const validationFile = files[(k + 1) % files.length] as string;
    const splits = splitDataset(built.dataset, {
      seed: opts.seed,
      method: 'grouped',
      ratios: [1, 0, 0],
      holdout: { validation: [validationFile], test: [testFile] },
    });
    const trained = await trainDense({ train: splits.train, validation: splits.validation }, config);
    try {
      const { test, train } = splits;
      let mean = 0;
      for (const v of train.y) mean += v;
      mean /= train.rows;
      folds.push({
        testFile,
        validationFile,
        testRows: test.rows,
        modelMae: regressionMetrics(test.y, trained.predict(test.x)).mae,
        baselineMae: regressionMetrics(test.y, baselinePredictions(test)).mae,
        trainMeanMae: regressionMetrics(test.y, new Float32Array(test.rows).fill(mean)).mae,
        trainMs: trained.durationMs,
      });
    } finally {
      trained.tfModel.dispose();
    }
  }
  return folds;
}

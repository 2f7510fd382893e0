import { FEATURE_SCHEMA } from '../../../src/ml/features/compression-size.ts';
import { exportModel } from '../../export/export-model.ts';
import { fingerprintDataset } from '../../dataset/dataset.ts';
import { trainDense } from '../../trainer/train-dense.ts';
import type { TrainPolicyOptions, TrainResult } from '../../train-result.ts';
import {
  baselinePredictions,
  cardMetrics,
  DEFAULT_CANTERBURY_DIR,
  evaluateOn,
  loadSizeExperiment,
  SIZE_REGRESSOR_CONFIG,
} from './size-experiment.ts';

/** The model's name within the compression policy. */
export const SIZE_REGRESSOR_NAME = 'size-regressor';

/**
 * Trains the compression policy's size regressor (brotli ratio from `compression-size` features)
 * on the corpus or dataset file, plus `opts.telemetry`'s rows when given (counted in the card's
 * `dataset.source` and `training.config.telemetry*`), measures it and the baseline heuristic on
 * the held-out test split, and exports it (ONNX + card, parity checked on 1,000 rows) to
 * `opts.outDir`.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID`, `SP_ERR_CONFIG_INVALID` (also when `outDir`
 * exists and is not empty), `SP_ERR_MODEL_MISMATCH` (parity)
 */
export async function trainSizeRegressor(opts: TrainPolicyOptions & { readonly seed: number }): Promise<TrainResult> {
  const started = performance.now();
  const exp = await loadSizeExperiment(opts.data ?? DEFAULT_CANTERBURY_DIR, opts.seed, opts.telemetry);
  const datasetMs = performance.now() - started;
  const config = { ...SIZE_REGRESSOR_CONFIG, seed: opts.seed, ...(opts.epochs === undefined ? {} : { epochs: opts.epochs }) };
  const trained = await trainDense({ train: exp.splits.train, validation: exp.splits.validation }, config, opts.onProgress);
  try {
    const { test, validation } = exp.splits;
    const metrics = cardMetrics(evaluateOn(test, trained.predict(test.x)));
    const baseline = cardMetrics(evaluateOn(test, baselinePredictions(test)));
    const exportStarted = performance.now();
    const { card, dir } = await exportModel({
      network: trained.network,
      tfModel: trained.tfModel,
      outDir: opts.outDir,
      card: {
        policy: 'compression',
        name: SIZE_REGRESSOR_NAME,
        featureSchema: { name: FEATURE_SCHEMA.name, version: FEATURE_SCHEMA.version },
        dataset: {
          fingerprint: fingerprintDataset(exp.dataset),
          source: exp.source.slice(0, 1024),
          rows: { train: exp.splits.train.rows, validation: validation.rows, test: test.rows },
          split: {
            method: exp.split.method,
            seed: exp.split.seed,
            ...(exp.split.groupBy === undefined ? {} : { groupBy: exp.split.groupBy }),
          },
        },
        training: {
          backend: trained.backend,
          seed: opts.seed,
          epochs: trained.epochsRun,
          durationMs: Math.round(trained.durationMs),
          config: {
            ...exp.config,
            hidden: [...config.hidden],
            activation: config.activation,
            outputActivation: config.outputActivation,
            loss: config.loss,
            maxEpochs: config.epochs,
            batchSize: config.batchSize,
            learningRate: config.learningRate,
            patience: config.patience ?? 0,
            bestEpoch: trained.history.bestEpoch,
          },
        },
        metrics: {
          primary: { name: 'mae', higherIsBetter: false },
          test: metrics,
          ...(validation.rows > 0 ? { validation: cardMetrics(evaluateOn(validation, trained.predict(validation.x))) } : {}),
          baseline,
        },
      },
    });
    const exportMs = performance.now() - exportStarted;
    return {
      card,
      dir,
      metrics,
      baseline,
      timings: { datasetMs, trainMs: trained.durationMs, exportMs, totalMs: performance.now() - started },
    };
  } finally {
    trained.tfModel.dispose();
  }
}

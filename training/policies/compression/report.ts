/**
 * Trains the compression size regressor as `trainPolicy` does, then reports the held-out figures
 * measured on the exported model run by onnxruntime (model vs baseline vs train mean, overall and
 * by chunk size), the timings and, with `--cv`, leave-one-file-out cross-validation.
 *
 *   node --import tsx training/policies/compression/report.ts [--seed N] [--data DIR] [--cv] [--json]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FEATURE_SCHEMA, COMPRESSION_SIZE_FEATURES } from '../../../src/ml/features/compression-size.ts';
import { createOnnxRuntime } from '../../../src/ml/runtime/onnx-runtime.ts';
import { loadVerifiedModel } from '../../../src/ml/runtime/load-verified-model.ts';
import { selectRows } from '../../dataset/dataset.ts';
import { regressionMetrics } from '../../evaluate.ts';
import { trainPolicy } from '../../train-policy.ts';
import { crossValidateSizeRegressor } from './cross-validate.ts';
import { baselinePredictions, cardMetrics, DEFAULT_CANTERBURY_DIR, loadSizeExperiment } from './size-experiment.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    data: { type: 'string' },
    cv: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const seed = Number(values.seed);
const data = values.data ?? DEFAULT_CANTERBURY_DIR;
const work = await mkdtemp(join(tmpdir(), 'sp-size-report-'));
try {
  const result = await trainPolicy('compression', { data, outDir: join(work, 'model'), seed });
  const exp = await loadSizeExperiment(data, seed);
  const test = exp.splits.test;
  const model = await loadVerifiedModel(result.dir, createOnnxRuntime(), {
    policy: 'compression',
    featureSchema: FEATURE_SCHEMA,
    inputs: COMPRESSION_SIZE_FEATURES,
    outputs: 1,
  });
  const served = await model.run(test.x, test.rows);
  await model.close();
  const baseline = baselinePredictions(test);
  let mean = 0;
  for (const v of exp.splits.train.y) mean += v;
  mean /= exp.splits.train.rows;
  const bySize: Record<string, { rows: number; model: number; baseline: number; trainMean: number }> = {};
  const sizes = new Map<number, number[]>();
  for (let r = 0; r < test.rows; r++) {
    const size = Math.round(2 ** (test.x[r * COMPRESSION_SIZE_FEATURES] as number) - 1);
    sizes.set(size, [...(sizes.get(size) ?? []), r]);
  }
  for (const [size, rows] of [...sizes].sort((a, b) => a[0] - b[0])) {
    const part = selectRows(test, rows);
    const pick = (all: Float32Array): Float32Array => Float32Array.from(rows, (r) => all[r] as number);
    bySize[String(size)] = {
      rows: rows.length,
      model: regressionMetrics(part.y, pick(served)).mae,
      baseline: regressionMetrics(part.y, pick(baseline)).mae,
      trainMean: regressionMetrics(part.y, new Float32Array(rows.length).fill(mean)).mae,
    };
  }
  const report = {
    seed,
    backend: result.card.training.backend,
    heldOut: exp.splits.groups?.test ?? [],
    rows: result.card.dataset.rows,
    epochs: result.card.training.epochs,
    timingsMs: result.timings,
    test: {
      model: result.metrics,
      modelServedByOnnxruntime: cardMetrics(regressionMetrics(test.y, served)),
      baseline: result.baseline,
      trainMean: cardMetrics(regressionMetrics(test.y, new Float32Array(test.rows).fill(mean))),
    },
    parity: result.card.parity,
    maeBySize: bySize,
    ...(values.cv ? { leaveOneFileOut: await crossValidateSizeRegressor({ data, seed }) } : {}),
  };
  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else printReport(report);
} finally {
  await rm(work, { recursive: true, force: true });
}

function printReport(r: {
  seed: number;
  backend: string;
  heldOut: readonly string[];
  epochs: number;
  timingsMs: Record<string, number>;
  test: Record<string, Record<string, number>>;
  maeBySize: Record<string, { rows: number; model: number; baseline: number; trainMean: number }>;
  leaveOneFileOut?:
    readonly { testFile: string; testRows: number; modelMae: number; baselineMae: number; trainMeanMae: number }[] | undefined;
}): void {
  const f = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(4));
  console.log(`seed ${r.seed}, backend ${r.backend}, held-out files: ${r.heldOut.join(', ')}, epochs ${r.epochs}`);
  console.log(
    `timings ms: ${Object.entries(r.timingsMs)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ')}`,
  );
  console.log('held-out test        mae     rmse    r2');
  for (const [name, m] of Object.entries(r.test)) console.log(`${name.padEnd(20)} ${f(m['mae'])}  ${f(m['rmse'])}  ${f(m['r2'])}`);
  console.log('MAE by chunk size    model   baseline trainMean rows');
  for (const [size, m] of Object.entries(r.maeBySize))
    console.log(`${size.padStart(6)} B             ${f(m.model)}  ${f(m.baseline)}   ${f(m.trainMean)}    ${m.rows}`);
  if (r.leaveOneFileOut !== undefined) {
    console.log('leave-one-file-out   model   baseline trainMean rows');
    let wm = 0;
    let wb = 0;
    let wt = 0;
    let n = 0;
    for (const fold of r.leaveOneFileOut) {
      console.log(`${fold.testFile.padEnd(20)} ${f(fold.modelMae)}  ${f(fold.baselineMae)}   ${f(fold.trainMeanMae)}    ${fold.testRows}`);
      wm += fold.modelMae * fold.testRows;
      wb += fold.baselineMae * fold.testRows;
      wt += fold.trainMeanMae * fold.testRows;
      n += fold.testRows;
    }
    console.log(`${'(row-weighted)'.padEnd(20)} ${f(wm / n)}  ${f(wb / n)}   ${f(wt / n)}    ${n}`);
  }
}

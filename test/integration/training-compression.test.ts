import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { COMPRESSION_SIZE_FEATURES, FEATURE_SCHEMA } from '../../src/ml/features/compression-size.ts';
import { readModelFiles } from '../../src/ml/model-files.ts';
import { loadVerifiedModel } from '../../src/ml/runtime/load-verified-model.ts';
import { createOnnxRuntime } from '../../src/ml/runtime/onnx-runtime.ts';
import { regressionMetrics } from '../../training/evaluate.ts';
import { CANTERBURY_HOLDOUT, loadSizeExperiment } from '../../training/policies/compression/size-experiment.ts';
import { trainPolicy, type TrainResult } from '../../training/train-policy.ts';

const corpus = fileURLToPath(new URL('../../../shared/data/corpora/canterbury/', import.meta.url));
const absent = !existsSync(corpus);

describe(
  'trainPolicy("compression") on the Canterbury corpus',
  { skip: absent ? '../shared/data/corpora/canterbury absent' : false },
  () => {
    let work = '';
    let first: TrainResult;
    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'sp-train-compression-'));
      first = await trainPolicy('compression', { data: corpus, outDir: join(work, 'a'), seed: 11 });
    });
    after(async () => {
      await rm(work, { recursive: true, force: true });
    });

    test('beats the baseline heuristic on the held-out files, within seconds', (t) => {
      const { metrics, baseline, timings } = first;
      assert.ok(metrics['mae'] !== undefined && baseline['mae'] !== undefined);
      assert.ok(metrics['mae'] < baseline['mae'] * 0.95, `model MAE ${metrics['mae']} vs baseline ${baseline['mae']}`);
      assert.ok((metrics['r2'] ?? 0) > (baseline['r2'] ?? 1), 'and explains more of the variance');
      assert.ok(timings.totalMs < 60_000, `took ${timings.totalMs} ms`);
      t.diagnostic(
        `size regressor: test MAE ${metrics['mae']?.toFixed(4)} vs baseline ${baseline['mae']?.toFixed(4)}; ${JSON.stringify(timings)}`,
      );
    });

    test('writes a verified model directory whose card says what was trained, on what, and how well', async () => {
      assert.deepEqual((await readdir(first.dir)).sort(), ['card.json', 'model.onnx']);
      const { card } = await readModelFiles(first.dir);
      assert.deepEqual(card, first.card);
      assert.equal(card.policy, 'compression');
      assert.equal(card.version, 0);
      assert.deepEqual(card.featureSchema, FEATURE_SCHEMA);
      assert.deepEqual(card.io, { inputName: 'features', outputName: 'output', inputs: COMPRESSION_SIZE_FEATURES, outputs: 1 });
      assert.deepEqual(card.dataset.split, { method: 'grouped', seed: 11, groupBy: 'file' });
      assert.equal(card.training.config['holdoutTest'], CANTERBURY_HOLDOUT.test.join(','));
      assert.equal(card.training.backend, 'wasm');
      assert.deepEqual(card.metrics.primary, { name: 'mae', higherIsBetter: false });
      assert.deepEqual(card.metrics.test, first.metrics);
      assert.deepEqual(card.metrics.baseline, first.baseline);
      assert.equal(card.parity?.samples, 1000);
      assert.ok((card.parity?.maxAbsDiff ?? 1) <= 1e-4);
    });

    test('the exported model, served by onnxruntime, reproduces the card metrics on the held-out split', async () => {
      const exp = await loadSizeExperiment(corpus, 11);
      assert.equal(first.card.dataset.rows.test, exp.splits.test.rows);
      const model = await loadVerifiedModel(first.dir, createOnnxRuntime(), {
        policy: 'compression',
        featureSchema: FEATURE_SCHEMA,
        inputs: COMPRESSION_SIZE_FEATURES,
        outputs: 1,
      });
      try {
        const served = regressionMetrics(exp.splits.test.y, await model.run(exp.splits.test.x, exp.splits.test.rows));
        assert.ok(Math.abs(served.mae - (first.metrics['mae'] ?? NaN)) < 1e-5, `served MAE ${served.mae} vs card ${first.metrics['mae']}`);
      } finally {
        await model.close();
      }
    });

    test('deterministic: the same seed gives the same model bytes and metrics', async () => {
      const again = await trainPolicy('compression', { data: corpus, outDir: join(work, 'b'), seed: 11 });
      assert.equal(again.card.file.sha256, first.card.file.sha256);
      assert.equal(again.card.dataset.fingerprint, first.card.dataset.fingerprint);
      assert.deepEqual(again.metrics, first.metrics);
    });
  },
);

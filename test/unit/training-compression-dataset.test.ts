import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { COMPRESSION_SIZE_FEATURES } from '../../src/ml/features/compression-size.ts';
import { fingerprintDataset } from '../../training/dataset/dataset.ts';
import { writeJsonlDataset } from '../../training/dataset/readers.ts';
import { buildSizeDataset } from '../../training/policies/compression/size-dataset.ts';
import { CANTERBURY_HOLDOUT, loadSizeExperiment, SIZE_TARGET_NAME } from '../../training/policies/compression/size-experiment.ts';

const corpus = fileURLToPath(new URL('../../../shared/data/corpora/canterbury/', import.meta.url));
const absent = !existsSync(corpus);

describe('compression size dataset (Canterbury)', () => {
  test('deterministic, grouped by file, plausible ratios; small chunks grow', async (t) => {
    if (absent) return t.skip('../shared/data/corpora/canterbury absent');
    const a = await buildSizeDataset({ dir: corpus, sizes: [16, 1024, 65536], maxChunksPerSize: 8 });
    const b = await buildSizeDataset({ dir: corpus, sizes: [16, 1024, 65536], maxChunksPerSize: 8 });
    assert.equal(fingerprintDataset(a.dataset), fingerprintDataset(b.dataset));
    assert.equal(a.files.length, 11);
    assert.deepEqual(new Set(a.dataset.groups), new Set(a.files));
    assert.equal(a.dataset.inputs, COMPRESSION_SIZE_FEATURES);
    assert.deepEqual(a.dataset.targetNames, [SIZE_TARGET_NAME]);
    const tinyText: number[] = [];
    for (let r = 0; r < a.dataset.rows; r++) {
      const y = a.dataset.y[r] as number;
      assert.ok(y > 0.01 && y < 1.6, `ratio ${y}`);
      if (a.chunkSizes[r] === 16 && a.dataset.groups?.[r]?.endsWith('.txt') === true) tinyText.push(y);
    }
    assert.ok(tinyText.filter((y) => y > 1).length > tinyText.length * 0.9, 'brotli grows almost every 16-byte piece of text');
    // Files smaller than a chunk size give no chunk of that size.
    const lisp = a.dataset.groups?.flatMap((g, r) => (g === 'grammar.lsp' ? [a.chunkSizes[r]] : [])) ?? [];
    assert.ok(!lisp.includes(65536) && lisp.includes(1024));
  });

  test('the held-out files never train; a JSONL copy of the dataset gives the same fingerprint and split', async (t) => {
    if (absent) return t.skip('../shared/data/corpora/canterbury absent');
    const exp = await loadSizeExperiment(corpus, 3);
    assert.deepEqual(exp.splits.groups?.test, [...CANTERBURY_HOLDOUT.test]);
    assert.deepEqual(exp.splits.groups?.validation, [...CANTERBURY_HOLDOUT.validation]);
    const held = new Set<string>([...CANTERBURY_HOLDOUT.test, ...CANTERBURY_HOLDOUT.validation]);
    assert.ok(exp.splits.train.groups?.every((g) => !held.has(g)));
    assert.equal(exp.splits.train.rows + exp.splits.validation.rows + exp.splits.test.rows, exp.dataset.rows);

    const dir = await mkdtemp(join(tmpdir(), 'sp-size-jsonl-'));
    try {
      const file = join(dir, 'size.jsonl');
      await writeJsonlDataset(exp.dataset, file);
      const fromFile = await loadSizeExperiment(file, 3);
      assert.equal(fingerprintDataset(fromFile.dataset), fingerprintDataset(exp.dataset));
      assert.deepEqual(fromFile.splits.groups, exp.splits.groups);
      // Without groups the file is still usable, split at random.
      const { groups: _groups, ...ungrouped } = exp.dataset;
      await writeJsonlDataset(ungrouped, file);
      assert.equal((await loadSizeExperiment(file, 3)).split.method, 'random');
      await writeFile(file, '');
      await assert.rejects(loadSizeExperiment(file, 3), /no data rows/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { Policy } from '../../src/ml/policy.ts';
import { trainPolicy } from '../../training/train-policy.ts';

const code = (c: string, message?: RegExp) => (e: unknown) =>
  e instanceof SyncPilotError && e.code === c && (message === undefined || message.test(e.message));

describe('trainPolicy refusals (before any training)', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-train-policy-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('policies without a trainer, and unknown policies', async () => {
    for (const p of ['conflict', 'prefetch', 'anomaly'] as const) {
      await assert.rejects(trainPolicy(p, { outDir: join(dir, p) }), code('SP_ERR_CONFIG_INVALID', /no trainer yet/));
    }
    await assert.rejects(trainPolicy('nope' as Policy, { outDir: join(dir, 'x') }), code('SP_ERR_CONFIG_INVALID', /unknown policy/));
  });

  test('bad seed or epochs, a non-empty outDir', async () => {
    await assert.rejects(trainPolicy('compression', { outDir: join(dir, 'a'), epochs: 0 }), code('SP_ERR_CONFIG_INVALID'));
    await assert.rejects(trainPolicy('compression', { outDir: join(dir, 'a'), seed: 1.5 }), code('SP_ERR_CONFIG_INVALID'));
    const full = join(dir, 'full');
    await mkdir(full);
    await writeFile(join(full, 'card.json'), '{}');
    await assert.rejects(trainPolicy('compression', { outDir: full }), code('SP_ERR_CONFIG_INVALID', /not empty/));
  });

  test('missing or malformed data is SP_ERR_DATASET_INVALID', async () => {
    await assert.rejects(trainPolicy('compression', { outDir: join(dir, 'b'), data: join(dir, 'absent') }), code('SP_ERR_DATASET_INVALID'));
    const file = join(dir, 'rows.jsonl');
    await writeFile(file, '{"log2Length": 3}\n');
    await assert.rejects(trainPolicy('compression', { outDir: join(dir, 'c'), data: file }), code('SP_ERR_DATASET_INVALID'));
    const empty = join(dir, 'empty-corpus');
    await mkdir(empty);
    await assert.rejects(trainPolicy('compression', { outDir: join(dir, 'd'), data: empty }), code('SP_ERR_DATASET_INVALID'));
  });
});

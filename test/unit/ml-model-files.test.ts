import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { parseModelCard, type ModelCard } from '../../src/ml/model-card.ts';
import { CARD_FILE, readModelFiles, sha256Hex } from '../../src/ml/model-files.ts';

function card(bytes: Uint8Array, over: Partial<ModelCard> = {}): ModelCard {
  return {
    schema: 'syncpilot.model-card.v1',
    policy: 'compression',
    name: 'size-regressor',
    version: 1,
    createdAt: '2026-11-25T12:00:00.000Z',
    file: { name: 'model.onnx', format: 'onnx', sha256: sha256Hex(bytes), bytes: bytes.byteLength },
    io: { inputName: 'input', outputName: 'output', inputs: 4, outputs: 1 },
    featureSchema: { name: 'compression-size', version: 1 },
    dataset: {
      fingerprint: sha256Hex(new Uint8Array([1])),
      source: 'canterbury',
      rows: { train: 10, validation: 2, test: 3 },
      split: { method: 'grouped', seed: 7, groupBy: 'file' },
    },
    training: { backend: 'wasm', seed: 7, epochs: 3, durationMs: 12, config: { hidden: [8], learningRate: 0.01 } },
    metrics: { primary: { name: 'mae', higherIsBetter: false }, test: { mae: 0.1 } },
    ...over,
  };
}

async function modelDir(bytes: Uint8Array, c: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-model-'));
  await writeFile(join(dir, 'model.onnx'), bytes);
  await writeFile(join(dir, CARD_FILE), JSON.stringify(c));
  return dir;
}

function hasCode(code: string) {
  return (err: unknown) => err instanceof SyncPilotError && err.code === code;
}

test('a valid model directory reads back with its card and bytes', async (t) => {
  const bytes = new Uint8Array([8, 1, 18, 3, 97, 98, 99]);
  const dir = await modelDir(bytes, card(bytes));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files = await readModelFiles(dir);
  assert.equal(files.card.name, 'size-regressor');
  assert.deepEqual([...files.bytes], [...bytes]);
});

test('a truncated, altered or missing model file is refused with its code', async (t) => {
  const bytes = new Uint8Array(64).map((_, i) => i);
  const c = card(bytes);
  const truncated = await modelDir(bytes.subarray(0, 60), c);
  const flipped = bytes.slice();
  flipped[10] = 255;
  const altered = await modelDir(flipped, c);
  const missing = await modelDir(bytes, { ...c, file: { ...c.file, name: 'other.onnx' } });
  t.after(() => Promise.all([truncated, altered, missing].map((d) => rm(d, { recursive: true, force: true }))));
  await assert.rejects(readModelFiles(truncated), hasCode('SP_ERR_MODEL_CORRUPT'));
  await assert.rejects(readModelFiles(altered), hasCode('SP_ERR_MODEL_CORRUPT'));
  await assert.rejects(readModelFiles(missing), hasCode('SP_ERR_MODEL_NOT_FOUND'));
});

test('an invalid card is refused with SP_ERR_MODEL_CARD_INVALID listing the problems', () => {
  const bytes = new Uint8Array([1, 2, 3]);
  const good = card(bytes);
  assert.equal(parseModelCard(JSON.stringify(good)).version, 1);
  assert.throws(() => parseModelCard('{not json'), hasCode('SP_ERR_MODEL_CARD_INVALID'));
  assert.throws(() => parseModelCard({ ...good, extra: 1 }), hasCode('SP_ERR_MODEL_CARD_INVALID'));
  assert.throws(() => parseModelCard({ ...good, policy: 'weather' }), /policy/);
  assert.throws(
    () => parseModelCard({ ...good, metrics: { primary: { name: 'rmse', higherIsBetter: false }, test: { mae: 1 } } }),
    /primary metric "rmse"/,
  );
  assert.throws(() => parseModelCard({ ...good, file: { ...good.file, name: '../escape.onnx' } }), hasCode('SP_ERR_MODEL_CARD_INVALID'));
});

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ModelCard } from '../../src/ml/model-card.ts';
import { createJsRuntime } from '../../src/ml/runtime/js-runtime.ts';
import { loadVerifiedModel } from '../../src/ml/runtime/load-verified-model.ts';
import { testModelBytes, testModelCard, testNetwork } from '../../src/testing/model-runtime-conformance.ts';

describe('loadVerifiedModel', () => {
  let root: string;
  before(async () => (root = await mkdtemp(join(tmpdir(), 'sp-ml-verified-'))));
  after(() => rm(root, { recursive: true, force: true }));

  const net = testNetwork({ widths: [4, 3, 1], activations: ['relu', 'linear'] }, 5);
  const bytes = testModelBytes(net);
  let n = 0;
  async function modelDir(card: ModelCard, file: Uint8Array = bytes): Promise<string> {
    const dir = await mkdtemp(join(root, `m${n++}-`));
    await writeFile(join(dir, 'card.json'), JSON.stringify(card));
    await writeFile(join(dir, card.file.name), file);
    return dir;
  }

  test('loads a verified model that fits the expectations', async () => {
    const dir = await modelDir(testModelCard(net, bytes, { version: 3 }));
    const m = await loadVerifiedModel(dir, createJsRuntime(), {
      policy: 'compression',
      featureSchema: { name: 'conformance', version: 1 },
      inputs: 4,
      outputs: 1,
    });
    assert.equal(m.card.version, 3);
    assert.equal((await m.run(new Float32Array(4), 1)).length, 1);
    await m.close();
  });

  test('refuses expectations the card does not meet with SP_ERR_MODEL_MISMATCH, before decoding', async () => {
    const dir = await modelDir(testModelCard(net, bytes));
    let loads = 0;
    const runtime = { ...createJsRuntime(), load: () => (loads++, Promise.reject(new Error('must not be reached'))) };
    for (const expect of [
      { policy: 'anomaly' as const },
      { featureSchema: { name: 'conformance', version: 2 } },
      { featureSchema: { name: 'other', version: 1 } },
      { inputs: 5 },
      { outputs: 2 },
    ]) {
      await assert.rejects(loadVerifiedModel(dir, runtime, expect), { code: 'SP_ERR_MODEL_MISMATCH' }, JSON.stringify(expect));
    }
    assert.equal(loads, 0);
  });

  test('refuses truncated, altered, missing and mis-described files with their codes', async () => {
    const card = testModelCard(net, bytes);
    const truncated = await modelDir(card, bytes.subarray(0, bytes.length - 7));
    const flipped = bytes.slice();
    flipped[flipped.length >> 1]! ^= 0x40;
    const altered = await modelDir(card, flipped);
    const missing = await modelDir(card);
    await rm(join(missing, 'model.onnx'));
    const badCard = await modelDir(card);
    await writeFile(join(badCard, 'card.json'), (await readFile(join(badCard, 'card.json'), 'utf8')).replace('"onnx"', '"pt"'));
    const runtime = createJsRuntime();
    await assert.rejects(loadVerifiedModel(truncated, runtime), { code: 'SP_ERR_MODEL_CORRUPT' });
    await assert.rejects(loadVerifiedModel(altered, runtime), { code: 'SP_ERR_MODEL_CORRUPT' });
    await assert.rejects(loadVerifiedModel(missing, runtime), { code: 'SP_ERR_MODEL_NOT_FOUND' });
    await assert.rejects(loadVerifiedModel(join(root, 'nowhere'), runtime), { code: 'SP_ERR_MODEL_NOT_FOUND' });
    await assert.rejects(loadVerifiedModel(badCard, runtime), { code: 'SP_ERR_MODEL_CARD_INVALID' });
  });
});

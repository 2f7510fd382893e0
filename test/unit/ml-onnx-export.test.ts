import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SyncPilotError, type ErrorCode } from '../../src/core/errors.ts';
import { readModelFiles } from '../../src/ml/model-files.ts';
import { decodeOnnxModel } from '../../src/ml/onnx/decode-onnx.ts';
import { exportModel } from '../../training/export/export-model.ts';
import { cardFields, randomNetwork, TYPICAL } from '../fixtures/ml-onnx-examples.ts';

async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(err instanceof SyncPilotError, `expected a SyncPilotError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

describe('exportModel (no TF.js model: no parity run)', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-onnx-export-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('writes model.onnx + card.json that readModelFiles verifies and the decoder reads back', async () => {
    const outDir = join(root, 'ok', 'v0');
    const { card, dir } = await exportModel({
      network: TYPICAL,
      outDir,
      card: cardFields({ io: { inputName: 'x' } }),
      clock: () => Date.UTC(2026, 0, 2, 3, 4, 5),
    });
    assert.equal(dir, outDir);
    assert.deepEqual((await readdir(outDir)).sort(), ['card.json', 'model.onnx']);
    const files = await readModelFiles(outDir);
    assert.deepEqual(files.card, card);
    assert.equal(card.schema, 'syncpilot.model-card.v1');
    assert.equal(card.version, 0);
    assert.equal(card.createdAt, '2026-01-02T03:04:05.000Z');
    assert.deepEqual(card.io, { inputName: 'x', outputName: 'output', inputs: 16, outputs: 1 });
    assert.equal(card.file.name, 'model.onnx');
    assert.equal(card.file.bytes, files.bytes.byteLength);
    assert.equal(card.parity, undefined);
    assert.deepStrictEqual(decodeOnnxModel(files.bytes), { network: TYPICAL, inputName: 'x', outputName: 'output' });
    // Nothing but the target directory is left in its parent (the temporary directory was renamed).
    assert.deepEqual(await readdir(join(root, 'ok')), ['v0']);
  });

  test('an existing empty directory is filled; a non-empty one is refused and left alone', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    await exportModel({ network: TYPICAL, outDir: empty, card: cardFields() });
    assert.deepEqual((await readdir(empty)).sort(), ['card.json', 'model.onnx']);

    const busy = join(root, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'keep.txt'), 'mine');
    await expectCode(exportModel({ network: TYPICAL, outDir: busy, card: cardFields() }), 'SP_ERR_CONFIG_INVALID');
    assert.deepEqual(await readdir(busy), ['keep.txt']);
    assert.equal(await readFile(join(busy, 'keep.txt'), 'utf8'), 'mine');
    assert.deepEqual(
      (await readdir(root)).filter((n) => n.includes('.tmp-')),
      [],
    );
  });

  test('an invalid card is refused before anything is written', async () => {
    const outDir = join(root, 'bad-card');
    await expectCode(
      exportModel({ network: TYPICAL, outDir, card: cardFields({ name: 'Not A Valid Name' }) }),
      'SP_ERR_MODEL_CARD_INVALID',
    );
    const noPrimary = cardFields({ metrics: { primary: { name: 'rmse', higherIsBetter: false }, test: { mae: 1 } } });
    await expectCode(exportModel({ network: TYPICAL, outDir, card: noPrimary }), 'SP_ERR_MODEL_CARD_INVALID');
    await assert.rejects(readdir(outDir), { code: 'ENOENT' });
  });

  test('a diverged (non-finite) network is refused before anything is written', async () => {
    const outDir = join(root, 'nan');
    const net = randomNetwork([3, 2], ['linear'], 1);
    const bad = { ...net, layers: net.layers.map((l) => ({ ...l, bias: Float32Array.of(NaN, 0) })) };
    await expectCode(exportModel({ network: bad, outDir, card: cardFields() }), 'SP_ERR_MODEL_CORRUPT');
    await assert.rejects(readdir(outDir), { code: 'ENOENT' });
  });

  test('export of the same network and card is byte-identical (reproducible artefacts)', async () => {
    const clock = (): number => 0;
    const a = await exportModel({ network: TYPICAL, outDir: join(root, 'r1'), card: cardFields(), clock });
    const b = await exportModel({ network: TYPICAL, outDir: join(root, 'r2'), card: cardFields(), clock });
    assert.equal(a.card.file.sha256, b.card.file.sha256);
    assert.deepEqual(await readFile(join(a.dir, 'card.json')), await readFile(join(b.dir, 'card.json')));
  });
});

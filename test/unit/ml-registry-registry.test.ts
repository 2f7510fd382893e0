import assert from 'node:assert/strict';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { CARD_FILE, readModelFiles } from '../../src/ml/model-files.ts';
import { ModelRegistry, type ModelRegistryOptions } from '../../src/ml/registry/model-registry.ts';
import type { PromotionBus, PromotionNotice } from '../../src/ml/registry/promotion-bus.ts';
import { snapshotTree, tempDir, writeTestModel, type TestModelSpec } from '../fixtures/ml-registry-models.ts';

/** Records what the registry publishes; `fail` makes publish reject. */
class RecordingBus implements PromotionBus {
  readonly sent: PromotionNotice[] = [];
  fail = false;
  async publish(n: PromotionNotice): Promise<void> {
    if (this.fail) throw new SyncPilotError('SP_ERR_TIMEOUT', 'bus down', { retryable: true });
    this.sent.push(n);
  }
  subscribe(): () => void {
    return () => undefined;
  }
  async close(): Promise<void> {}
}

const code = (c: string) => (err: unknown) => err instanceof SyncPilotError && err.code === c;

async function setup(t: TestContext, options: ModelRegistryOptions = {}) {
  const base = await tempDir('unit');
  t.after(() => rm(base, { recursive: true, force: true }));
  const bus = new RecordingBus();
  let now = 1_000;
  const registry = await ModelRegistry.open(join(base, 'models'), {
    bus,
    logger: silentLogger,
    origin: 'test-origin',
    clock: { now: () => ++now, monotonic: () => now },
    ...options,
  });
  t.after(() => registry.close());
  const add = async (spec: TestModelSpec = {}, challenger = true) =>
    registry.register((await writeTestModel(join(base, 'incoming'), spec)).dir, { challenger });
  return { base, registry, bus, add };
}

test('register verifies, copies in, numbers versions and sets card.version', async (t) => {
  const { base, registry, bus } = await setup(t);
  const a = await writeTestModel(join(base, 'incoming'), { metric: 0.5 });
  const c1 = await registry.register(a.dir);
  const c2 = await registry.register((await writeTestModel(join(base, 'incoming'), { metric: 0.4 })).dir, { challenger: false });
  assert.equal(c1.version, 1);
  assert.equal(c2.version, 2);
  assert.deepEqual(await registry.versions('compression'), [1, 2]);
  // The copy verifies on its own and carries its version; the source directory is untouched.
  const copied = await readModelFiles(registry.modelDir('compression', 1));
  assert.equal(copied.card.version, 1);
  assert.deepEqual([...copied.bytes], [...a.bytes]);
  assert.equal(JSON.parse(await readFile(join(a.dir, CARD_FILE), 'utf8')).version, 0);
  assert.deepEqual(await registry.show('compression', 2), c2);
  const state = await registry.state('compression');
  assert.equal(state.champion, null);
  assert.deepEqual(state.challengers, [1], 'only the first was registered as a challenger');
  assert.deepEqual(
    state.history.map((h) => [h.action, h.version, h.origin]),
    [
      ['register', 1, 'test-origin'],
      ['register', 2, 'test-origin'],
    ],
  );
  assert.deepEqual(
    bus.sent.map((n) => [n.policy, n.champion, n.challengers]),
    [['compression', null, [1]]],
    'a new challenger is announced, a plain registration is not',
  );
  assert.deepEqual(await registry.list(), [
    { policy: 'compression', versions: [1, 2], champion: null, challengers: [1], updatedAt: state.history[1]?.at },
  ]);
  await assert.rejects(registry.show('compression'), code('SP_ERR_MODEL_NOT_FOUND'), 'no champion yet');
  await assert.rejects(registry.show('compression', 3), code('SP_ERR_MODEL_NOT_FOUND'));
  await assert.rejects(registry.show('nope' as 'compression', 1), code('SP_ERR_CONFIG_INVALID'));
  await assert.rejects(registry.show('compression', 0), code('SP_ERR_CONFIG_INVALID'));
});

test('registering the same model again returns the existing version and changes nothing', async (t) => {
  const { base, registry } = await setup(t);
  const m = await writeTestModel(join(base, 'incoming'));
  const first = await registry.register(m.dir);
  const before = await snapshotTree(registry.root);
  const again = await registry.register(m.dir);
  assert.deepEqual(again, first);
  assert.deepEqual(await snapshotTree(registry.root), before);
});

test('corrupt registrations are refused with their code and leave the registry unchanged', async (t) => {
  const { base, registry, add } = await setup(t);
  await add({ metric: 0.5 });
  const before = await snapshotTree(registry.root);

  const truncated = await writeTestModel(join(base, 'bad'));
  await truncate(join(truncated.dir, 'model.onnx'), 100);
  await assert.rejects(registry.register(truncated.dir), code('SP_ERR_MODEL_CORRUPT'));

  const flipped = await writeTestModel(join(base, 'bad'));
  const bytes = Uint8Array.from(flipped.bytes);
  bytes[7] = (bytes[7] ?? 0) ^ 0xff;
  await writeFile(join(flipped.dir, 'model.onnx'), bytes);
  await assert.rejects(registry.register(flipped.dir), code('SP_ERR_MODEL_CORRUPT'));

  const invalid = await writeTestModel(join(base, 'bad'));
  await writeFile(
    join(invalid.dir, CARD_FILE),
    JSON.stringify({ ...invalid.card, metrics: { primary: { name: 'mae', higherIsBetter: false }, test: {} } }),
  );
  await assert.rejects(registry.register(invalid.dir), code('SP_ERR_MODEL_CARD_INVALID'));

  const notJson = await writeTestModel(join(base, 'bad'));
  await writeFile(join(notJson.dir, CARD_FILE), '{"schema": "syncpilot.model-card.v1",');
  await assert.rejects(registry.register(notJson.dir), code('SP_ERR_MODEL_CARD_INVALID'));

  const missing = await writeTestModel(join(base, 'bad'));
  await rm(join(missing.dir, 'model.onnx'));
  await assert.rejects(registry.register(missing.dir), code('SP_ERR_MODEL_NOT_FOUND'));

  // A refused model of a policy the registry has never seen does not even create its directory.
  const otherPolicy = await writeTestModel(join(base, 'bad'), { policy: 'anomaly' });
  await truncate(join(otherPolicy.dir, 'model.onnx'), 1);
  await assert.rejects(registry.register(otherPolicy.dir), code('SP_ERR_MODEL_CORRUPT'));

  assert.deepEqual(await snapshotTree(registry.root), before);
  assert.deepEqual(await registry.versions('compression'), [1]);
});

test('promote: the first model is accepted; later ones must beat the champion by the margin', async (t) => {
  const { registry, bus, add } = await setup(t);
  await add({ metric: 0.5 });
  await add({ metric: 0.498 });
  await add({ metric: 0.45 });
  const first = await registry.promote('compression', 1);
  assert.equal(first.champion, 1);
  assert.equal(first.previous, null);
  assert.equal(first.gate, null);
  assert.equal(first.notified, true);
  assert.deepEqual(first.challengers, [2, 3], 'the champion is no longer a challenger');

  const stateBefore = await registry.state('compression');
  const sentBefore = bus.sent.length;
  await assert.rejects(registry.promote('compression', 2), code('SP_ERR_PROMOTION_REJECTED'), '0.498 is not 1% better than 0.5');
  assert.deepEqual(await registry.state('compression'), stateBefore, 'a rejection writes nothing');
  assert.equal(bus.sent.length, sentBefore, 'and announces nothing');

  const ok = await registry.promote('compression', 2, { margin: 0.001 });
  assert.equal(ok.champion, 2);
  assert.equal(ok.previous, 1);
  assert.equal(ok.gate?.champion, 0.5);
  assert.equal(ok.gate?.challenger, 0.498);

  const forced = await registry.promote('compression', 1, { force: true });
  assert.equal(forced.forced, true);
  assert.equal(forced.gate, null);
  assert.equal((await registry.state('compression')).history.at(-1)?.forced, true);

  const same = await registry.promote('compression', 1);
  assert.equal(same.changed, false);
  assert.equal(same.champion, 1);
  assert.deepEqual(bus.sent.at(-1), { policy: 'compression', champion: 1, challengers: [3], at: same.at, origin: 'test-origin' });

  await assert.rejects(registry.promote('compression', 9), code('SP_ERR_MODEL_NOT_FOUND'));
  await assert.rejects(registry.promote('compression', 3, { margin: -1 }), code('SP_ERR_CONFIG_INVALID'));
  assert.equal((await registry.show('compression')).version, 1, 'show() defaults to the champion');
});

test('promote refuses a different feature schema unless forced', async (t) => {
  const { registry, add } = await setup(t);
  await add({ metric: 0.5 });
  await add({ metric: 0.1, featureSchema: { name: 'compression-size', version: 2 } });
  await registry.promote('compression', 1);
  await assert.rejects(registry.promote('compression', 2), code('SP_ERR_PROMOTION_REJECTED'));
  assert.equal((await registry.promote('compression', 2, { force: true })).champion, 2);
});

test('rollback walks back through the champions, and refuses when there is none earlier', async (t) => {
  const { registry, bus, add } = await setup(t);
  for (const m of [0.5, 0.4, 0.3]) await add({ metric: m });
  await assert.rejects(registry.rollback('compression'), code('SP_ERR_MODEL_NOT_FOUND'), 'no champion');
  await assert.rejects(registry.rollback('prefetch'), code('SP_ERR_MODEL_NOT_FOUND'), 'a policy never seen');
  assert.deepEqual(await registry.versions('prefetch'), []);
  assert.deepEqual(
    (await snapshotTree(registry.root)).filter((p) => p.startsWith('prefetch')),
    [],
    'and no directory made for it',
  );
  await registry.promote('compression', 1);
  await assert.rejects(registry.rollback('compression'), code('SP_ERR_MODEL_NOT_FOUND'), 'nothing earlier than the first');
  await registry.promote('compression', 2);
  await registry.promote('compression', 3);
  const r1 = await registry.rollback('compression');
  assert.deepEqual([r1.action, r1.champion, r1.previous], ['rollback', 2, 3]);
  const r2 = await registry.rollback('compression');
  assert.deepEqual([r2.champion, r2.previous], [1, 2], 'twice goes two back, not back to 3');
  await assert.rejects(registry.rollback('compression'), code('SP_ERR_MODEL_NOT_FOUND'));
  assert.equal(bus.sent.at(-1)?.champion, 1);
  const state = await registry.state('compression');
  assert.deepEqual(
    state.history.filter((h) => h.action !== 'register').map((h) => [h.action, h.version, h.previous]),
    [
      ['promote', 1, null],
      ['promote', 2, 1],
      ['promote', 3, 2],
      ['rollback', 2, 3],
      ['rollback', 1, 2],
    ],
  );
});

test('challengers: add, remove, the champion refused, the oldest evicted beyond the cap', async (t) => {
  const { registry, bus, add } = await setup(t, { maxChallengers: 2 });
  for (let i = 0; i < 4; i++) await add({ metric: 0.5 - i / 10 }, false);
  await registry.promote('compression', 1);
  await assert.rejects(registry.addChallenger('compression', 1), code('SP_ERR_PROMOTION_REJECTED'));
  await registry.addChallenger('compression', 2);
  await registry.addChallenger('compression', 3);
  const sent = bus.sent.length;
  assert.deepEqual((await registry.addChallenger('compression', 3)).challengers, [2, 3], 'already one: no change');
  assert.equal(bus.sent.length, sent, 'and no notice');
  const s = await registry.addChallenger('compression', 4);
  assert.deepEqual(s.challengers, [3, 4]);
  assert.deepEqual(s.history.at(-1)?.evicted, [2]);
  assert.deepEqual((await registry.removeChallenger('compression', 3)).challengers, [4]);
  assert.deepEqual((await registry.removeChallenger('compression', 3)).challengers, [4]);
  assert.deepEqual(bus.sent.at(-1)?.challengers, [4]);
  await assert.rejects(registry.addChallenger('compression', 7), code('SP_ERR_MODEL_NOT_FOUND'));
});

test('a bus failure does not undo a promotion: it is reported as notified=false', async (t) => {
  const { registry, bus, add } = await setup(t);
  await add();
  bus.fail = true;
  const r = await registry.promote('compression', 1);
  assert.equal(r.notified, false);
  assert.equal((await registry.state('compression')).champion, 1);
});

test('a damaged state file is reported as SP_ERR_STORE_CORRUPT, a tampered card as a mismatch', async (t) => {
  const { registry, add } = await setup(t);
  await add();
  await add();
  const dir2 = registry.modelDir('compression', 2);
  const card2 = JSON.parse(await readFile(join(dir2, CARD_FILE), 'utf8'));
  await writeFile(join(dir2, CARD_FILE), JSON.stringify({ ...card2, version: 1 }));
  await assert.rejects(registry.show('compression', 2), code('SP_ERR_MODEL_MISMATCH'));
  await writeFile(join(registry.root, 'compression', 'state.json'), '{"champion": 1');
  await assert.rejects(registry.state('compression'), code('SP_ERR_STORE_CORRUPT'));
  await writeFile(join(registry.root, 'compression', 'state.json'), '{"champion": "one", "challengers": [], "history": []}');
  await assert.rejects(registry.promote('compression', 1), code('SP_ERR_STORE_CORRUPT'));
});

test('a closed registry refuses calls; bad options are refused at open', async (t) => {
  const { registry, base } = await setup(t);
  await registry.close();
  await registry.close();
  await assert.rejects(registry.list(), code('SP_ERR_CLOSED'));
  await assert.rejects(ModelRegistry.open(join(base, 'x'), { maxChallengers: -1 }), code('SP_ERR_CONFIG_INVALID'));
});

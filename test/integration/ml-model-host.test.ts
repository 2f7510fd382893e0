import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import type { ModelCard } from '../../src/ml/model-card.ts';
import { ModelHost, type HostRegistryReader } from '../../src/ml/model-host.ts';
import type { Predictor } from '../../src/ml/predictor.ts';
import { FileWatchBus } from '../../src/ml/registry/file-watch-bus.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import { createJsRuntime } from '../../src/ml/runtime/js-runtime.ts';
import { createOnnxRuntime } from '../../src/ml/runtime/onnx-runtime.ts';
import { parseEvent } from '../../src/telemetry/events/index.ts';
import {
  testInputs,
  testModelBytes,
  testModelCard,
  testNetwork,
  type TestCardOptions,
} from '../../src/testing/model-runtime-conformance.ts';
import { InMemoryBus } from '../fixtures/ml-in-memory-bus.ts';
import { MemorySink, SMALL, sumBaseline, trackingRuntime, versionedModel, writeExportedModel } from '../fixtures/ml-runtime-models.ts';

const isLifecycle = (event: string, version: number) => (e: TelemetryEvent) =>
  e.type === 'syncpilot.model-lifecycle.v1' && e.data.event === event && (e.data.model as { version: string }).version === String(version);

/** Fires `n` predictions at once; returns the versions that answered (null: baseline). */
async function burst(p: Predictor, n = 200): Promise<(number | null)[]> {
  const rs = await Promise.all(Array.from({ length: n }, (_, i) => p.predict(testInputs(1, 4, i))));
  return rs.map((r) => r.model?.version ?? null);
}

const only = (versions: (number | null)[]): (number | null)[] => [...new Set(versions)];

describe('ModelHost over a ModelRegistry', () => {
  let root: string;
  let exports: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-ml-host-'));
    exports = join(root, 'exports');
  });
  after(() => rm(root, { recursive: true, force: true }));

  let n = 0;
  /** Writes an exported model directory (card + bytes) ready to register. */
  async function exported(seedVersion: number, card?: (c: ModelCard) => ModelCard, opts: TestCardOptions = {}): Promise<string> {
    return (await writeExportedModel(join(exports, `m${n++}`), seedVersion, opts, card)).dir;
  }

  for (const [runtimeName, makeRuntime] of [
    ['js', createJsRuntime],
    ['onnx', createOnnxRuntime],
  ] as const) {
    test(`${runtimeName}: loads the champion, shadows challengers, swaps on promotion and rollback, refuses bad models and keeps serving`, async () => {
      const bus = new InMemoryBus();
      const registry = await ModelRegistry.open(join(root, `registry-${runtimeName}`), { bus, logger: silentLogger });
      const reader: HostRegistryReader = registry; // the real registry satisfies the host's read interface
      const runtime = trackingRuntime(makeRuntime());
      const sink = new MemorySink();
      const host = new ModelHost({ registry: reader, runtime, bus, telemetry: sink, logger: silentLogger });
      try {
        const v1 = await registry.register(await exported(1));
        await registry.promote('compression', v1.version);
        const p = host.predictor('compression', {
          baseline: sumBaseline,
          budgetMs: 5_000,
          expect: { featureSchema: { name: 'conformance', version: 1 }, inputs: 4, outputs: 1 },
        });
        assert.equal(host.predictor('compression', { baseline: sumBaseline }), p, 'one predictor per policy');
        await host.ready('compression');
        assert.deepEqual(only(await burst(p)), [1]);

        // A challenger runs in shadow; answers still come from the champion.
        const v2 = await registry.register(await exported(2));
        await host.ready('compression');
        assert.deepEqual(host.serving('compression'), { champion: 1, shadows: [2] });
        assert.deepEqual(only(await burst(p)), [1]);
        await sink.waitFor((e) => e.type === 'syncpilot.prediction.v1' && e.data.shadow === true);

        // Promotion: the shadow model becomes champion (reused, not loaded again), v1 is closed.
        await registry.promote('compression', v2.version, { force: true });
        await host.ready('compression');
        assert.deepEqual(only(await burst(p)), [2]);
        assert.equal(runtime.loaded.filter((m) => m.card.version === 2).length, 1, 'v2 loaded once');
        assert.equal(runtime.loaded.find((m) => m.card.version === 1)?.closeCalls, 1, 'v1 closed');

        // Rollback reloads v1.
        await registry.rollback('compression');
        await host.ready('compression');
        assert.deepEqual(only(await burst(p)), [1]);
        await registry.promote('compression', v2.version, { force: true });
        await host.ready('compression');
        assert.deepEqual(only(await burst(p)), [2]);

        // Refusals: corrupt bytes, truncated file, a graph that does not fit its card, a card that does not fit the server.
        const bad: [string, number][] = [];
        const v3 = await registry.register(await exported(3), { challenger: false });
        const f3 = join(registry.modelDir('compression', v3.version), 'model.onnx');
        const b3 = await readFile(f3);
        b3[b3.length >> 1]! ^= 0xff;
        await writeFile(f3, b3);
        bad.push(['SP_ERR_MODEL_CORRUPT', v3.version]);
        const v4 = await registry.register(await exported(4), { challenger: false });
        const f4 = join(registry.modelDir('compression', v4.version), 'model.onnx');
        await writeFile(f4, (await readFile(f4)).subarray(0, 100));
        bad.push(['SP_ERR_MODEL_CORRUPT', v4.version]);
        const wide = testNetwork({ widths: [5, 8, 1], activations: ['relu', 'linear'] }, 55);
        const wideDir = join(exports, 'wide');
        await mkdir(wideDir, { recursive: true });
        const wideBytes = testModelBytes(wide);
        // The card claims 4 inputs (what the server expects), the graph takes 5.
        await writeFile(
          join(wideDir, 'card.json'),
          JSON.stringify(testModelCard(wide, wideBytes, { version: 0, name: 'test-model', inputs: 4 })),
        );
        await writeFile(join(wideDir, 'model.onnx'), wideBytes);
        const v5 = await registry.register(wideDir, { challenger: false });
        bad.push(['SP_ERR_MODEL_MISMATCH', v5.version]);
        const v6 = await registry.register(await exported(6, undefined, { featureSchema: { name: 'conformance', version: 2 } }), {
          challenger: false,
        });
        bad.push(['SP_ERR_MODEL_MISMATCH', v6.version]);

        for (const [code, version] of bad) {
          // Requests in flight while the bad promotion is handled never fail.
          const during = burst(p, 500);
          await registry.promote('compression', version, { force: true });
          await host.ready('compression');
          const refused = await sink.waitFor(isLifecycle('refused', version));
          assert.match(String(refused.data.reason), new RegExp(`^${code}`), `v${version}`);
          assert.deepEqual(only(await during), [2], `v${version}: the previous champion kept serving`);
          assert.deepEqual(only(await burst(p)), [2]);
          assert.equal(host.serving('compression').champion, 2);
        }

        const lifecycle = sink.events.filter((e) => e.type === 'syncpilot.model-lifecycle.v1').map((e) => parseEvent(e));
        assert.ok(lifecycle.length >= 8, 'lifecycle events are valid syncpilot.model-lifecycle.v1');
        for (const e of sink.events) parseEvent(e);
      } finally {
        await host.close();
        await registry.close();
      }
      assert.ok(runtime.loaded.length > 0);
      for (const m of runtime.loaded) {
        assert.equal(m.closeCalls, 1, `v${m.card.version} closed exactly once`);
        assert.deepEqual(m.violations, []);
      }
    });
  }

  test('promotions reach a host in another registry instance through the file-watch bus (embedded default)', async () => {
    const dir = join(root, 'registry-watch');
    const registry = await ModelRegistry.open(dir, { logger: silentLogger }); // default bus: FileWatchBus on dir
    const watching = new FileWatchBus({ root: dir, pollIntervalMs: 50, logger: silentLogger });
    const reader = await ModelRegistry.open(dir, { bus: null, logger: silentLogger });
    const sink = new MemorySink();
    const host = new ModelHost({ registry: reader, runtime: createJsRuntime(), bus: watching, telemetry: sink, logger: silentLogger });
    try {
      const p = host.predictor('compression', { baseline: sumBaseline, budgetMs: 5_000 });
      await watching.ready();
      await host.ready('compression');
      assert.deepEqual(only(await burst(p, 10)), [null], 'no champion: the baseline answers');
      const v1 = await registry.register(await exported(1));
      await registry.promote('compression', v1.version);
      await sink.waitFor(isLifecycle('loaded', v1.version));
      await host.ready('compression');
      assert.deepEqual(only(await burst(p, 50)), [1]);
    } finally {
      await host.close();
      await watching.close();
      await reader.close();
      await registry.close();
    }
  });

  test('a registry that cannot be read leaves the models as they are', async () => {
    const { net } = versionedModel(1);
    assert.equal(net.layers[0]!.inputs, SMALL.widths[0]);
    let fail = false;
    const dir = join(root, 'registry-flaky');
    const registry = await ModelRegistry.open(dir, { bus: null, logger: silentLogger });
    const flaky: HostRegistryReader = {
      state: (policy) => (fail ? Promise.reject(new Error('disk gone')) : registry.state(policy)),
      modelDir: (policy, version) => registry.modelDir(policy, version),
    };
    const host = new ModelHost({ registry: flaky, runtime: createJsRuntime(), logger: silentLogger });
    try {
      const v1 = await registry.register(await exported(1));
      await registry.promote('compression', v1.version);
      const p = host.predictor('compression', { baseline: sumBaseline, budgetMs: 5_000 });
      await host.ready('compression');
      fail = true;
      const report = await host.refresh('compression');
      assert.equal(report.champion, 1);
      assert.deepEqual(only(await burst(p, 20)), [1]);
    } finally {
      await host.close();
      await registry.close();
    }
  });
});

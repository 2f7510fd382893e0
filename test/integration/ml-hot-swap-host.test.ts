import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import type { DenseNetwork } from '../../src/ml/dense-network.ts';
import { ModelHost } from '../../src/ml/model-host.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import { createOnnxRuntime } from '../../src/ml/runtime/onnx-runtime.ts';
import { referenceForward, testInputs } from '../../src/testing/model-runtime-conformance.ts';
import { InMemoryBus } from '../fixtures/ml-in-memory-bus.ts';
import { sumBaseline, trackingRuntime, writeExportedModel } from '../fixtures/ml-runtime-models.ts';

const VERSIONS = 6;
const TOTAL = 20_000;
const CALLERS = 64;

describe('hot swap through the registry under sustained load', () => {
  test(`onnxruntime-node: ${TOTAL} predictions from ${CALLERS} callers while ${VERSIONS - 1} promotions are loaded and swapped in`, async () => {
    const root = await mkdtemp(join(tmpdir(), 'sp-ml-hotswap-host-'));
    const bus = new InMemoryBus();
    const registry = await ModelRegistry.open(join(root, 'models'), { bus, logger: silentLogger });
    const runtime = trackingRuntime(createOnnxRuntime());
    const host = new ModelHost({ registry, runtime, bus, logger: silentLogger });
    try {
      const nets: DenseNetwork[] = [];
      for (let v = 1; v <= VERSIONS; v++) {
        const { dir, net } = await writeExportedModel(join(root, 'exports', String(v)), v);
        const card = await registry.register(dir, { challenger: false });
        assert.equal(card.version, v);
        nets[v] = net;
      }
      await registry.promote('compression', 1);
      const p = host.predictor('compression', { baseline: sumBaseline, budgetMs: 10_000, maxBatch: 64, maxWaitMs: 1 });
      await host.ready('compression');

      const pool = Array.from({ length: 256 }, (_, i) => testInputs(1, 4, 77_000 + i));
      const failures: string[] = [];
      let issued = 0;
      let completed = 0;
      let promoting: Promise<void> = Promise.resolve();
      let promoted = 1;
      let allSwapped = false;
      let tail = 0;
      const caller = async (): Promise<void> => {
        // Until the total is reached and the last promotion has served a while (loading runs beside the load).
        while (issued < TOTAL || tail < 1000) {
          if (allSwapped) tail++;
          const i = issued++ % pool.length;
          const from = p.champion?.version ?? 0;
          const r = await p.predict(pool[i]!);
          const to = p.champion?.version ?? 0;
          completed++;
          const v = r.model?.version;
          if (r.source !== 'model' || v === undefined) failures.push(`${r.source} ${r.code ?? ''}`);
          // Versions are promoted in increasing order, so "champion at some point in flight" is this range.
          else if (v < from || v > to) failures.push(`v${v} answered a request in flight under v${from}..v${to}`);
          else if (Math.abs(r.output[0]! - referenceForward(nets[v]!, pool[i]!, 1)[0]!) > 1e-5) failures.push(`v${v}: wrong output`);
          if (completed % Math.floor(TOTAL / VERSIONS) === 0 && promoted < VERSIONS) {
            const next = ++promoted;
            promoting = promoting.then(async () => {
              await registry.promote('compression', next, { force: true });
              await host.ready('compression');
              if (next === VERSIONS) allSwapped = true;
            });
          }
        }
      };
      await Promise.all(Array.from({ length: CALLERS }, caller));
      await promoting;
      assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failed or mistagged of ${TOTAL}`);
      assert.equal(host.serving('compression').champion, VERSIONS);
      const byVersion = new Map(runtime.loaded.map((m) => [m.card.version, m]));
      assert.equal(byVersion.size, VERSIONS, 'every version was loaded');
      for (let v = 1; v < VERSIONS; v++) assert.equal(byVersion.get(v)!.closeCalls, 1, `v${v} closed after it was replaced`);
      // The probe run at load is one; more means the version answered requests.
      for (const m of runtime.loaded) assert.ok(m.runs > 1, `v${m.card.version} served`);
      assert.ok(completed >= TOTAL);
    } finally {
      await host.close();
      await registry.close();
      await rm(root, { recursive: true, force: true });
    }
    for (const m of runtime.loaded) assert.deepEqual(m.violations, []);
  });
});

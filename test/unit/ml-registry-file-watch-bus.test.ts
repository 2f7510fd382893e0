import assert from 'node:assert/strict';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { FileWatchBus, NOTICE_FILE } from '../../src/ml/registry/file-watch-bus.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import type { PromotionNotice } from '../../src/ml/registry/promotion-bus.ts';
import { conformanceNotice, runPromotionBusConformance } from '../../src/testing/promotion-bus-conformance.ts';
import { tempDir, writeTestModel } from '../fixtures/ml-registry-models.ts';

for (const watch of [true, false]) {
  runPromotionBusConformance(`FileWatchBus (${watch ? 'fs.watch + polling' : 'polling only'})`, async () => {
    const root = await tempDir('bus');
    return {
      open: async () => new FileWatchBus({ root, watch, pollIntervalMs: watch ? 250 : 25, logger: silentLogger }),
      injectRaw: async (text) => {
        await mkdir(join(root, 'compression'), { recursive: true });
        // Atomically, as publish() writes: a plain writeFile can be seen half-done (empty), counting twice.
        const tmp = join(root, 'compression', `${NOTICE_FILE}.inject`);
        await writeFile(tmp, text);
        await rename(tmp, join(root, 'compression', NOTICE_FILE));
      },
      coalesces: true,
      teardown: () => rm(root, { recursive: true, force: true }),
    };
  });
}

function next(bus: FileWatchBus): Promise<PromotionNotice> {
  return new Promise((resolve) => {
    const off = bus.subscribe((n) => {
      off();
      resolve(n);
    });
  });
}

test('fs.watch delivers well before the polling interval', async (t) => {
  const root = await tempDir('bus-fast');
  t.after(() => rm(root, { recursive: true, force: true }));
  await mkdir(join(root, 'prefetch'), { recursive: true });
  // Polling once a minute: a delivery within a second can only come from fs.watch.
  const sub = new FileWatchBus({ root, pollIntervalMs: 60_000, logger: silentLogger });
  const pub = new FileWatchBus({ root, logger: silentLogger });
  t.after(() => Promise.all([sub.close(), pub.close()]));
  const got = next(sub);
  await sub.ready();
  const n = conformanceNotice(1, { policy: 'prefetch' });
  const t0 = performance.now();
  await pub.publish(n);
  assert.deepEqual(await got, n);
  const ms = performance.now() - t0;
  t.diagnostic(`fs.watch delivery in-process: ${ms.toFixed(1)} ms`);
  assert.ok(ms < 1000, `${ms} ms`);
});

test('a policy directory that appears after the subscriber started is picked up', async (t) => {
  const root = await tempDir('bus-late');
  t.after(() => rm(root, { recursive: true, force: true }));
  const sub = new FileWatchBus({ root, pollIntervalMs: 20, logger: silentLogger });
  t.after(() => sub.close());
  const got = next(sub);
  await sub.ready();
  const pub = new FileWatchBus({ root, logger: silentLogger });
  t.after(() => pub.close());
  const n = conformanceNotice(3, { policy: 'conflict' });
  await pub.publish(n);
  assert.deepEqual(await got, n);
});

test('a registry with the default bus announces promotions to a FileWatchBus on its root', async (t) => {
  const base = await tempDir('bus-registry');
  t.after(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'models');
  const registry = await ModelRegistry.open(root, { logger: silentLogger });
  t.after(() => registry.close());
  const model = await writeTestModel(join(base, 'in'), { policy: 'anomaly' });
  await registry.register(model.dir, { challenger: false });
  const server = new FileWatchBus({ root, logger: silentLogger });
  t.after(() => server.close());
  const got = next(server);
  await server.ready();
  const r = await registry.promote('anomaly', 1);
  assert.equal(r.notified, true);
  assert.deepEqual(await got, { policy: 'anomaly', champion: 1, challengers: [], at: r.at, origin: registry.origin });
});

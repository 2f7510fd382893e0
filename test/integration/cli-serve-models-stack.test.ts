import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startEmbeddedStack, type StackContext } from '../../src/cli/embedded-stack.ts';
import { parseModelServingConfig } from '../../src/cli/model-serving-config.ts';
import { parseServerConfig } from '../../src/core/config.ts';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { compressionSizeBaseline } from '../../src/ml/features/compression-size-baseline.ts';
import { compressionSizeFeatures, FEATURE_SCHEMA } from '../../src/ml/features/compression-size.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import type { DenseNetwork } from '../../src/ml/dense-network.ts';
import { referenceForward, testModelBytes, testModelCard, testNetwork } from '../../src/testing/model-runtime-conformance.ts';
import { waitFor } from '../helpers/test-server.ts';

// The embedded stack's models, in-process: what stages get from `ctx.models`, and how serve's
// model-serving options are parsed.

const BIN = fileURLToPath(new URL('../../bin/syncpilot.js', import.meta.url));

function cli(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const isConfigError = (re: RegExp) => (err: unknown) =>
  err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID' && re.test(err.message);

describe('embedded stack models', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-stack-models-'));
  });
  // The store's WAL checkpoint thread closes its connection after `stack.close()` resolves: retry the removal.
  after(() => rm(root, { recursive: true, force: true, maxRetries: 10 }));

  /** A data dir whose registry holds compression v1 (champion) and v2 (challenger, better by the gate), and their networks. */
  async function registryWithTwo(name: string): Promise<{ dataDir: string; nets: Map<number, DenseNetwork> }> {
    const dataDir = join(root, name);
    const registry = await ModelRegistry.open(join(dataDir, 'models'), { bus: null });
    const nets = new Map<number, DenseNetwork>();
    try {
      for (const [i, mae] of [0.1, 0.08].entries()) {
        const net = testNetwork({ widths: [12, 8, 1], activations: ['relu', 'linear'] }, 42 + i);
        const bytes = testModelBytes(net);
        const exported = join(dataDir, 'exports', String(i));
        await mkdir(exported, { recursive: true });
        await writeFile(join(exported, 'model.onnx'), bytes);
        const card = testModelCard(net, bytes, {
          name: 'size-regressor',
          featureSchema: FEATURE_SCHEMA,
          primary: { name: 'mae', value: mae, higherIsBetter: false },
        });
        await writeFile(join(exported, 'card.json'), JSON.stringify(card));
        nets.set((await registry.register(exported)).version, net);
      }
      await registry.promote('compression', 1);
    } finally {
      await registry.close();
    }
    return { dataDir, nets };
  }

  test('predictions under sustained load while another process promotes and rolls back: none fails, each from the version tagged', async (t) => {
    const { dataDir, nets } = await registryWithTwo('load');
    const stack = await startEmbeddedStack(parseServerConfig({ dataDir, port: 0, logLevel: 'error' }), silentLogger, [], {
      models: parseModelServingConfig(),
    });
    try {
      await stack.models.listening();
      const predictor = stack.models.predictor('compression');
      const features = compressionSizeFeatures(new TextEncoder().encode('{"op":"set","key":"title","value":"hello"}'.repeat(20)));
      const expected = new Map([...nets].map(([v, net]) => [v, referenceForward(net, features, 1)[0]!]));
      let stop = false;
      let total = 0;
      const problems: string[] = [];
      const seen = new Set<number>();
      const load = (async () => {
        while (!stop && problems.length < 100) {
          // Leave the event loop room for the promotion notices, even if every answer were synchronous.
          await new Promise((r) => setImmediate(r));
          const batch = await Promise.all(Array.from({ length: 64 }, () => predictor.predict(features)));
          for (const p of batch) {
            total++;
            if (p.source !== 'model' || p.model === null) problems.push(`baseline answered (${p.code ?? 'no code'})`);
            else if (Math.abs(p.output[0]! - expected.get(p.model.version)!) > 1e-5) problems.push(`v${p.model.version} output mismatch`);
            else seen.add(p.model.version);
          }
        }
      })();
      const champion = (): number | null => stack.models.serving()[0]?.champion?.version ?? null;
      for (const [args, want] of [
        [['promote', 'compression', '--version', '2'], 2],
        [['rollback', 'compression'], 1],
        [['promote', 'compression', '--version', '2'], 2],
      ] as const) {
        const r = await cli(['models', ...args, '--data-dir', dataDir]);
        assert.equal(r.code, 0, r.stderr);
        await waitFor(() => champion() === want, 5000, `v${want} serving`);
      }
      stop = true;
      await load;
      assert.deepEqual(problems.slice(0, 5), []);
      assert.deepEqual([...seen].sort(), [1, 2]);
      assert.ok(total > 1000, `${total} predictions`);
      t.diagnostic(`${total} predictions across 3 swaps, none failed`);
    } finally {
      await stack.close();
    }
  });

  test('stages get the models; the compression predictor answers with the champion, a policy without one with its baseline', async () => {
    const dataDir = join(root, 'served');
    const net = testNetwork({ widths: [12, 8, 1], activations: ['relu', 'linear'] }, 42);
    const bytes = testModelBytes(net);
    const exported = join(root, 'export');
    await mkdir(exported, { recursive: true });
    await writeFile(join(exported, 'model.onnx'), bytes);
    await writeFile(
      join(exported, 'card.json'),
      JSON.stringify(testModelCard(net, bytes, { name: 'size-regressor', featureSchema: FEATURE_SCHEMA })),
    );
    const registry = await ModelRegistry.open(join(dataDir, 'models'), { bus: null });
    await registry.register(exported);
    await registry.promote('compression', 1);
    await registry.close();

    let ctx: StackContext | undefined;
    const stack = await startEmbeddedStack(
      parseServerConfig({ dataDir, port: 0, logLevel: 'error' }),
      silentLogger,
      (c) => {
        ctx = c;
        return [];
      },
      { models: parseModelServingConfig() },
    );
    try {
      assert.equal(ctx?.models, stack.models, 'the stage factory gets the stack models');
      assert.equal(stack.models.bus, 'file');
      assert.deepEqual(
        stack.models.serving().map((s) => [s.policy, s.champion]),
        [['compression', { name: 'size-regressor', version: 1 }]],
        'the champion is in before the server listens',
      );
      const features = compressionSizeFeatures(new TextEncoder().encode('hello hello hello hello, a compressible payload'));
      const p = await stack.models.predictor('compression').predict(features);
      assert.equal(p.source, 'model');
      assert.deepEqual(p.model, { name: 'size-regressor', version: 1 });
      assert.ok(Math.abs(p.output[0]! - referenceForward(net, features, 1)[0]!) < 1e-5);
      assert.equal(stack.models.predictor('compression'), stack.models.predictor('compression'), 'one predictor per policy');

      const none = await stack.models.predictor('anomaly').predict(new Float32Array(4));
      assert.equal(none.source, 'baseline');
      assert.equal(none.code, undefined, 'no champion is not a failure');
    } finally {
      await stack.close();
    }
  });

  test('without model serving (the demo) every predictor answers with its baseline', async () => {
    const stack = await startEmbeddedStack(parseServerConfig({ dataDir: join(root, 'off'), port: 0, logLevel: 'error' }), silentLogger);
    try {
      assert.equal(stack.models.registryRoot, null);
      assert.equal(stack.models.bus, null);
      const features = compressionSizeFeatures(new Uint8Array(1000));
      const p = await stack.models.predictor('compression').predict(features);
      assert.equal(p.source, 'baseline');
      assert.deepEqual([...p.output], [compressionSizeBaseline(features)]);
    } finally {
      await stack.close();
    }
  });

  test('model-serving options: flags over env over the config file, each bus with its address', () => {
    assert.deepEqual(parseModelServingConfig(), { bus: 'file' });
    assert.deepEqual(
      parseModelServingConfig({
        file: { bus: 'kafka', registry: '/from/file' },
        env: { SYNCPILOT_MODELS_BUS: 'redis', SYNCPILOT_REDIS_URL: 'redis://env:6379', SYNCPILOT_MODELS_REGISTRY: '/from/env' },
        flags: { registry: '/from/flag' },
      }),
      { bus: 'redis', redisUrl: 'redis://env:6379', registry: '/from/flag' },
    );
    assert.deepEqual(parseModelServingConfig({ flags: { bus: 'kafka' }, kafkaBrokers: ['127.0.0.1:9092'] }), {
      bus: 'kafka',
      kafkaBrokers: ['127.0.0.1:9092'],
    });
    assert.deepEqual(parseModelServingConfig({ env: { SYNCPILOT_MODELS_BUS: '' } }), { bus: 'file' }, 'empty env counts as unset');
    assert.throws(
      () => parseModelServingConfig({ flags: { bus: 'kafka' } }),
      isConfigError(/models\.kafkaBrokers: the kafka bus needs --kafka/),
    );
    assert.throws(() => parseModelServingConfig({ flags: { bus: 'redis', redis: 'http://x' } }), isConfigError(/models\.redisUrl/));
    assert.throws(() => parseModelServingConfig({ file: { bus: 'file', extra: 1 } }), isConfigError(/models/));
    assert.throws(() => parseModelServingConfig({ file: 'file' }), isConfigError(/models: expected an object/));
  });
});

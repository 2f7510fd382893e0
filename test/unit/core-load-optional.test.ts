import assert from 'node:assert/strict';
import type * as NodePath from 'node:path';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { loadOptional } from '../../src/core/load-optional.ts';
import { loadBullmq } from '../../pipelines/bullmq/load-bullmq.ts';
import { loadIoredis, loadKafkaJsForBus } from '../../src/ml/registry/load-bus-client.ts';

const HINT = 'the thing needs the optional dependency left-pad: npm install left-pad@^1';

const configInvalid = (includes: readonly string[]) => (err: unknown) =>
  err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID' && includes.every((s) => err.message.includes(s));

describe('loadOptional', () => {
  test('imports the module by name when no importer is given', async () => {
    const path = (await loadOptional('node:path', HINT)) as typeof NodePath;
    assert.equal(path.join('a', 'b'), `a${path.sep}b`);
  });

  test('a missing module is SP_ERR_CONFIG_INVALID carrying the install hint, and its cause', async () => {
    await assert.rejects(loadOptional('sp-no-such-package-xyz', HINT), (err: unknown) => {
      assert.ok(err instanceof SyncPilotError);
      assert.equal(err.code, 'SP_ERR_CONFIG_INVALID');
      assert.equal(err.message, HINT);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ERR_MODULE_NOT_FOUND');
      return true;
    });
  });

  test('a module that fails to load names the module and its error, then the hint', async () => {
    await assert.rejects(
      loadOptional('left-pad', HINT, { importer: () => Promise.reject(new Error('native binding broke')) }),
      configInvalid(['left-pad failed to load', 'native binding broke', HINT]),
    );
  });

  test('pick takes what is needed; a module without it is refused', async () => {
    const pick = (m: unknown) => (m as { fn?: () => number } | null)?.fn;
    assert.equal((await loadOptional('x', HINT, { importer: async () => ({ fn: () => 7 }), pick, exportName: 'fn' }))(), 7);
    await assert.rejects(
      loadOptional('x', HINT, { importer: async () => ({}), pick, exportName: 'fn function' }),
      configInvalid(['x loaded but exports no fn function', HINT]),
    );
  });

  test('the adapters of the optional dependencies load through it, each with its own hint', async () => {
    const missing = () => Promise.reject(Object.assign(new Error('Cannot find package'), { code: 'ERR_MODULE_NOT_FOUND' }));
    await assert.rejects(loadBullmq(missing), configInvalid(['npm install bullmq']));
    await assert.rejects(
      loadBullmq(async () => ({})),
      configInvalid(['bullmq loaded but exports no Queue class']),
    );
    await assert.rejects(loadIoredis(missing), configInvalid(['Redis promotion bus', 'npm install ioredis']));
    await assert.rejects(
      loadIoredis(async () => ({ default: 1 })),
      configInvalid(['ioredis loaded but exports no Redis class']),
    );
    await assert.rejects(loadKafkaJsForBus(missing), configInvalid(['Kafka promotion bus', 'npm install kafkajs']));
    await assert.rejects(
      loadKafkaJsForBus(async () => ({ default: {} })),
      configInvalid(['kafkajs loaded but exports no Kafka class']),
    );
    class Redis {}
    assert.equal(await loadIoredis(async () => ({ Redis })), Redis);
  });
});

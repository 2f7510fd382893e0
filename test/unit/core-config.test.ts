import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { parseServerConfig } from '../../src/core/config.ts';

test('defaults come from the schema', () => {
  const c = parseServerConfig({});
  assert.equal(c.port, 4455);
  assert.equal(c.auth.mode, 'none');
  assert.equal(c.telemetry.sink, 'embedded');
  assert.ok(Object.isFrozen(c));
});

test('invalid config lists every problem with SP_ERR_CONFIG_INVALID; unknown keys are refused', () => {
  assert.throws(
    () => parseServerConfig({ port: -1, maxFrameBytes: 'big', bogus: 1 }),
    (e: unknown) =>
      e instanceof SyncPilotError &&
      e.code === 'SP_ERR_CONFIG_INVALID' &&
      /port/.test(e.message) &&
      /maxFrameBytes/.test(e.message) &&
      /bogus/.test(e.message),
  );
  assert.throws(
    () => parseServerConfig({ auth: { mode: 'jwt', secret: 'short' } }),
    (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID',
  );
});

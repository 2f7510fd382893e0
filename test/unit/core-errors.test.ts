import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES, SyncPilotError, isErrorCode, toSyncPilotError } from '../../src/core/errors.ts';

test('docs/errors.md catalogues exactly the codes in ERROR_CODES', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/`(SP_ERR_[A-Z_]+)`/g)].map((m) => m[1]));
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
});

test('SyncPilotError carries code, retryable and cause; toSyncPilotError wraps anything once', () => {
  const cause = new Error('disk');
  const e = new SyncPilotError('SP_ERR_STORE', 'write failed', { cause, retryable: true });
  assert.equal(e.code, 'SP_ERR_STORE');
  assert.equal(e.retryable, true);
  assert.equal(e.cause, cause);
  assert.equal(toSyncPilotError(e), e);
  const w = toSyncPilotError('boom');
  assert.equal(w.code, 'SP_ERR_INTERNAL');
  assert.equal(w.message, 'boom');
  assert.ok(isErrorCode('SP_ERR_HELD'));
  assert.ok(!isErrorCode('SP_ERR_NOPE'));
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'SP_ERR_STORE', message: 'write failed', retryable: true });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { Change } from '../../src/engine/crdt/types.ts';
import { binaryChangeCodec, CHANGE_FORMAT_VERSION } from '../../src/engine/protocol/change-codec.ts';
import { PINNED_CHANGES } from '../helpers/encoding-fixtures.ts';

/** A change with every op kind (shared with the pinned-bytes test). */
const change = PINNED_CHANGES['everyOp'] as Change;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SyncPilotError, `not a SyncPilotError: ${String(err)}`);
    return err.code;
  }
  return 'no error';
}

describe('binaryChangeCodec', () => {
  test('round-trips a change with every op kind', () => {
    const bytes = binaryChangeCodec.encode(change);
    assert.equal(bytes[0], CHANGE_FORMAT_VERSION);
    assert.deepEqual(binaryChangeCodec.decode(bytes), change);
  });

  test('is compact: actor ids once, text as one string', () => {
    const bytes = binaryChangeCodec.encode(change);
    const text = Buffer.from(bytes).toString('latin1');
    assert.equal(text.split('alice').length - 1, 1);
    assert.equal(text.split('bob').length - 1, 1);
    const json = Buffer.byteLength(JSON.stringify(change));
    assert.ok(bytes.length * 3 < json, `${bytes.length} bytes vs ${json} bytes of JSON`);
  });

  test('refuses an invalid change on encode', () => {
    assert.equal(
      codeOf(() => binaryChangeCodec.encode({ ...change, seq: -1 })),
      'SP_ERR_PAYLOAD_INVALID',
    );
    assert.equal(
      codeOf(() => binaryChangeCodec.encode(null as unknown as Change)),
      'SP_ERR_PAYLOAD_INVALID',
    );
  });

  test('decode throws only SyncPilotError with a stable code', () => {
    const bytes = binaryChangeCodec.encode(change);
    for (let n = 0; n < bytes.length; n++)
      assert.equal(
        codeOf(() => binaryChangeCodec.decode(bytes.subarray(0, n))),
        'SP_ERR_FRAME_MALFORMED',
        `prefix ${n}`,
      );
    const future = bytes.slice();
    future[0] = 2;
    assert.equal(
      codeOf(() => binaryChangeCodec.decode(future)),
      'SP_ERR_PAYLOAD_INVALID',
    );
    assert.equal(
      codeOf(() => binaryChangeCodec.decode(new Uint8Array([...bytes, 0]))),
      'SP_ERR_PAYLOAD_INVALID',
    );
    assert.equal(
      codeOf(() => binaryChangeCodec.decode(undefined as unknown as Uint8Array)),
      'SP_ERR_FRAME_MALFORMED',
    );
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError, type ErrorCode } from '../../src/core/errors.ts';
import type { ActorId } from '../../src/core/ids.ts';
import type { Change, Op } from '../../src/engine/crdt/types.ts';
import { ActorTable } from '../../src/engine/crdt/actor-table.ts';
import { newChangeRun, writeChange } from '../../src/engine/crdt/change-encoding.ts';
import { ByteWriter } from '../../src/engine/encoding/byte-io.ts';
import { decodeFrame, encodeFrame } from '../../src/engine/protocol/frame-codec.ts';
import { FrameType, type ProtocolMessage } from '../../src/engine/protocol/messages.ts';
import { isOneCodePoint, isOpId, opIdCounter, validateJsonValue, validateMessage } from '../../src/engine/protocol/validate.ts';

const OPTIONS = { maxFrameBytes: 1 << 20 };

function expectInvalid(fn: () => unknown, field: RegExp, code: ErrorCode = 'SP_ERR_PAYLOAD_INVALID'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SyncPilotError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, field);
    return true;
  });
}

const base: Change = {
  actor: 'alice' as ActorId,
  seq: 2,
  startOp: 10,
  deps: { alice: 1 },
  time: 1_763_000_000_000,
  ops: [{ action: 'set', obj: 'root', key: 'title', value: 'hi', pred: [] }],
};
const withChange = (patch: Record<string, unknown>): ProtocolMessage => ({ type: 'CHANGES', doc: 'd', changes: [{ ...base, ...patch }] });
const withOp = (op: Record<string, unknown>): ProtocolMessage => withChange({ ops: [op as unknown as Op] });

/**
 * Writes a CHANGES frame with the codec's own layout but no validation, as a hostile peer could:
 * the decoder has to catch what the encoder would have refused.
 */
function unvalidatedChangesFrame(changes: readonly Change[], doc = 'd'): Uint8Array {
  const t = new ActorTable();
  for (const c of changes) t.addChange(c);
  const w = new ByteWriter(4);
  t.write(w);
  w.str(doc);
  w.varint(changes.length);
  const run = newChangeRun();
  for (const c of changes) writeChange(w, t, c, run);
  const bytes = w.finish();
  bytes.set([1, FrameType.CHANGES, 0, 0]);
  return bytes;
}

const invalidCases: [name: string, message: ProtocolMessage, field: RegExp][] = [
  ['actor id longer than 128 characters', withChange({ actor: 'a'.repeat(129) }), /changes\[0\]\.actor/],
  ['actor id with a space', withChange({ actor: 'al ice' }), /actor/],
  ['negative seq', withChange({ seq: -1 }), /seq/],
  ['seq 0 (changes count from 1)', withChange({ seq: 0 }), /seq/],
  ['fractional startOp', withChange({ startOp: 1.5 }), /startOp/],
  ['startOp 0 (counters start at 1)', withChange({ startOp: 0 }), /startOp/],
  ['op id with counter 0', withOp({ action: 'del', obj: '0@alice', key: 'k', pred: [] }), /obj/],
  ['NaN time', withChange({ time: Number.NaN }), /time/],
  ['infinite time', withChange({ time: Number.POSITIVE_INFINITY }), /time/],
  ['deps with a negative entry', withChange({ deps: { bob: -1 } }), /deps/],
  ['deps with a bad actor key', withChange({ deps: { 'b o b': 1 } }), /deps/],
  ['ops not an array', withChange({ ops: {} }), /ops/],
  ['unknown op action', withOp({ action: 'explode', obj: 'root' }), /ops\[0\]\.action/],
  ['op id without counter', withOp({ action: 'del', obj: '@alice', key: 'k', pred: [] }), /obj/],
  ['op id with a leading zero', withOp({ action: 'del', obj: '01@alice', key: 'k', pred: [] }), /obj/],
  ['obj "_head"', withOp({ action: 'del', obj: '_head', key: 'k', pred: [] }), /obj/],
  ['after "root"', withOp({ action: 'ins', obj: '1@alice', after: 'root', values: ['x'] }), /after/],
  ['NaN scalar', withOp({ action: 'set', obj: 'root', key: 'k', value: Number.NaN, pred: [] }), /value/],
  ['object scalar', withOp({ action: 'set', obj: 'root', key: 'k', value: {}, pred: [] }), /value/],
  ['key not a string', withOp({ action: 'set', obj: 'root', key: 3, value: 1, pred: [] }), /key/],
  ['unknown object type', withOp({ action: 'make', obj: 'root', key: 'k', type: 'tree', pred: [] }), /type/],
  ['empty insert', withOp({ action: 'ins', obj: '1@alice', after: '_head', values: [] }), /values/],
  ['empty remove', withOp({ action: 'rm', obj: '1@alice', elems: [] }), /elems/],
  ['infinite increment', withOp({ action: 'inc', obj: '1@alice', by: Number.NEGATIVE_INFINITY }), /by/],
  [
    'text value that is not one code point',
    withChange({
      ops: [
        { action: 'make', obj: 'root', key: 'body', type: 'text', pred: [] },
        { action: 'ins', obj: '10@alice', after: '_head', values: ['h', 'ey'] },
      ],
    }),
    /ops\[1\]\.values\[1\].*code point/,
  ],
  ['lone surrogate in a string', withOp({ action: 'set', obj: 'root', key: 'k', value: '\ud800x', pred: [] }), /surrogate/],
  [
    'counters past 2^53',
    withChange({ startOp: Number.MAX_SAFE_INTEGER, ops: [{ action: 'ins', obj: 'root', after: '_head', values: [1, 2] }] }),
    /counters/,
  ],
  ['doc id too long', { type: 'SUBSCRIBE', doc: 'd'.repeat(129), clock: {} }, /doc/],
  ['clock value NaN', { type: 'SUBSCRIBE', doc: 'd', clock: { a: Number.NaN } }, /clock/],
  ['ACK with negative seq', { type: 'ACK', doc: 'd', actor: 'a', seq: -3 }, /seq/],
  [
    'HELLO with an unknown codec',
    { type: 'HELLO', protocols: [1], actor: 'a', client: 'c', codecs: ['zstd' as 'raw'], capabilities: [] },
    /codecs/,
  ],
  ['HELLO with protocol 300', { type: 'HELLO', protocols: [300], actor: 'a', client: 'c', codecs: [], capabilities: [] }, /protocols/],
  [
    'WELCOME with maxFrameBytes 0',
    { type: 'WELCOME', protocol: 1, peer: 'p', server: 's', codecs: [], capabilities: [], maxFrameBytes: 0 },
    /maxFrameBytes/,
  ],
  ['ERROR with an unknown code', { type: 'ERROR', code: 'SP_ERR_NOPE' as 'SP_ERR_INTERNAL', message: '', fatal: false }, /code/],
  ['ERROR with fatal not boolean', { type: 'ERROR', code: 'SP_ERR_INTERNAL', message: '', fatal: 1 as unknown as boolean }, /fatal/],
  ['HINT with a function', { type: 'HINT', kind: 'k', data: { f: () => 1 } }, /data/],
  ['HINT with a Date', { type: 'HINT', kind: 'k', data: new Date(0) }, /data/],
  ['HINT with undefined data', { type: 'HINT', kind: 'k', data: undefined }, /data/],
  ['HINT with empty kind', { type: 'HINT', kind: '', data: null }, /kind/],
  ['PING with NaN nonce', { type: 'PING', nonce: Number.NaN }, /nonce/],
  ['unknown type', { type: 'HELLO2' } as unknown as ProtocolMessage, /type/],
];

describe('validation on encode', () => {
  for (const [name, message, field] of invalidCases) {
    test(`refuses ${name}`, () => expectInvalid(() => encodeFrame(message), field));
  }

  test('the valid base message passes', () => {
    assert.doesNotThrow(() => encodeFrame(withChange({})));
  });
});

describe('validation on decode', () => {
  const hostile: [name: string, changes: Change[], field: RegExp][] = [
    ['seq 0', [{ ...base, seq: 0 }], /seq/],
    ['NaN time', [{ ...base, time: Number.NaN }], /time/],
    ['actor id longer than 128 characters', [{ ...base, actor: 'a'.repeat(129) as ActorId, deps: {} }], /actor/],
    [
      'text value that is not one code point',
      [
        {
          ...base,
          ops: [
            { action: 'make', obj: 'root', key: 'body', type: 'text', pred: [] },
            { action: 'ins', obj: '10@alice', after: '_head', values: ['ab'] },
          ],
        },
      ],
      /code point/,
    ],
    [
      'a text object made in an earlier change of the same message',
      [
        { ...base, ops: [{ action: 'make', obj: 'root', key: 'body', type: 'text', pred: [] }] },
        { ...base, seq: 3, startOp: 11, deps: { alice: 2 }, ops: [{ action: 'ins', obj: '10@alice', after: '_head', values: [7] }] },
      ],
      /changes\[1\]\.ops\[0\]\.values\[0\]/,
    ],
    ['a remove of no elements', [{ ...base, ops: [{ action: 'rm', obj: '1@alice', elems: [] }] }], /elems/],
  ];
  for (const [name, changes, field] of hostile) {
    test(`rejects ${name} sent by a peer that skips validation`, () => {
      expectInvalid(() => decodeFrame(unvalidatedChangesFrame(changes), OPTIONS), field);
    });
  }

  test('rejects unknown op actions, scalar tags, flags and out-of-table actor indexes', () => {
    const good = unvalidatedChangesFrame([base]);
    // Layout: header(4) · table [1, 5 'alice'] (7) · doc [1 'd'] (2) · 1 change · actor 0 · seq · startOp · flags ...
    // ... time (6) · op count · op: action · obj · key 'title' (6) · tag · 'hi' (3) · pred count.
    const at = { flags: 4 + 7 + 2 + 1 + 3, action: good.length - (1 + 1 + 6 + 1 + 3 + 1) };
    const patched = (i: number, value: number): Uint8Array => {
      const copy = good.slice();
      copy[i] = value;
      return copy;
    };
    assert.equal(decodeFrame(good, OPTIONS).message.type, 'CHANGES');
    expectInvalid(() => decodeFrame(patched(at.action, 99), OPTIONS), /action/);
    expectInvalid(() => decodeFrame(patched(at.flags, 0b110), OPTIONS), /time encoding/);
    expectInvalid(() => decodeFrame(patched(good.length - 5, 17), OPTIONS), /scalar tag/);
    expectInvalid(() => decodeFrame(patched(4 + 7 + 2 + 1, 5), OPTIONS), /actor table/);
    expectInvalid(() => decodeFrame(patched(4 + 1 + 1, 0x20), OPTIONS), /actor id/);
  });

  test('rejects a duplicated actor in the table and a repeated key in a version vector', () => {
    // SUBSCRIBE: table [2, 'a', 'a'] · doc 'd' · clock []
    expectInvalid(() => decodeFrame(new Uint8Array([1, FrameType.SUBSCRIBE, 0, 0, 2, 1, 0x61, 1, 0x61, 1, 0x64, 0]), OPTIONS), /duplicate/);
    // table [1, 'a'] · doc 'd' · clock [2: (0, 1), (0, 2)]
    expectInvalid(
      () => decodeFrame(new Uint8Array([1, FrameType.SUBSCRIBE, 0, 0, 1, 1, 0x61, 1, 0x64, 2, 0, 1, 0, 2]), OPTIONS),
      /repeats/,
    );
  });

  test('an unknown codec id in a codec list is dropped (a newer peer may offer more)', () => {
    // HELLO: protocols [1] · actor 'a' · client '' · flags 0 · codecs [raw, 77, gzip] · capabilities []
    const bytes = new Uint8Array([1, FrameType.HELLO, 0, 0, 1, 1, 1, 0x61, 0, 0, 3, 0, 77, 1, 0]);
    assert.deepEqual(decodeFrame(bytes, OPTIONS).message, {
      type: 'HELLO',
      protocols: [1],
      actor: 'a',
      client: '',
      codecs: ['raw', 'gzip'],
      capabilities: [],
    });
  });

  test('HINT data nested deeper than 64 is refused; 64 is fine', () => {
    const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
    const hint = (json: string): Uint8Array => {
      const w = new ByteWriter(4);
      w.str('k');
      w.u8(0);
      w.str(json);
      const bytes = w.finish();
      bytes.set([1, FrameType.HINT, 0, 0]);
      return bytes;
    };
    assert.equal(decodeFrame(hint(nested(64)), OPTIONS).message.type, 'HINT');
    expectInvalid(() => decodeFrame(hint(nested(65)), OPTIONS), /nested/);
    expectInvalid(() => decodeFrame(hint(nested(200_000)), OPTIONS), /nested/);
    expectInvalid(() => decodeFrame(hint('{"a":'), OPTIONS), /JSON/);
  });
});

describe('validation helpers', () => {
  test('op ids', () => {
    assert.equal(opIdCounter('12@alice'), 12);
    assert.equal(opIdCounter('1@a@b'), 1);
    assert.equal(opIdCounter(`${Number.MAX_SAFE_INTEGER}@a`), Number.MAX_SAFE_INTEGER);
    for (const bad of ['', '@a', '1@', '0@a', '01@a', '1.5@a', '-1@a', `${2 ** 53}@a`, '12345678901234567@a', 'x@a', '1@a b', 5])
      assert.equal(isOpId(bad), false, String(bad));
  });

  test('code points', () => {
    for (const ok of ['a', 'é', '中', '😀']) assert.equal(isOneCodePoint(ok), true, ok);
    for (const bad of ['', 'ab', '\ud83d', '\ude00', 'e\u0301', 1]) assert.equal(isOneCodePoint(bad), false, String(bad));
  });

  test('JSON values', () => {
    assert.doesNotThrow(() => validateJsonValue({ a: [1, 'x', null, true, { b: -0.5 }] }));
    for (const bad of [undefined, Number.NaN, 1n, Symbol('s'), [undefined], { a: new Map() }])
      assert.throws(() => validateJsonValue(bad), SyncPilotError);
  });

  test('validateMessage accepts every valid type', () => {
    assert.doesNotThrow(() => validateMessage({ type: 'PONG', nonce: -0 }));
    assert.doesNotThrow(() =>
      validateMessage({ type: 'ERROR', code: 'SP_ERR_HELD', message: 'held', fatal: false, doc: 'd', rejected: [{ actor: 'a', seq: 1 }] }),
    );
  });
});

/**
 * Deterministic changes and protocol messages whose encodings test/unit/encoding-pinned-bytes.test.ts
 * pins byte for byte. Self-contained (its own seeded generator, no fast-check) so that the pinned
 * digests change only when the encoding does.
 */
import type { ActorId } from '../../src/core/ids.ts';
import type { Change, Op, Scalar } from '../../src/engine/crdt/types.ts';
import type { ProtocolMessage } from '../../src/engine/protocol/messages.ts';

/** Hand-picked changes that reach every branch of the change layout. */
export const PINNED_CHANGES: Readonly<Record<string, Change>> = {
  everyOp: {
    actor: 'alice' as ActorId,
    seq: 3,
    startOp: 20,
    deps: { alice: 2, bob: 7 },
    time: 1_763_000_000_123,
    ops: [
      { action: 'make', obj: 'root', key: 'body', type: 'text', pred: [] },
      { action: 'ins', obj: '20@alice', after: '_head', values: ['h', 'é', '😀'] },
      { action: 'set', obj: 'root', key: 'n', value: -2.5, pred: ['4@bob', '19@alice'] },
      { action: 'ins', obj: '9@bob', after: '8@bob', values: [null, true, -7, 'two chars'] },
      { action: 'rm', obj: '20@alice', elems: ['22@alice'] },
      { action: 'inc', obj: '5@bob', by: -3 },
      { action: 'del', obj: 'root', key: 'old', pred: ['1@bob'] },
      { action: 'make', obj: 'root', key: 'm', type: 'map', pred: ['30@bob'] },
      { action: 'make', obj: 'root', key: 'l', type: 'list', pred: [] },
      { action: 'make', obj: 'root', key: 'c', type: 'counter', pred: [] },
      { action: 'set', obj: 'root', key: 'z', value: false, pred: [] },
    ],
  },
  keystroke: {
    actor: 'client-7f3a' as ActorId,
    seq: 1042,
    startOp: 52_311,
    deps: { 'client-7f3a': 1041, 'client-0b21': 388 },
    time: 1_763_000_000_123,
    ops: [{ action: 'ins', obj: '12@client-0b21', after: '52310@client-7f3a', values: ['e'] }],
  },
  firstChangeFloatTime: {
    actor: 'a@b' as ActorId,
    seq: 1,
    startOp: 1,
    deps: {},
    time: 0.5,
    ops: [{ action: 'set', obj: 'root', key: '', value: 2 ** 53 - 1, pred: [] }],
  },
  negativeZeroTimeNoSelfDep: {
    actor: 'x' as ActorId,
    seq: 2,
    startOp: 7,
    deps: { y: 3, x: 1 },
    time: -0,
    ops: [
      { action: 'set', obj: 'root', key: 'f', value: -0, pred: [] },
      { action: 'set', obj: 'root', key: 'g', value: 1e300, pred: [] },
      { action: 'inc', obj: '3@y', by: 0.25 },
    ],
  },
  manyDeps: {
    actor: 'd0' as ActorId,
    seq: 5,
    startOp: 1000,
    deps: Object.fromEntries([['d0', 4], ...Array.from({ length: 40 }, (_, i) => [`d${i + 1}`, i * 37])]),
    time: 42,
    ops: [],
  },
  largeCounters: {
    actor: 'big' as ActorId,
    seq: 2 ** 40,
    startOp: 2 ** 52,
    deps: { big: 2 ** 40 - 1, other: 2 ** 53 - 1 },
    time: -1_000_000,
    ops: [
      { action: 'ins', obj: `${2 ** 31}@other`, after: `${2 ** 52 + 5}@big`, values: ['a', 'b'] },
      { action: 'rm', obj: `${2 ** 31}@other`, elems: ['1@big', `${2 ** 53 - 1}@other`, `${2 ** 52}@big`] },
      { action: 'del', obj: 'root', key: 'k', pred: [`${2 ** 52 + 1}@big`] },
    ],
  },
  longStrings: {
    actor: `${'A'.repeat(127)}z` as ActorId,
    seq: 1,
    startOp: 1,
    deps: {},
    time: 1_600_000_000_000,
    ops: [
      { action: 'make', obj: 'root', key: 'k'.repeat(300), type: 'text', pred: [] },
      {
        action: 'ins',
        obj: `1@${'A'.repeat(127)}z`,
        after: '_head',
        values: Array.from('typing a much longer run of text ✓ 𝄞 '.repeat(4)),
      },
      { action: 'set', obj: 'root', key: 'ключ', value: '\ufeffstarts with a BOM, ends with U+10FFFF \u{10ffff}', pred: [] },
    ],
  },
};

/** A small seeded PRNG (LCG), so the generated changes never depend on a library's generator. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

const ACTORS = ['a', 'bob', 'c@d', 'client-7f3a', 'x.y:z/w-1', 'L'.repeat(128)];
const STRINGS = ['', 'k', 'héllo', '😀', 'a much longer key than forty-two UTF-16 units, to need a varint length', '\u0000\uffff'];

function pick<T>(r: (n: number) => number, xs: readonly T[]): T {
  return xs[r(xs.length)] as T;
}

function counter(r: (n: number) => number): number {
  switch (r(4)) {
    case 0:
      return 1 + r(100);
    case 1:
      return 1 + r(100_000);
    case 2:
      return 2 ** 31 + r(1000);
    default:
      return 2 ** 53 - 1 - r(1000);
  }
}

function opId(r: (n: number) => number): string {
  return `${counter(r)}@${pick(r, ACTORS)}`;
}

function scalar(r: (n: number) => number): Scalar {
  switch (r(8)) {
    case 0:
      return null;
    case 1:
      return r(2) === 0;
    case 2:
      return r(1000) - 500;
    case 3:
      return counter(r) * (r(2) === 0 ? 1 : -1);
    case 4:
      return (r(1_000_000) - 500_000) / 64;
    case 5:
      return -0;
    default:
      return pick(r, STRINGS);
  }
}

function op(r: (n: number) => number): Op {
  const obj = r(3) === 0 ? 'root' : opId(r);
  const ids = (min: number): string[] => Array.from({ length: min + r(3) }, () => opId(r));
  switch (r(6)) {
    case 0:
      return { action: 'set', obj, key: pick(r, STRINGS), value: scalar(r), pred: ids(0) };
    case 1:
      return { action: 'make', obj, key: pick(r, STRINGS), type: pick(r, ['map', 'text', 'list', 'counter'] as const), pred: ids(0) };
    case 2:
      return { action: 'del', obj, key: pick(r, STRINGS), pred: ids(1) };
    case 3: {
      const text = r(2) === 0;
      const values = Array.from({ length: 1 + r(5) }, () => (text ? pick(r, Array.from('ab é😀')) : scalar(r)));
      return { action: 'ins', obj, after: r(3) === 0 ? '_head' : opId(r), values };
    }
    case 4:
      return { action: 'rm', obj, elems: ids(1) };
    default:
      return { action: 'inc', obj, by: r(4) === 0 ? 0.5 : r(200) - 100 };
  }
}

/** `n` varied valid changes from `seed`: actors, counters near every varint width, every time kind. */
export function generatedChanges(seed: number, n: number): Change[] {
  const r = rng(seed);
  const out: Change[] = [];
  let time = 1_700_000_000_000;
  for (let i = 0; i < n; i++) {
    const actor = pick(r, ACTORS) as ActorId;
    const seq = r(4) === 0 ? 1 : 1 + r(5000);
    const deps: Record<string, number> = {};
    if (seq > 1 && r(5) !== 0) deps[actor] = seq - 1;
    for (let k = r(4); k > 0; k--) deps[pick(r, ACTORS)] ??= r(3000);
    if (seq > 1) deps[actor] = seq - 1;
    const kind = r(5);
    time = kind === 0 ? time - 1 - r(10_000) : kind === 1 ? time + 0.5 : kind === 2 ? r(100) : time + r(2000);
    const ops = Array.from({ length: r(5) }, () => op(r));
    out.push({ actor, seq, startOp: r(2) === 0 ? 1 + r(1000) : 2 ** 40 + r(1000), deps, time, ops });
  }
  return out;
}

/** One message of every type, with values that reach each flag. */
export function pinnedMessages(): Record<string, ProtocolMessage> {
  const changes = generatedChanges(7, 6);
  return {
    hello: {
      type: 'HELLO',
      protocols: [1, 2],
      actor: 'client-7f3a',
      client: 'syncpilot-test/1',
      token: 'tok.en',
      codecs: ['raw', 'brotli'],
      capabilities: ['hints'],
    },
    helloNoToken: { type: 'HELLO', protocols: [1], actor: 'a', client: '', codecs: [], capabilities: [] },
    welcome: {
      type: 'WELCOME',
      protocol: 1,
      peer: 'peer-1',
      server: 'syncpilot',
      codecs: ['gzip', 'deflate'],
      capabilities: [],
      maxFrameBytes: 1 << 20,
    },
    subscribe: { type: 'SUBSCRIBE', doc: 'doc-1', clock: { alice: 3, bob: 0, 'c@d': 2 ** 53 - 1 } },
    sync: { type: 'SYNC', doc: 'doc-1', complete: true, changes, clock: { a: 9, bob: 1 } },
    changes: {
      type: 'CHANGES',
      doc: 'doc/with:odd.chars',
      changes: [PINNED_CHANGES['everyOp'] as Change, PINNED_CHANGES['keystroke'] as Change],
    },
    keystroke: { type: 'CHANGES', doc: 'doc-1', changes: [PINNED_CHANGES['keystroke'] as Change] },
    ack: { type: 'ACK', doc: 'doc-1', actor: 'alice', seq: 300 },
    unsubscribe: { type: 'UNSUBSCRIBE', doc: 'doc-1' },
    error: {
      type: 'ERROR',
      code: 'SP_ERR_CHANGE_INVALID',
      message: 'refused',
      fatal: false,
      doc: 'doc-1',
      rejected: [{ actor: 'bob', seq: 4 }],
    },
    errorFatal: { type: 'ERROR', code: 'SP_ERR_FRAME_MALFORMED', message: '', fatal: true },
    hint: { type: 'HINT', kind: 'prefetch', doc: 'doc-2', data: { docs: ['a', 'b'], score: 0.75, nested: [null, true] } },
    hintNoDoc: { type: 'HINT', kind: 'k', data: 'text' },
    ping: { type: 'PING', nonce: 123_456_789 },
    pong: { type: 'PONG', nonce: -0.5 },
  };
}

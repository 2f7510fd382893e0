import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError, type ErrorCode } from '../../src/core/errors.ts';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import { HEAD, ROOT, type Change, type Op } from '../../src/engine/crdt/types.ts';

function must<T>(v: T | undefined): T {
  assert.ok(v !== undefined);
  return v;
}

function rejects(code: ErrorCode, fn: () => unknown): SyncPilotError {
  let caught: unknown;
  assert.throws(fn, (err: unknown) => {
    caught = err;
    return err instanceof SyncPilotError && err.code === code;
  });
  return caught as SyncPilotError;
}

/** alice makes a text "ab", a counter and x = 1; returns the change and the ids. */
function setup(): { alice: CrdtDoc; c1: Change; text: string; counter: string; xId: string } {
  const alice = new CrdtDoc(actorId('alice'));
  let text = '';
  let counter = '';
  const c1 = must(
    alice.change((tx) => {
      text = tx.makeText(ROOT, 't'); // 1
      tx.insertText(text, 0, 'ab'); // 2, 3
      tx.set(ROOT, 'x', 1); // 4
      counter = tx.makeCounter(ROOT, 'n'); // 5
    }),
  );
  return { alice, c1, text, counter, xId: '4@alice' };
}

function carol(ops: Op[], over: Partial<Change> = {}): Change {
  return { actor: actorId('carol'), seq: 1, startOp: 10, deps: { alice: 1 }, time: 0, ops, ...over };
}

describe('CrdtDoc.applyChanges: causal delivery and idempotence', () => {
  test('changes delivered in reverse wait in the buffer and apply in causal order', () => {
    const a = new CrdtDoc(actorId('a'));
    const cs = [1, 2, 3].map((i) => must(a.change((tx) => tx.set(ROOT, 'k', i))));
    const b = new CrdtDoc(actorId('b'));
    let r = b.applyChanges([cs[2] as Change]);
    assert.deepEqual({ applied: r.applied.length, pending: r.pending }, { applied: 0, pending: 1 });
    assert.equal(b.get(ROOT, 'k'), undefined, 'nothing visible while dependencies are missing');
    r = b.applyChanges([cs[1] as Change]);
    assert.equal(b.pendingCount(), 2);
    assert.equal(b.hasChange('a', 2), false, 'buffered is not applied');
    r = b.applyChanges([cs[0] as Change]);
    assert.deepEqual(r.applied, cs);
    assert.equal(r.pending, 0);
    assert.deepEqual(b.toJSON(), { k: 3 });
    assert.deepEqual(b.clock(), { a: 3 });
  });

  test('a change waits for another actor’s change it depends on', () => {
    const a = new CrdtDoc(actorId('a'));
    const b = new CrdtDoc(actorId('b'));
    const ca = must(a.change((tx) => tx.set(ROOT, 'x', 1)));
    b.applyChanges([ca]);
    const cb = must(b.change((tx) => tx.set(ROOT, 'x', 2)));
    assert.deepEqual(cb.ops[0], { action: 'set', obj: ROOT, key: 'x', value: 2, pred: ['1@a'] });
    const c = new CrdtDoc(actorId('c'));
    assert.equal(c.applyChanges([cb]).pending, 1);
    const r = c.applyChanges([ca]);
    assert.deepEqual(r.applied, [ca, cb]);
    assert.deepEqual(r.conflicts, [], 'cb saw ca: it replaced it');
    assert.deepEqual(
      c.getConflicts(ROOT, 'x').map((s) => s.id),
      ['2@b'],
    );
  });

  test('re-delivery of applied or buffered changes counts duplicates and changes nothing', () => {
    const a = new CrdtDoc(actorId('a'));
    const c1 = must(a.change((tx) => tx.set(ROOT, 'k', 1)));
    const c2 = must(a.change((tx) => tx.set(ROOT, 'k', 2)));
    const c3 = must(a.change((tx) => tx.set(ROOT, 'k', 3)));
    const b = new CrdtDoc(actorId('b'));
    b.applyChanges([c1]);
    const before = b.save();
    let r = b.applyChanges([c1, structuredClone(c1), c3, c3]);
    assert.deepEqual(
      { applied: r.applied.length, duplicates: r.duplicates, pending: r.pending },
      { applied: 0, duplicates: 3, pending: 1 },
    );
    r = b.applyChanges([c2, c2, c3]);
    assert.deepEqual(
      { applied: r.applied.length, duplicates: r.duplicates, pending: r.pending },
      { applied: 2, duplicates: 2, pending: 0 },
    );
    assert.notDeepEqual(b.save(), before);
    const after = b.save();
    b.applyChanges([c3, c2, c1]);
    assert.deepEqual(b.save(), after);
  });

  test('an (actor, seq) reused with other content is SP_ERR_CHANGE_CONFLICT', () => {
    const a = new CrdtDoc(actorId('a'));
    const c1 = must(a.change((tx) => tx.set(ROOT, 'k', 1)));
    const b = new CrdtDoc(actorId('b'));
    b.applyChanges([c1]);
    const forged = { ...c1, startOp: 7 };
    const err = rejects('SP_ERR_CHANGE_CONFLICT', () => b.applyChanges([forged]));
    assert.equal((err.details['rejected'] as unknown[]).length, 1);
    assert.deepEqual(b.toJSON(), { k: 1 });
  });

  test('buffer full: the newest waiting changes are dropped with a retryable error, and can be re-sent', () => {
    const a = new CrdtDoc(actorId('a'));
    const cs = [1, 2, 3, 4, 5, 6].map((i) => must(a.change((tx) => tx.set(ROOT, 'k', i))));
    const b = new CrdtDoc(actorId('b'), { maxPending: 2 });
    // Out of order within one call is fine when the call itself completes the chain.
    assert.equal(b.applyChanges([cs[1], cs[0]] as Change[]).applied.length, 2);
    assert.equal(b.applyChanges([cs[3], cs[4]] as Change[]).pending, 2);
    const err = rejects('SP_ERR_CAUSAL_BUFFER_FULL', () => b.applyChanges([cs[5] as Change]));
    assert.equal(err.retryable, true);
    assert.deepEqual({ dropped: err.details['dropped'], pending: err.details['pending'] }, { dropped: 1, pending: 2 });
    assert.equal(b.pendingCount(), 2);
    const r = b.applyChanges([cs[2] as Change]);
    assert.deepEqual(r.applied, cs.slice(2, 5));
    assert.deepEqual(b.applyChanges([cs[5] as Change]).applied, [cs[5]], 'the dropped change is accepted when re-sent');
    assert.deepEqual(b.toJSON(), { k: 6 });
  });
});

describe('CrdtDoc.applyChanges: invalid changes', () => {
  const { alice, c1, text, counter, xId } = setup();
  const cases: [string, unknown][] = [
    ['not an object', null],
    ['a number', 42],
    ['missing ops', (({ ops: _ops, ...rest }) => rest)(carol([]))],
    ['unknown field', { ...carol([]), extra: 1 }],
    ['malformed actor', carol([], { actor: actorId('bad actor') })],
    ['seq 0', carol([], { seq: 0 })],
    ['fractional seq', carol([], { seq: 1.5 })],
    ['deps without own previous seq', carol([], { seq: 2 })],
    ['non-finite time', carol([], { time: Number.NaN })],
    ['unknown action', carol([{ action: 'frob', obj: ROOT } as unknown as Op])],
    ['object value', carol([{ action: 'set', obj: ROOT, key: 'k', value: {} as unknown as null, pred: [] }])],
    ['NaN value', carol([{ action: 'set', obj: ROOT, key: 'k', value: Number.NaN, pred: [] }])],
    ['lone surrogate key', carol([{ action: 'set', obj: ROOT, key: '\udc00', value: 1, pred: [] }])],
    ['malformed obj', carol([{ action: 'set', obj: 'xyz', key: 'k', value: 1, pred: [] }])],
    ['non-canonical op id', carol([{ action: 'set', obj: '01@alice', key: 'k', value: 1, pred: [] }])],
    ['unknown object', carol([{ action: 'set', obj: '1@zed', key: 'k', value: 1, pred: [] }])],
    ['obj that is not an object', carol([{ action: 'set', obj: xId, key: 'k', value: 1, pred: [] }])],
    ['obj outside the causal past', carol([{ action: 'ins', obj: text, after: HEAD, values: ['z'] }], { deps: {} })],
    ['pred outside the causal past', carol([{ action: 'set', obj: ROOT, key: 'x', value: 2, pred: [xId] }], { deps: {} })],
    ['ins after a non-element', carol([{ action: 'ins', obj: text, after: xId, values: ['z'] }])],
    ['ins into a map', carol([{ action: 'ins', obj: ROOT, after: HEAD, values: ['z'] }])],
    ['ins of two code points as one text element', carol([{ action: 'ins', obj: text, after: HEAD, values: ['zz'] }])],
    ['ins with no values', carol([{ action: 'ins', obj: text, after: HEAD, values: [] }])],
    ['set into a text', carol([{ action: 'set', obj: text, key: 'k', value: 1, pred: [] }])],
    ['rm of a non-element', carol([{ action: 'rm', obj: text, elems: [xId] }])],
    ['rm of nothing', carol([{ action: 'rm', obj: text, elems: [] }])],
    ['del with empty pred', carol([{ action: 'del', obj: ROOT, key: 'x', pred: [] }])],
    ['make of an unknown type', carol([{ action: 'make', obj: ROOT, key: 'k', type: 'tree' as 'map', pred: [] }])],
    ['inc of a text', carol([{ action: 'inc', obj: text, by: 1 }])],
    ['fractional inc', carol([{ action: 'inc', obj: counter, by: 1.5 }])],
    ['startOp not after its dependencies (Lamport)', carol([{ action: 'set', obj: ROOT, key: 'k', value: 1, pred: [] }], { startOp: 5 })],
    [
      'valid ops followed by an invalid one (atomicity)',
      carol([
        { action: 'set', obj: ROOT, key: 'k', value: 1, pred: [] },
        { action: 'ins', obj: text, after: '2@alice', values: ['z'] },
        { action: 'rm', obj: text, elems: ['3@alice'] },
        { action: 'make', obj: ROOT, key: 'm', type: 'map', pred: [] },
        { action: 'inc', obj: counter, by: 1 },
        { action: 'set', obj: '13@carol', key: 'k', value: 1, pred: [] },
        { action: 'ins', obj: text, after: xId, values: ['q'] },
      ]),
    ],
  ];

  for (const [name, change] of cases) {
    test(`${name}: SP_ERR_CHANGE_INVALID, document unchanged`, () => {
      const doc = new CrdtDoc(actorId('bob'));
      doc.applyChanges([c1]);
      const before = doc.save();
      const err = rejects('SP_ERR_CHANGE_INVALID', () => doc.applyChanges([change as Change]));
      assert.equal((err.details['rejected'] as unknown[]).length, 1);
      assert.deepEqual(err.details['applied'], []);
      assert.deepEqual(doc.save(), before);
      assert.deepEqual(doc.toJSON(), alice.toJSON());
      assert.equal(doc.pendingCount(), 0);
    });
  }

  test('the same ops are accepted when well-formed (the cases above fail for the stated reason)', () => {
    const doc = new CrdtDoc(actorId('bob'));
    doc.applyChanges([c1]);
    doc.applyChanges([
      carol([
        { action: 'set', obj: ROOT, key: 'k', value: 1, pred: [] },
        { action: 'ins', obj: text, after: '2@alice', values: ['z'] },
        { action: 'rm', obj: text, elems: ['3@alice'] },
        { action: 'make', obj: ROOT, key: 'm', type: 'map', pred: [] },
        { action: 'inc', obj: counter, by: 1 },
        { action: 'set', obj: '13@carol', key: 'k', value: 1, pred: [] },
        { action: 'ins', obj: text, after: '11@carol', values: ['q'] },
      ]),
    ]);
    assert.deepEqual(doc.toJSON(), { t: 'azq', x: 1, n: 1, k: 1, m: { k: 1 } });
  });

  test('valid changes of a mixed batch apply and are reported in details.applied', () => {
    const doc = new CrdtDoc(actorId('bob'));
    const good = carol([{ action: 'set', obj: ROOT, key: 'k', value: 1, pred: [] }]);
    const bad = carol([{ action: 'set', obj: '1@zed', key: 'k', value: 1, pred: [] }], { actor: actorId('dave') });
    const err = rejects('SP_ERR_CHANGE_INVALID', () => doc.applyChanges([good, bad, c1]));
    assert.deepEqual(err.details['applied'], [c1, good]);
    assert.deepEqual(doc.toJSON(), { ...(alice.toJSON() as object), k: 1 });
  });

  test('a buffered change found invalid once ready is rejected then, its valid predecessors stay', () => {
    const doc = new CrdtDoc(actorId('bob'));
    const bad = carol([{ action: 'rm', obj: text, elems: [xId] }]);
    assert.equal(doc.applyChanges([bad]).pending, 1);
    const err = rejects('SP_ERR_CHANGE_INVALID', () => doc.applyChanges([c1]));
    assert.deepEqual(err.details['applied'], [c1]);
    assert.equal(doc.pendingCount(), 0);
    assert.equal(doc.hasChange('carol', 1), false);
  });
});

describe('CrdtDoc: siblings and resolution', () => {
  test('concurrent writes become siblings everywhere; a write covering them replaces them on every replica', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => new CrdtDoc(actorId(n))) as [CrdtDoc, CrdtDoc, CrdtDoc];
    const ca = must(a.change((tx) => tx.set(ROOT, 'title', 'A')));
    const cb = must(b.change((tx) => tx.set(ROOT, 'title', 'B')));
    const ra = a.applyChanges([cb]);
    b.applyChanges([ca]);
    c.applyChanges([ca, cb]);
    assert.deepEqual(ra.conflicts, [
      {
        obj: ROOT,
        key: 'title',
        siblings: ['1@b', '1@a'],
        values: [
          { kind: 'scalar', value: 'B' },
          { kind: 'scalar', value: 'A' },
        ],
      },
    ]);
    for (const d of [a, b, c]) {
      assert.deepEqual(d.get(ROOT, 'title'), { kind: 'scalar', value: 'B' }, 'winner: greatest op id');
      assert.deepEqual(
        d.getConflicts(ROOT, 'title').map((s) => s.id),
        ['1@b', '1@a'],
      );
    }
    // c resolves (its set covers both siblings) while b concurrently writes again without seeing it.
    const resolve = must(c.change((tx) => tx.set(ROOT, 'title', 'A+B')));
    assert.deepEqual((resolve.ops[0] as { pred: readonly string[] }).pred, ['1@b', '1@a']);
    const again = must(b.change((tx) => tx.set(ROOT, 'title', 'B2')));
    a.applyChanges([resolve]);
    assert.deepEqual(
      a.getConflicts(ROOT, 'title').map((s) => s.value),
      [{ kind: 'scalar', value: 'A+B' }],
      'resolved',
    );
    const r = a.applyChanges([again]);
    assert.equal(r.conflicts.length, 1, 'a write concurrent with the resolution is a new sibling');
    b.applyChanges([resolve]);
    c.applyChanges([again]);
    for (const d of [a, b, c])
      assert.deepEqual(
        d.getConflicts(ROOT, 'title').map((s) => s.id),
        ['2@c', '2@b'],
      );
    // A del covering both removes the field everywhere.
    const del = must(a.change((tx) => tx.del(ROOT, 'title')));
    b.applyChanges([del]);
    c.applyChanges([del]);
    for (const d of [a, b, c]) assert.deepEqual(d.toJSON(), {});
  });

  test('concurrent make of objects under one key keeps both objects, each editable', () => {
    const a = new CrdtDoc(actorId('a'));
    const b = new CrdtDoc(actorId('b'));
    const ca = must(a.change((tx) => tx.set(tx.makeMap(ROOT, 'm'), 'from', 'a')));
    const cb = must(b.change((tx) => tx.set(tx.makeMap(ROOT, 'm'), 'from', 'b')));
    a.applyChanges([cb]);
    b.applyChanges([ca]);
    const loser = must(a.getConflicts(ROOT, 'm')[1]);
    assert.equal(loser.value.kind, 'object');
    const edit = must(a.change((tx) => tx.set(loser.id, 'extra', 1)));
    b.applyChanges([edit]);
    assert.deepEqual(b.toJSON(), a.toJSON());
    assert.deepEqual(b.keys(loser.id), ['extra', 'from']);
  });

  test('concurrent inserts at one position order by op id; concurrent deletes of one element are fine', () => {
    const a = new CrdtDoc(actorId('a'));
    const b = new CrdtDoc(actorId('b'));
    let t = '';
    const c0 = must(
      a.change((tx) => {
        t = tx.makeText(ROOT, 't');
        tx.insertText(t, 0, '[]');
      }),
    );
    b.applyChanges([c0]);
    const ca = must(a.change((tx) => tx.insertText(t, 1, 'aa')));
    const cb = must(b.change((tx) => tx.insertText(t, 1, 'bb')));
    const da = must(a.change((tx) => tx.deleteText(t, 0, 1)));
    const db = must(b.change((tx) => tx.deleteText(t, 0, 1)));
    a.applyChanges([cb, db]);
    b.applyChanges([da, ca]);
    assert.equal(a.text(t), 'bbaa]', 'same counter: actor b > a goes first');
    assert.equal(b.text(t), a.text(t));
  });
});

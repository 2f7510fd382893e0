import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import { HEAD, ROOT, type Change } from '../../src/engine/crdt/types.ts';

const doc = (name = 'alice'): CrdtDoc => new CrdtDoc(actorId(name));

function must<T>(v: T | undefined): T {
  assert.ok(v !== undefined);
  return v;
}

function expectInvalid(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CHANGE_INVALID');
}

describe('CrdtDoc local changes', () => {
  test('maps, nested objects, text, lists and counters read back; toJSON materialises the tree', () => {
    const d = doc();
    let text = '';
    let list = '';
    let n = '';
    let inner = '';
    must(
      d.change((tx) => {
        tx.set(ROOT, 'title', 'hi');
        inner = tx.makeMap(ROOT, 'meta');
        tx.set(inner, 'ok', true);
        text = tx.makeText(ROOT, 'body');
        tx.insertText(text, 0, 'héllo 😀');
        list = tx.makeList(ROOT, 'tags');
        tx.insert(list, 0, 'a', 1, null);
        n = tx.makeCounter(ROOT, 'views');
        tx.increment(n, 5);
      }),
    );
    d.change((tx) => {
      tx.deleteText(text, 0, 1);
      tx.insertText(text, 0, 'H');
      tx.delete(list, 1);
      tx.increment(n, -2);
    });
    assert.deepEqual(d.toJSON(), { title: 'hi', meta: { ok: true }, body: 'Héllo 😀', tags: ['a', null], views: 3 });
    assert.equal(d.length(text), 7, 'length counts code points');
    assert.deepEqual(d.list(list), ['a', null]);
    assert.equal(d.counter(n), 3);
    assert.deepEqual(d.keys(ROOT), ['body', 'meta', 'tags', 'title', 'views']);
    assert.deepEqual(d.get(ROOT, 'meta'), { kind: 'object', id: inner, type: 'map' });
    assert.equal(d.objType(text), 'text');
    assert.equal(d.objType('9@nobody'), undefined);
    assert.equal(d.get('9@nobody', 'x'), undefined, 'reads of unknown objects are empty, not errors');
  });

  test('changes carry seq, deps, Lamport startOp and contiguous counters', () => {
    const d = doc();
    let t = '';
    const c1 = must(
      d.change((tx) => {
        t = tx.makeText(ROOT, 't');
        tx.insertText(t, 0, 'abc');
        tx.set(ROOT, 'x', 1);
      }, 1000),
    );
    assert.deepEqual({ seq: c1.seq, startOp: c1.startOp, deps: c1.deps, time: c1.time }, { seq: 1, startOp: 1, deps: {}, time: 1000 });
    assert.deepEqual(c1.ops[1], { action: 'ins', obj: '1@alice', after: HEAD, values: ['a', 'b', 'c'] });
    assert.equal(d.maxOp(), 5, 'make 1 + three elements + set = ops 1..5');
    const c2 = must(d.change((tx) => tx.set(ROOT, 'x', 2)));
    assert.deepEqual({ seq: c2.seq, startOp: c2.startOp, deps: c2.deps }, { seq: 2, startOp: 6, deps: { alice: 1 } });
    assert.deepEqual(c2.ops[0], { action: 'set', obj: ROOT, key: 'x', value: 2, pred: ['5@alice'] });
    assert.ok(Object.isFrozen(c2) && Object.isFrozen(c2.ops[0]), 'returned changes are frozen');
    assert.equal(
      d.change(() => {}),
      undefined,
      'no ops, no change',
    );
    assert.deepEqual(d.clock(), { alice: 2 });
  });

  test('typing in one change extends one ins op; deleting a range makes one rm op', () => {
    const d = doc();
    const t = must(d.change((tx) => tx.makeText(ROOT, 't'))).startOp;
    const id = `${t}@alice`;
    const c = must(
      d.change((tx) => {
        tx.insertText(id, 0, 'ab');
        tx.insertText(id, 2, 'cd');
        tx.deleteText(id, 0, 1);
        tx.deleteText(id, 0, 1);
      }),
    );
    assert.equal(c.ops.length, 2);
    assert.deepEqual(c.ops[0], { action: 'ins', obj: id, after: HEAD, values: ['a', 'b', 'c', 'd'] });
    assert.deepEqual(c.ops[1], { action: 'rm', obj: id, elems: ['2@alice', '3@alice'] });
    assert.equal(d.text(id), 'cd');
  });

  test('reads inside change() see the transaction’s own writes', () => {
    const d = doc();
    d.change((tx) => {
      const t = tx.makeText(ROOT, 't');
      tx.insertText(t, 0, 'xy');
      assert.equal(d.text(t), 'xy');
      tx.set(ROOT, 'k', 1);
      assert.deepEqual(d.get(ROOT, 'k'), { kind: 'scalar', value: 1 });
    });
  });

  test('a bad call throws SP_ERR_CHANGE_INVALID and rolls the whole change back', () => {
    const d = doc();
    let t = '';
    let l = '';
    d.change((tx) => {
      t = tx.makeText(ROOT, 't');
      tx.insertText(t, 0, 'abc');
      l = tx.makeList(ROOT, 'l');
    });
    const before = { json: d.toJSON(), clock: d.clock(), maxOp: d.maxOp(), bytes: d.save() };
    const bad: ((tx: Parameters<Parameters<CrdtDoc['change']>[0]>[0]) => void)[] = [
      (tx) => tx.insertText(t, 6, 'x'),
      (tx) => tx.insertText(t, -1, 'x'),
      (tx) => tx.insertText(t, 1.5, 'x'),
      (tx) => tx.deleteText(t, 4, 2),
      (tx) => tx.insertText('77@nobody', 0, 'x'),
      (tx) => tx.insertText(l, 0, 'x'),
      (tx) => tx.insert(t, 0, 'x'),
      (tx) => tx.set(t, 'k', 1),
      (tx) => tx.set(ROOT, 'k', Number.NaN),
      (tx) => tx.set(ROOT, 'k', { nested: true } as unknown as string),
      (tx) => tx.set(ROOT, 'k', '\ud800'),
      (tx) => tx.increment(t, 1),
      (tx) => tx.increment(ROOT, 1),
    ];
    for (const fn of bad) {
      expectInvalid(() =>
        d.change((tx) => {
          tx.set(ROOT, 'before', 1);
          tx.insertText(t, 1, 'zz');
          tx.makeMap(ROOT, 'm');
          tx.delete(l, 0, 0);
          fn(tx);
        }),
      );
      assert.deepEqual(d.toJSON(), before.json);
      assert.deepEqual(d.clock(), before.clock);
      assert.equal(d.maxOp(), before.maxOp);
      assert.deepEqual(d.save(), before.bytes, 'state bytes unchanged');
    }
    // A user error inside the callback is rethrown as is, after the same rollback.
    assert.throws(
      () =>
        d.change((tx) => {
          tx.deleteText(t, 0, 3);
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(d.text(t), 'abc');
  });

  test('a transaction cannot be used after change() returns, nor nest changes', () => {
    const d = doc();
    let saved: Parameters<Parameters<CrdtDoc['change']>[0]>[0] | undefined;
    d.change((tx) => {
      saved = tx;
    });
    assert.throws(
      () => saved?.set(ROOT, 'k', 1),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CLOSED',
    );
    assert.throws(
      () => d.change(() => d.change((tx) => tx.set(ROOT, 'k', 1))),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_INTERNAL',
    );
    assert.deepEqual(d.toJSON(), {});
    d.change((tx) => tx.set(ROOT, 'k', 1));
    assert.deepEqual(d.toJSON(), { k: 1 });
  });

  test('constructor rejects unusable actors and options', () => {
    for (const bad of ['', 'has space', '__proto__', 'x'.repeat(129)]) {
      assert.throws(
        () => new CrdtDoc(actorId(bad)),
        (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID',
      );
    }
    assert.throws(() => new CrdtDoc(actorId('a'), { maxPending: -1 }), SyncPilotError);
    assert.doesNotThrow(() => new CrdtDoc(actorId('constructor')));
  });

  test('a key named __proto__ is an ordinary field', () => {
    const d = doc();
    d.change((tx) => tx.set(ROOT, '__proto__', 1));
    const json = d.toJSON() as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(json), Object.prototype);
    assert.deepEqual(Object.keys(json), ['__proto__']);
  });

  test('del removes every sibling; del of an absent key makes no op', () => {
    const d = doc();
    d.change((tx) => tx.set(ROOT, 'k', 1));
    const c = must(d.change((tx) => tx.del(ROOT, 'k')));
    assert.deepEqual(c.ops, [{ action: 'del', obj: ROOT, key: 'k', pred: ['1@alice'] }]);
    assert.equal(d.get(ROOT, 'k'), undefined);
    assert.equal(
      d.change((tx) => tx.del(ROOT, 'k')),
      undefined,
    );
  });

  test('changesSince returns what a clock lacks, in causal order; keepHistory:false refuses', () => {
    const a = doc('a');
    const b = doc('b');
    const changes: Change[] = [];
    changes.push(must(a.change((tx) => tx.set(ROOT, 'x', 1))));
    b.applyChanges(changes);
    changes.push(must(b.change((tx) => tx.set(ROOT, 'y', 1))));
    a.applyChanges([changes[1] as Change]);
    changes.push(must(a.change((tx) => tx.set(ROOT, 'z', 1))));
    assert.deepEqual(a.changesSince({}), changes);
    assert.deepEqual(a.changesSince({ a: 1 }), changes.slice(1));
    assert.deepEqual(a.changesSince(a.clock()), []);
    const c = new CrdtDoc(actorId('c'), { keepHistory: false });
    assert.throws(
      () => c.changesSince({}),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_INTERNAL',
    );
  });
});

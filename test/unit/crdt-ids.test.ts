import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compareOpIdStrs, formatOpId, parseOpId } from '../../src/engine/crdt/op-id.ts';
import { OpRanges } from '../../src/engine/crdt/op-ranges.ts';
import { vvCompare, vvCovers, vvGet, vvMerge } from '../../src/engine/crdt/version-vector.ts';

describe('op ids', () => {
  test('parse and format are inverse on canonical ids; everything else is rejected', () => {
    assert.deepEqual(parseOpId('12@alice'), { ctr: 12, actor: 'alice' });
    assert.deepEqual(parseOpId('3@a@b'), { ctr: 3, actor: 'a@b' }, 'actor ids may contain @');
    assert.equal(formatOpId(12, 'alice'), '12@alice');
    for (const bad of ['', 'root', '_head', '0@a', '01@a', '-1@a', '1.5@a', '1@', '@a', '1@a b', '99999999999999999@a', ' 1@a']) {
      assert.equal(parseOpId(bad), undefined, bad);
    }
  });

  test('order: counter first, then actor', () => {
    const sorted = ['2@b', '10@a', '2@a', '1@z'].sort(compareOpIdStrs);
    assert.deepEqual(sorted, ['1@z', '2@a', '2@b', '10@a']);
    assert.throws(() => compareOpIdStrs('x', '1@a'), TypeError);
  });
});

describe('version vectors', () => {
  test('covers, merge, compare', () => {
    assert.ok(vvCovers({ a: 2, b: 1 }, { a: 1 }));
    assert.ok(vvCovers({ a: 1 }, { b: 0 }));
    assert.ok(!vvCovers({ a: 1 }, { a: 1, b: 1 }));
    assert.deepEqual(vvMerge({ a: 2, b: 1 }, { b: 3, c: 1 }), { a: 2, b: 3, c: 1 });
    assert.equal(vvCompare({ a: 1 }, { a: 1 }), 'equal');
    assert.equal(vvCompare({}, { a: 0 }), 'equal');
    assert.equal(vvCompare({ a: 1 }, { a: 2 }), 'before');
    assert.equal(vvCompare({ a: 2, b: 1 }, { a: 2 }), 'after');
    assert.equal(vvCompare({ a: 2 }, { b: 1 }), 'concurrent');
  });

  test('actor names that are Object.prototype members read as absent', () => {
    assert.equal(vvGet({}, 'constructor'), 0);
    assert.equal(vvGet({}, 'toString'), 0);
    assert.ok(vvCovers({}, {}));
    assert.equal(vvCompare({ constructor: 1 }, {}), 'after');
  });
});

describe('op ranges', () => {
  test('seqOf finds the change that made an op, including around empty changes', () => {
    const r = new OpRanges();
    r.add('a', 1, 1, 4);
    r.add('a', 2, 4, 4); // empty change
    r.add('a', 3, 4, 6);
    r.add('a', 4, 10, 11);
    assert.deepEqual(
      [0, 1, 3, 4, 5, 6, 9, 10, 11].map((c) => r.seqOf('a', c)),
      [0, 1, 1, 3, 3, 0, 0, 4, 0],
    );
    assert.equal(r.seqOf('b', 1), 0);
    assert.throws(() => r.add('a', 6, 11, 12), /out of order/);
  });
});

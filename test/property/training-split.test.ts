import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SyncPilotError } from '../../src/core/errors.ts';
import { selectRows, type Dataset } from '../../training/dataset/dataset.ts';
import { SPLIT_NAMES, splitDataset, type SplitOptions } from '../../training/dataset/split.ts';

/** Rows whose single feature is their own index, so a split's rows can be traced back. */
function indexed(groups: readonly string[]): Dataset {
  const rows = groups.length;
  return {
    inputs: 1,
    outputs: 1,
    rows,
    x: Float32Array.from({ length: rows }, (_, i) => i),
    y: Float32Array.from({ length: rows }, (_, i) => i * 2),
    featureNames: ['i'],
    groups,
  };
}

const groupsArb = fc.array(
  fc.integer({ min: 0, max: 11 }).map((g) => `file-${g}`),
  { minLength: 1, maxLength: 300 },
);
const ratiosArb = fc.tuple(
  fc.double({ min: 0.05, max: 1, noNaN: true }),
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.double({ min: 0, max: 1, noNaN: true }),
);
const methodArb = fc.constantFrom<'random' | 'grouped'>('random', 'grouped');

describe('splitDataset', () => {
  test('partitions the rows: every row in exactly one split, carried over intact', () => {
    fc.assert(
      fc.property(groupsArb, ratiosArb, methodArb, fc.integer(), (groups, ratios, method, seed) => {
        const ds = indexed(groups);
        const s = splitDataset(ds, { seed, method, ratios });
        const all = SPLIT_NAMES.flatMap((n) => [...s.indices[n]]).sort((a, b) => a - b);
        assert.deepEqual(
          all,
          Array.from({ length: ds.rows }, (_, i) => i),
        );
        for (const n of SPLIT_NAMES) {
          assert.deepEqual([...s[n].x], [...s.indices[n]]);
          assert.deepEqual(
            [...s[n].y],
            [...s.indices[n]].map((i) => i * 2),
          );
          assert.deepEqual(
            s[n].groups,
            [...s.indices[n]].map((i) => groups[i]),
          );
        }
      }),
    );
  });

  test('deterministic: same data, options and seed give the same splits', () => {
    fc.assert(
      fc.property(groupsArb, ratiosArb, methodArb, fc.integer(), (groups, ratios, method, seed) => {
        const ds = indexed(groups);
        const a = splitDataset(ds, { seed, method, ratios });
        const b = splitDataset(ds, { seed, method, ratios });
        for (const n of SPLIT_NAMES) assert.deepEqual(a.indices[n], b.indices[n]);
      }),
    );
  });

  test('grouped: no group in two splits; each split with a share gets a group when there are enough', () => {
    fc.assert(
      fc.property(groupsArb, ratiosArb, fc.integer(), (groups, ratios, seed) => {
        const s = splitDataset(indexed(groups), { seed, method: 'grouped', ratios });
        const owner = new Map<string, string>();
        for (const n of SPLIT_NAMES) {
          for (const g of s[n].groups ?? []) {
            const seen = owner.get(g);
            assert.ok(seen === undefined || seen === n, `group ${g} is in ${seen} and ${n}`);
            owner.set(g, n);
          }
        }
        const distinct = new Set(groups).size;
        const withShare = ratios.filter((r) => r > 0).length;
        if (distinct >= withShare) {
          ratios.forEach((r, k) => {
            if (r > 0) assert.ok((s.groups?.[SPLIT_NAMES[k] ?? 'train'] ?? []).length > 0, `${SPLIT_NAMES[k]} got no group`);
          });
        }
        ratios.forEach((r, k) => {
          if (r === 0) assert.equal(s[SPLIT_NAMES[k] ?? 'train'].rows, 0);
        });
      }),
    );
  });

  test('grouped: independent of row order (groups are sorted before the seeded shuffle)', () => {
    fc.assert(
      fc.property(groupsArb, ratiosArb, fc.integer(), (groups, ratios, seed) => {
        const ds = indexed(groups);
        const reversed = selectRows(
          ds,
          Array.from({ length: ds.rows }, (_, i) => ds.rows - 1 - i),
        );
        const a = splitDataset(ds, { seed, method: 'grouped', ratios });
        const b = splitDataset(reversed, { seed, method: 'grouped', ratios });
        assert.deepEqual(a.groups, b.groups);
      }),
    );
  });

  test('random: split sizes follow the ratios', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), ratiosArb, fc.integer(), (rows, ratios, seed) => {
        const s = splitDataset(indexed(new Array<string>(rows).fill('g')), { seed, method: 'random', ratios });
        const sum = ratios[0] + ratios[1] + ratios[2];
        assert.equal(s.train.rows, Math.round((ratios[0] / sum) * rows));
        assert.ok(Math.abs(s.validation.rows - (ratios[1] / sum) * rows) <= 1.5);
      }),
    );
  });

  test('different seeds give different random splits (the seed is used)', () => {
    const ds = indexed(new Array<string>(200).fill('g'));
    const a = splitDataset(ds, { seed: 1, method: 'random', ratios: [0.5, 0.25, 0.25] });
    const b = splitDataset(ds, { seed: 2, method: 'random', ratios: [0.5, 0.25, 0.25] });
    assert.notDeepEqual(a.indices.test, b.indices.test);
  });

  test('holdout: named groups go to their split, all others to train', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 20 }), { minLength: 3, maxLength: 21 }), fc.integer(), (ids, seed) => {
        const names = ids.map((i) => `f${i}`);
        const groups = names.flatMap((n, k) => new Array<string>(k + 1).fill(n));
        const holdout = { validation: [names[0] as string], test: [names[1] as string, names[2] as string] };
        const s = splitDataset(indexed(groups), { seed, method: 'grouped', ratios: [1, 0, 0], holdout });
        assert.deepEqual(s.groups?.validation, [...holdout.validation].sort());
        assert.deepEqual(s.groups?.test, [...holdout.test].sort());
        assert.deepEqual(s.groups?.train, names.slice(3).sort());
      }),
    );
  });

  test('bad options are refused with their codes', () => {
    const ds = indexed(['a', 'b', 'c']);
    const bad = (o: SplitOptions, code: string): void =>
      assert.throws(
        () => splitDataset(ds, o),
        (e: unknown) => e instanceof SyncPilotError && e.code === code,
      );
    bad({ seed: 1, method: 'random', ratios: [0, 1, 1] }, 'SP_ERR_CONFIG_INVALID');
    bad({ seed: 1, method: 'random', ratios: [1, -1, 1] }, 'SP_ERR_CONFIG_INVALID');
    bad({ seed: 1, method: 'random', ratios: [1, NaN, 1] }, 'SP_ERR_CONFIG_INVALID');
    bad({ seed: 1, method: 'random', ratios: [1, 0, 0], holdout: { test: ['a'] } }, 'SP_ERR_CONFIG_INVALID');
    bad({ seed: 1, method: 'grouped', ratios: [1, 0, 0], holdout: { test: ['zz'] } }, 'SP_ERR_DATASET_INVALID');
    bad({ seed: 1, method: 'grouped', ratios: [1, 0, 0], holdout: { test: ['a'], validation: ['a'] } }, 'SP_ERR_CONFIG_INVALID');
    const { groups: _g, ...ungrouped } = ds;
    assert.throws(() => splitDataset(ungrouped, { seed: 1, method: 'grouped', ratios: [1, 1, 1] }), /needs a dataset with groups/);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Sequence } from '../../src/engine/crdt/sequence.ts';
import type { Scalar } from '../../src/engine/crdt/types.ts';

/** The obvious flat-array implementation of the same operations: the model the chunked list must match. */
class FlatModel {
  readonly items: { ctr: number; actor: string; value: Scalar; dead: boolean }[] = [];

  insertAfter(afterCtr: number, afterActor: string, ctr: number, actor: string, values: readonly Scalar[]): void {
    let i = afterCtr === 0 ? 0 : this.items.findIndex((e) => e.ctr === afterCtr && e.actor === afterActor) + 1;
    while (i < this.items.length) {
      const e = this.items[i] as (typeof this.items)[number];
      if (e.ctr > ctr || (e.ctr === ctr && e.actor > actor)) i++;
      else break;
    }
    this.items.splice(i, 0, ...values.map((value, k) => ({ ctr: ctr + k, actor, value, dead: false })));
  }

  visible(): (typeof this.items)[number][] {
    return this.items.filter((e) => !e.dead);
  }
}

type Cmd =
  | { t: 'ins'; ref: number; gap: number; actor: string; n: number }
  | { t: 'rm'; pick: number }
  | { t: 'restore'; pick: number }
  | { t: 'undoIns' }
  | { t: 'read'; pos: number; count: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('ins' as const),
      ref: fc.double({ min: 0, max: 1, noNaN: true }),
      gap: fc.nat(40),
      actor: fc.constantFrom('a', 'b', 'c'),
      n: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 600 })),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('rm' as const), pick: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restore' as const), pick: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'undoIns' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('read' as const), pos: fc.double({ min: 0, max: 1, noNaN: true }), count: fc.nat(300) }),
  },
);

describe('Sequence (chunked RGA list) against a flat-array model', () => {
  test('inserts anywhere (long runs, greater ids to skip), tombstones, restores, rollbacks, positional reads', () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 80, size: 'max' }), (cmds) => {
        const seq = new Sequence();
        const model = new FlatModel();
        const used = new Set<string>();
        let lastIns: { ctr: number; actor: string; n: number } | undefined;
        let next = 0;
        for (const c of cmds) {
          const all = model.items;
          switch (c.t) {
            case 'ins': {
              const ref = all.length === 0 || c.ref < 0.1 ? undefined : all[Math.floor(c.ref * all.length) % all.length];
              // New ids exceed their reference (the Lamport rule) but may be smaller than elements already there.
              let ctr = (ref?.ctr ?? 0) + 1 + c.gap;
              while ([...Array(c.n).keys()].some((k) => used.has(`${ctr + k}@${c.actor}`))) ctr += c.n;
              for (let k = 0; k < c.n; k++) used.add(`${ctr + k}@${c.actor}`);
              const values = Array.from({ length: c.n }, () => `v${next++}`);
              seq.insertAfter(ref?.ctr ?? 0, ref?.actor ?? '', ctr, c.actor, values);
              model.insertAfter(ref?.ctr ?? 0, ref?.actor ?? '', ctr, c.actor, values);
              lastIns = { ctr, actor: c.actor, n: c.n };
              break;
            }
            case 'rm':
            case 'restore': {
              const e = all[Math.floor(c.pick * all.length)];
              if (e === undefined) break;
              if (c.t === 'rm') assert.equal(seq.tombstone(e.ctr, e.actor), !e.dead);
              else seq.restore(e.ctr, e.actor);
              e.dead = c.t === 'rm';
              break;
            }
            case 'undoIns': {
              if (lastIns === undefined) break;
              const { ctr, actor, n } = lastIns;
              seq.remove(ctr, actor, n);
              for (let k = 0; k < n; k++) {
                const i = all.findIndex((e) => e.ctr === ctr + k && e.actor === actor);
                all.splice(i, 1);
                used.delete(`${ctr + k}@${actor}`);
              }
              lastIns = undefined;
              break;
            }
            case 'read': {
              const vis = model.visible();
              assert.equal(seq.length, vis.length);
              if (vis.length === 0) break;
              const pos = Math.floor(c.pos * vis.length) % vis.length;
              const count = Math.min(c.count, vis.length - pos);
              const e = vis[pos] as (typeof vis)[number];
              assert.equal(seq.idAt(pos), `${e.ctr}@${e.actor}`);
              assert.deepEqual(
                seq.visibleIds(pos, count),
                vis.slice(pos, pos + count).map((v) => `${v.ctr}@${v.actor}`),
              );
              break;
            }
          }
          if (c.t !== 'read') lastIns = c.t === 'ins' ? lastIns : undefined;
        }
        assert.deepEqual(
          seq.values(),
          model.visible().map((e) => e.value),
        );
        assert.equal(seq.length, model.visible().length);
        const everything: string[] = [];
        seq.forEach((ctr, actor, value, deleted) => everything.push(`${ctr}@${actor}=${String(value)}${deleted ? '†' : ''}`));
        assert.deepEqual(
          everything,
          model.items.map((e) => `${e.ctr}@${e.actor}=${String(e.value)}${e.dead ? '†' : ''}`),
        );
        for (const e of model.items) assert.ok(seq.has(e.ctr, e.actor));
      }),
      { numRuns: 400 },
    );
  });
});

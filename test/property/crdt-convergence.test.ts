import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import { assertConverged, createWorld, edits, oracleSequence, run, steps, type Edit } from './crdt-harness.ts';

/** Generates a world of 2–4 replicas, runs a plan of edits and partial syncs, then syncs everyone. */
function convergence(edit: fc.Arbitrary<Edit>, numRuns: number, maxSteps = 30): void {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 4 }).chain((n) => fc.tuple(fc.constant(n), steps(n, edit, maxSteps), fc.integer())),
      ([replicas, plan, seed]) => {
        const world = createWorld(replicas);
        run(world, plan, seed);
        assertConverged(world);
      },
    ),
    { numRuns },
  );
}

describe('CrdtDoc convergence under random delivery (duplication, reordering, partial syncs)', () => {
  test('maps: concurrent sets keep siblings, later writes resolve them, nested maps', () => convergence(edits.map, 3000));
  test('text and lists: concurrent inserts at one position, deletes of one element', () => convergence(edits.seq, 3000));
  test('large text and lists: many chunks, concurrent edits across chunk boundaries', () => convergence(edits.bigSeq, 300, 25));
  test('counters: every increment counts once', () => convergence(edits.counter, 1000));
  test('everything at once', () => convergence(edits.any, 3000, 60));
});

describe('CrdtDoc: nothing lost, history replays, history-less replicas agree', () => {
  test('every inserted, undeleted list value is present exactly once', () => {
    fc.assert(
      fc.property(steps(3, edits.seq, 30), fc.integer(), (plan, seed) => {
        const world = createWorld(3);
        run(world, plan, seed);
        const inserted = new Map<string, string>();
        const deleted = new Set<string>();
        for (const c of world.all) {
          let ctr = c.startOp;
          for (const op of c.ops) {
            if (op.action === 'ins' && op.obj === world.objs.list)
              op.values.forEach((v, i) => inserted.set(`${ctr + i}@${c.actor}`, String(v)));
            if (op.action === 'rm' && op.obj === world.objs.list) op.elems.forEach((e) => deleted.add(e));
            ctr += op.action === 'ins' ? op.values.length : 1;
          }
        }
        const expected = [...inserted]
          .filter(([id]) => !deleted.has(id))
          .map(([, v]) => v)
          .sort();
        for (const d of world.docs) assert.deepEqual(d.list(world.objs.list).map(String).sort(), expected);
      }),
      { numRuns: 1000 },
    );
  });

  test('changesSince({}) replayed on a fresh replica, and replicas without history, reach the same state', () => {
    fc.assert(
      fc.property(steps(3, edits.any, 30), fc.integer(), (plan, seed) => {
        const world = createWorld(3);
        run(world, plan, seed);
        const source = world.docs[1] as CrdtDoc;
        const history = source.changesSince({});
        assert.equal(history.length, world.all.length);
        const replay = new CrdtDoc(actorId('fresh'), { keepHistory: false });
        const result = replay.applyChanges(history);
        assert.equal(result.applied.length, history.length);
        assert.deepEqual(replay.toJSON(), source.toJSON());
        assert.deepEqual(replay.clock(), source.clock());
        assert.deepEqual(replay.list(world.objs.list), oracleSequence(world.all, world.objs.list));
        const reloaded = CrdtDoc.load(actorId('fresh'), replay.save(), { keepHistory: false });
        assert.deepEqual(reloaded.toJSON(), source.toJSON());
        // A partial history (changes since some replica's clock) applies on top of that replica.
        const behind = world.docs[2] as CrdtDoc;
        const partial = CrdtDoc.load(actorId('r2'), behind.save());
        partial.applyChanges(source.changesSince(behind.clock()));
        assert.deepEqual(partial.toJSON(), source.toJSON());
      }),
      { numRuns: 1000 },
    );
  });
});

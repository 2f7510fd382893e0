import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import type { Change } from '../../src/engine/crdt/types.ts';
import { createPrng } from '../../src/workload/prng.ts';
import { SYNTHETIC_COUNTER_KEY, SYNTHETIC_MAP_KEY, syntheticWorkload } from '../../src/workload/synthetic.ts';
import type { ConvertedTrace } from '../../src/workload/types.ts';

function replay(w: ConvertedTrace, changes: readonly Change[]): { doc: CrdtDoc; conflicts: number } {
  const doc = new CrdtDoc(actorId('replayer'), { maxPending: 1_000_000 });
  doc.applyChanges([w.setup]);
  let conflicts = 0;
  for (const change of changes) conflicts += doc.applyChanges([change]).conflicts.length;
  assert.equal(doc.applyChanges([]).pending, 0, 'nothing left waiting');
  return { doc, conflicts };
}

const globalOrder = (w: ConvertedTrace): Change[] => w.order.map(({ agent, index }) => w.agents[agent]!.changes[index]!);

/** Round-robin over agents, one change each: early changes wait in the causal buffer. */
function roundRobin(w: ConvertedTrace): Change[] {
  const out: Change[] = [];
  const longest = Math.max(...w.agents.map((a) => a.changes.length));
  for (let i = 0; i < longest; i++) for (const a of [...w.agents].reverse()) if (a.changes[i]) out.push(a.changes[i]!);
  return out;
}

describe('createPrng', () => {
  test('is deterministic per seed and spreads over [0, 1)', () => {
    const a = createPrng(7);
    const b = createPrng(7);
    const xs = Array.from({ length: 1000 }, () => a.next());
    assert.deepEqual(
      xs,
      Array.from({ length: 1000 }, () => b.next()),
    );
    const c = createPrng(8);
    assert.notDeepEqual(
      xs.slice(0, 10),
      Array.from({ length: 10 }, () => c.next()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  });
});

describe('syntheticWorkload', () => {
  const options = { agents: 4, changesPerAgent: 60, seed: 42 };

  test('is deterministic: same seed, same changes; another seed, other changes', () => {
    assert.deepEqual(syntheticWorkload(options), syntheticWorkload(options));
    assert.notDeepEqual(syntheticWorkload(options).agents, syntheticWorkload({ ...options, seed: 43 }).agents);
  });

  test('shape: per agent seq 1..n, order covers every change once, no endContent', () => {
    const w = syntheticWorkload(options);
    assert.equal(w.endContent, undefined);
    assert.equal(w.agents.length, 4);
    for (const { actor, changes } of w.agents) {
      assert.deepEqual(
        changes.map((c) => [c.actor, c.seq]),
        changes.map((_, i) => [actor, i + 1]),
      );
    }
    assert.equal(w.order.length, 240);
    assert.equal(new Set(w.order.map((o) => `${o.agent}:${o.index}`)).size, 240);
    const actions = new Set(w.agents.flatMap((a) => a.changes.flatMap((c) => c.ops.map((op) => op.action))));
    for (const action of ['ins', 'rm', 'set', 'inc']) assert.ok(actions.has(action as never), `has ${action} ops`);
  });

  test('replicas converge in different causal interleavings, with real conflicts and no lost increments', () => {
    const w = syntheticWorkload(options);
    const inOrder = replay(w, globalOrder(w));
    const interleaved = replay(w, roundRobin(w));
    assert.deepEqual(interleaved.doc.toJSON(), inOrder.doc.toJSON());
    assert.ok(inOrder.conflicts > 0, 'concurrent sets on shared keys produce sibling conflicts');
    const json = inOrder.doc.toJSON() as Record<string, unknown>;
    assert.equal(json[SYNTHETIC_COUNTER_KEY], w.counterTotal);
    assert.ok(typeof json[SYNTHETIC_MAP_KEY] === 'object' && json[SYNTHETIC_MAP_KEY] !== null);
    assert.ok(typeof json[w.textKey] === 'string' && (json[w.textKey] as string).length > 0);
  });

  test('one agent and zero changes are fine; bad options are SP_ERR_CONFIG_INVALID', () => {
    assert.equal(syntheticWorkload({ agents: 1, changesPerAgent: 5, seed: 1 }).order.length, 5);
    assert.equal(syntheticWorkload({ agents: 3, changesPerAgent: 0, seed: 1 }).order.length, 0);
    for (const bad of [{ agents: 0 }, { changesPerAgent: -1 }, { agents: 1.5 }, { syncProbability: 2 }, { sharedKeys: 0 }]) {
      assert.throws(() => syntheticWorkload({ ...options, ...bad }), { code: 'SP_ERR_CONFIG_INVALID' });
    }
  });
});

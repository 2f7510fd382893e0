import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import type { Change } from '../../src/engine/crdt/types.ts';
import { ROOT } from '../../src/engine/crdt/types.ts';
import { loadTrace } from '../../src/workload/trace-file.ts';
import { convertTrace } from '../../src/workload/trace-to-changes.ts';
import { defaultTracesDir } from '../../src/workload/traces-dir.ts';
import type { ConcurrentTrace, ConvertedTrace } from '../../src/workload/types.ts';

// Replays real editing traces (josephg/editing-traces) through the converter and a fresh engine
// replica. Takes seconds per trace; the conversion times are reported as test diagnostics.

const dir = defaultTracesDir();

function textOf(doc: CrdtDoc, converted: ConvertedTrace): string {
  const value = doc.get(ROOT, converted.textKey);
  assert.ok(value?.kind === 'object' && value.type === 'text', 'root text object exists');
  return doc.text(value.id);
}

/** Applies setup, then each change in its own apply call (out-of-order ones wait in the causal buffer). */
function replay(converted: ConvertedTrace, changes: readonly Change[]): { doc: CrdtDoc; peakPending: number } {
  const doc = new CrdtDoc(actorId('replayer'), { maxPending: 10_000_000 });
  doc.applyChanges([converted.setup]);
  let peakPending = 0;
  for (const change of changes) peakPending = Math.max(peakPending, doc.applyChanges([change]).pending);
  assert.equal(doc.applyChanges([]).pending, 0, 'nothing left waiting');
  return { doc, peakPending };
}

const globalOrder = (c: ConvertedTrace): Change[] => c.order.map(({ agent, index }) => c.agents[agent]!.changes[index]!);

/** One change per agent in turn: a causal interleaving the trace never had; early ones wait. */
function roundRobin(c: ConvertedTrace): Change[] {
  const out: Change[] = [];
  const longest = Math.max(...c.agents.map((a) => a.changes.length));
  for (let i = 0; i < longest; i++) for (const a of [...c.agents].reverse()) if (a.changes[i]) out.push(a.changes[i]!);
  return out;
}

function assertSeqs(c: ConvertedTrace, nonEmptyTxns: number): void {
  let total = 0;
  for (const { actor, changes } of c.agents) {
    changes.forEach((ch, i) => {
      if (ch.actor !== actor || ch.seq !== i + 1) assert.fail(`${actor} change ${i} is ${ch.actor}#${ch.seq}`);
    });
    total += changes.length;
  }
  assert.equal(total, nonEmptyTxns);
  assert.equal(c.order.length, nonEmptyTxns);
}

/**
 * Checks `deps` against an independent graph walk for a sample of txns: the agent-b entry must be
 * the number of agent b's non-empty txns among the ancestors of the txn (its parents' closure).
 */
function assertDepsMatchAncestors(trace: ConcurrentTrace, c: ConvertedTrace, sample: number): void {
  const changeOf = new Map<number, Change>();
  const seqCount = new Array<number>(trace.numAgents).fill(0);
  trace.txns.forEach((txn, t) => {
    if (txn.patches.length === 0) return;
    changeOf.set(t, c.agents[txn.agent]!.changes[seqCount[txn.agent]!]!);
    seqCount[txn.agent]! += 1;
  });
  const step = Math.max(1, Math.floor(trace.txns.length / sample));
  for (let t = 1; t < trace.txns.length; t += step) {
    const change = changeOf.get(t);
    if (change === undefined) continue;
    const seen = new Set<number>();
    const stack = [...trace.txns[t]!.parents];
    while (stack.length > 0) {
      const p = stack.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      stack.push(...trace.txns[p]!.parents);
    }
    const expected: Record<string, number> = { [c.setup.actor]: 1 };
    for (const p of seen) {
      const txn = trace.txns[p]!;
      if (txn.patches.length === 0) continue;
      const actor = c.agents[txn.agent]!.actor;
      expected[actor] = (expected[actor] ?? 0) + 1;
    }
    const actual = Object.fromEntries(Object.entries(change.deps).filter(([, v]) => v > 0));
    assert.deepEqual(actual, expected, `deps of txns[${t}]`);
  }
}

const cases = [
  { name: 'automerge-paper', kind: 'sequential' },
  { name: 'seph-blog1', kind: 'sequential' },
  { name: 'friendsforever', kind: 'concurrent' },
  { name: 'clownschool', kind: 'concurrent' },
] as const;

describe('convertTrace on the real traces', () => {
  for (const { name, kind } of cases) {
    const path = join(dir, `${name}.json.gz`);
    const skip = existsSync(path) ? false : `${path} is absent (set SYNCPILOT_DATA_DIR to the shared data folder)`;
    test(name, { skip }, async (t) => {
      const trace = await loadTrace(path);
      assert.equal(trace.kind, kind);
      const started = performance.now();
      const converted = convertTrace(trace); // verifies endContent itself
      const ms = performance.now() - started;
      const nonEmpty = trace.txns.filter((x) => x.patches.length > 0).length;
      t.diagnostic(
        `${name}: converted ${trace.txns.length} txns into ${converted.order.length} changes for ${converted.agents.length} agent(s) in ${ms.toFixed(0)} ms`,
      );
      assertSeqs(converted, nonEmpty);

      let started2 = performance.now();
      const inOrder = replay(converted, globalOrder(converted));
      assert.equal(textOf(inOrder.doc, converted), trace.endContent, 'global order');
      assert.equal(inOrder.peakPending, 0, 'the global order is causal: nothing waits');
      t.diagnostic(`${name}: replay in global order ${(performance.now() - started2).toFixed(0)} ms`);
      if (trace.kind === 'concurrent') {
        started2 = performance.now();
        const interleaved = replay(converted, roundRobin(converted));
        assert.equal(textOf(interleaved.doc, converted), trace.endContent, 'round-robin order');
        assert.ok(interleaved.peakPending > 0, 'the round-robin order really differs: some changes waited');
        t.diagnostic(
          `${name}: replay round-robin ${(performance.now() - started2).toFixed(0)} ms, peak ${interleaved.peakPending} change(s) waiting`,
        );
        assertDepsMatchAncestors(trace, converted, 300);
      }
    });
  }
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import type { Change } from '../../src/engine/crdt/types.ts';
import { ROOT } from '../../src/engine/crdt/types.ts';
import { parseTrace } from '../../src/workload/trace-file.ts';
import { convertTrace } from '../../src/workload/trace-to-changes.ts';
import type { ConvertedTrace } from '../../src/workload/types.ts';

/** The upstream README's example concurrent trace. */
const README_EXAMPLE = {
  kind: 'concurrent',
  endContent: 'yoooo ho ho\n',
  numAgents: 2,
  txns: [
    { parents: [], numChildren: 1, agent: 0, time: '2023-11-22T04:49:00+00:00', patches: [[0, 0, 'hi there\n']] },
    {
      parents: [0],
      numChildren: 1,
      agent: 0,
      time: '2023-11-22T04:50:00+00:00',
      patches: [
        [0, 8, ''],
        [0, 0, 'yoooo'],
      ],
    },
    { parents: [1], numChildren: 0, agent: 1, time: '2023-11-22T04:51:00+00:00', patches: [[5, 0, ' ho ho']] },
  ],
};

const T = '1970-01-01T00:00:00+00:00';
/** Two agents edit concurrently from a common base, then one merges both (txn 3 has 2 parents). */
const FORK_JOIN = {
  kind: 'concurrent',
  endContent: 'Hello, world!\n',
  numAgents: 2,
  txns: [
    { parents: [], numChildren: 2, agent: 0, time: T, patches: [[0, 0, 'hello world']] },
    { parents: [0], numChildren: 1, agent: 0, time: T, patches: [[5, 0, ',']] },
    { parents: [0], numChildren: 1, agent: 1, time: T, patches: [[11, 0, '!']] },
    { parents: [1, 2], numChildren: 1, agent: 1, time: T, patches: [[0, 1, 'H']] },
    { parents: [3], numChildren: 0, agent: 0, time: T, patches: [[13, 0, '\n']] },
  ],
};

function textOf(doc: CrdtDoc, converted: ConvertedTrace): string {
  const value = doc.get(ROOT, converted.textKey);
  assert.ok(value?.kind === 'object' && value.type === 'text', 'root text object exists');
  return doc.text(value.id);
}

/** Applies setup, then `changes` one apply call each (out-of-order ones wait in the causal buffer). */
function replay(converted: ConvertedTrace, changes: readonly Change[]): { doc: CrdtDoc; peakPending: number } {
  const doc = new CrdtDoc(actorId('replayer'), { maxPending: 1_000_000 });
  doc.applyChanges([converted.setup]);
  let peakPending = 0;
  for (const change of changes) peakPending = Math.max(peakPending, doc.applyChanges([change]).pending);
  assert.equal(doc.applyChanges([]).pending, 0, 'nothing left waiting');
  return { doc, peakPending };
}

function inGlobalOrder(converted: ConvertedTrace): Change[] {
  return converted.order.map(({ agent, index }) => converted.agents[agent]!.changes[index]!);
}

/** Reversed agents, each agent's changes in its own order: a causal interleaving the trace never had. */
function agentsReversed(converted: ConvertedTrace): Change[] {
  return [...converted.agents].reverse().flatMap((a) => a.changes);
}

function assertSeqs(converted: ConvertedTrace): void {
  for (const { actor, changes } of converted.agents) {
    assert.deepEqual(
      changes.map((c) => [c.actor, c.seq]),
      changes.map((_, i) => [actor, i + 1]),
      `${actor}: seq 1..n without gaps`,
    );
  }
}

const nonZero = (vv: Readonly<Record<string, number>>): Record<string, number> =>
  Object.fromEntries(Object.entries(vv).filter(([, v]) => v > 0));

describe('convertTrace: concurrent', () => {
  test('the README example converts and replays', () => {
    const converted = convertTrace(parseTrace(README_EXAMPLE));
    assert.deepEqual(
      converted.agents.map((a) => a.actor),
      ['agent-0', 'agent-1'],
    );
    assert.deepEqual(converted.order, [
      { agent: 0, index: 0 },
      { agent: 0, index: 1 },
      { agent: 1, index: 0 },
    ]);
    assertSeqs(converted);
    assert.equal(converted.setup.actor, 'agent-setup');
    assert.equal(converted.endContent, 'yoooo ho ho\n');
    // Agent 1 starts from agent 0's second state: it must have merged both of agent 0's changes.
    assert.deepEqual(nonZero(converted.agents[1]!.changes[0]!.deps), { 'agent-setup': 1, 'agent-0': 2 });
    assert.equal(converted.agents[0]!.changes[1]!.time, Date.UTC(2023, 10, 22, 4, 50));
    assert.equal(textOf(replay(converted, inGlobalOrder(converted)).doc, converted), 'yoooo ho ho\n');
    const reversed = replay(converted, agentsReversed(converted));
    assert.equal(textOf(reversed.doc, converted), 'yoooo ho ho\n');
    assert.equal(reversed.peakPending, 1, "agent 1's change waited for agent 0's");
  });

  test('concurrent branches and a merge txn: deps are exactly the parents closure', () => {
    const converted = convertTrace(parseTrace(FORK_JOIN));
    assertSeqs(converted);
    const [a0, a1] = converted.agents;
    assert.deepEqual(nonZero(a1!.changes[0]!.deps), { 'agent-setup': 1, 'agent-0': 1 }, 'txn 2 saw only txn 0');
    assert.deepEqual(nonZero(a1!.changes[1]!.deps), { 'agent-setup': 1, 'agent-0': 2, 'agent-1': 1 }, 'txn 3 merged 1 and 2');
    assert.deepEqual(nonZero(a0!.changes[2]!.deps), { 'agent-setup': 1, 'agent-0': 2, 'agent-1': 2 });
    const inOrder = replay(converted, inGlobalOrder(converted));
    assert.equal(inOrder.peakPending, 0);
    assert.equal(textOf(inOrder.doc, converted), 'Hello, world!\n');
    const reversed = replay(converted, agentsReversed(converted));
    assert.ok(reversed.peakPending > 0);
    assert.equal(textOf(reversed.doc, converted), 'Hello, world!\n');
  });

  test('options: text key and actor prefix', () => {
    const converted = convertTrace(parseTrace(FORK_JOIN), { docTextKey: 'body', actorPrefix: 'c' });
    assert.equal(converted.textKey, 'body');
    assert.deepEqual(
      converted.agents.map((a) => a.actor),
      ['c0', 'c1'],
    );
    assert.equal(converted.setup.actor, 'csetup');
    assert.equal(textOf(replay(converted, inGlobalOrder(converted)).doc, converted), 'Hello, world!\n');
    assert.throws(() => convertTrace(parseTrace(FORK_JOIN), { actorPrefix: 'bad prefix ' }), { code: 'SP_ERR_CONFIG_INVALID' });
  });

  test('a txn without patches makes no change', () => {
    const trace = structuredClone(FORK_JOIN);
    trace.txns.push({ parents: [4], numChildren: 0, agent: 1, time: T, patches: [] });
    const converted = convertTrace(parseTrace(trace));
    assert.deepEqual(
      converted.agents.map((a) => a.changes.length),
      [3, 2],
    );
    assert.equal(converted.order.length, 5);
  });

  test('an agent whose txns are not totally ordered is rejected', () => {
    const trace = structuredClone(README_EXAMPLE);
    trace.txns[2] = { parents: [0], numChildren: 0, agent: 0, time: T, patches: [[0, 0, 'x']] };
    assert.throws(
      () => convertTrace(parseTrace(trace)),
      (err: unknown) => {
        assert.ok(err instanceof SyncPilotError);
        assert.equal(err.code, 'SP_ERR_TRACE_INVALID');
        assert.match(err.message, /txns\[2\] of agent 0 does not causally follow/);
        return true;
      },
    );
  });

  test('a patch outside the document and a wrong endContent are SP_ERR_TRACE_INVALID', () => {
    const outside = structuredClone(README_EXAMPLE);
    outside.txns[2]!.patches = [[50, 0, 'x']];
    assert.throws(() => convertTrace(parseTrace(outside)), { code: 'SP_ERR_TRACE_INVALID', message: /txns\[2\]: a patch does not fit/ });
    const wrongEnd = { ...README_EXAMPLE, endContent: 'yoooo ho hum\n' };
    assert.throws(() => convertTrace(parseTrace(wrongEnd)), {
      code: 'SP_ERR_TRACE_INVALID',
      message: /first difference at 10: "o\\n" vs "um\\n"/,
    });
    assert.doesNotThrow(() => convertTrace(parseTrace(wrongEnd), { verify: false }));
  });
});

describe('convertTrace: sequential', () => {
  test('one agent, one change per txn, startContent in setup, code point positions', () => {
    const trace = parseTrace({
      startContent: 'a😀b',
      endContent: 'axb🎉!',
      txns: [
        { time: '2021-01-01T00:00:00Z', patches: [[2, 0, 'x']] }, // a😀xb
        { time: '2021-01-01T00:00:01Z', patches: [[1, 1, '']] }, // axb
        {
          time: '2021-01-01T00:00:02Z',
          patches: [
            [3, 0, '🎉!!'],
            [4, 1, ''],
          ],
        }, // axb🎉!
      ],
    });
    const converted = convertTrace(trace);
    assert.equal(converted.agents.length, 1);
    assert.equal(converted.agents[0]!.changes.length, 3);
    assertSeqs(converted);
    assert.equal(textOf(replay(converted, []).doc, converted), 'a😀b');
    assert.equal(textOf(replay(converted, inGlobalOrder(converted)).doc, converted), 'axb🎉!');
  });
});

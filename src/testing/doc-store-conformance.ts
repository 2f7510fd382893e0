import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { SyncPilotError, type ErrorCode } from '../core/errors.ts';
import { actorId, docId, peerId, type DocId } from '../core/ids.ts';
import type { HeldMessage } from '../core/pipeline.ts';
import type { Envelope } from '../core/stage.ts';
import { ROOT, type Change, type VersionVector } from '../engine/crdt/types.ts';
import type { DocStore, Snapshot } from '../engine/store/types.ts';
import { mulberry32 } from '../core/random.ts';

/** What a conformance run needs: a fresh, empty store per test, and how to clean up after it. */
export interface DocStoreConformanceSetup {
  readonly store: DocStore;
  readonly teardown?: () => void;
}

/** Optional inspection methods; the tests that need them are skipped for stores without them. */
interface HoldInspection {
  listHolds(): HeldMessage[];
  deleteHold(id: string): boolean;
}
interface SnapshotInspection {
  listSnapshots(doc: DocId): Snapshot[];
}

const hasHolds = (s: DocStore): s is DocStore & HoldInspection =>
  typeof (s as Partial<HoldInspection>).listHolds === 'function' && typeof (s as Partial<HoldInspection>).deleteHold === 'function';
const hasSnapshotList = (s: DocStore): s is DocStore & SnapshotInspection =>
  typeof (s as Partial<SnapshotInspection>).listSnapshots === 'function';

const A = docId('doc-a');
const B = docId('doc-b');

/** A small, valid change; `tag` makes two changes with the same identity differ in content. */
function sampleChange(actor: string, seq: number, deps: VersionVector = {}, tag = ''): Change {
  return {
    actor: actorId(actor),
    seq,
    startOp: seq * 10,
    deps,
    time: 1_700_000_000_000 + seq,
    ops: [
      { action: 'set', obj: ROOT, key: `k-${actor}`, value: `${actor}:${seq}${tag}`, pred: [] },
      { action: 'ins', obj: '1@x', after: '_head', values: ['h', 'i', null, 3.5, true] },
    ],
  };
}

/** A deterministic PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  return mulberry32(seed);
}

/** `count` changes by `actors` actors, interleaved as a server would receive them (each actor's in seq order). */
function interleavedLog(count: number, actors: number, seed: number): Change[] {
  const rand = prng(seed);
  const clock: Record<string, number> = {};
  const log: Change[] = [];
  for (let i = 0; i < count; i++) {
    const actor = `actor-${Math.floor(rand() * actors)}`;
    const seq = (clock[actor] ?? 0) + 1;
    log.push(sampleChange(actor, seq, { ...clock }));
    clock[actor] = seq;
  }
  return log;
}

const notCoveredBy = (since: VersionVector) => (c: Change) => c.seq > (since[c.actor] ?? 0);

function sampleHold(id: string, heldAt: number): HeldMessage {
  const envelope: Envelope = {
    id: `msg-${id}`,
    phase: 'inbound',
    kind: 'changes',
    doc: A,
    peer: peerId('peer-1'),
    payload: {
      frames: [new Uint8Array([0, 1, 2, 255]), new Uint8Array(0)],
      big: 12345678901234567890n,
      missing: undefined,
      odd: [Number.NaN, -0, Number.POSITIVE_INFINITY],
      lookalike: { $sp: 'u8', v: 'not a tag' },
      text: 'héllo ✓',
    },
    bytes: 42,
    receivedAt: 1234.5,
    annotations: { 'anomaly.score': 0.97 },
  };
  return { id, stage: 'anomaly', code: 'SP_ERR_HELD', reason: 'score over threshold', envelope, heldAt };
}

function assertCode(fn: () => unknown, code: ErrorCode, what: string): void {
  assert.throws(fn, (err: unknown) => err instanceof SyncPilotError && err.code === code, `${what} should throw ${code}`);
}

/**
 * Registers the shared `DocStore` contract as node:test tests. Every implementation runs it:
 * `runDocStoreConformance('sqlite', () => ({ store: SqliteDocStore.open(...), teardown }))`.
 * `setup` is called once per test and must return an empty store.
 */
export function runDocStoreConformance(name: string, setup: () => DocStoreConformanceSetup): void {
  const withStore = (fn: (store: DocStore, t: TestContext) => void) => (t: TestContext) => {
    const { store, teardown } = setup();
    try {
      fn(store, t);
    } finally {
      try {
        store.close();
      } finally {
        teardown?.();
      }
    }
  };

  describe(`DocStore conformance: ${name}`, () => {
    test(
      'an actor id belongs to the first subject that claims it',
      withStore((store) => {
        assert.equal(store.claimActor('actor-1', 'tenant/alice'), true);
        assert.equal(store.claimActor('actor-1', 'tenant/alice'), true, 'the owner may claim again');
        assert.equal(store.claimActor('actor-1', 'tenant/mallory'), false);
        assert.equal(store.claimActor('actor-2', 'tenant/mallory'), true);
        assert.equal(store.claimActor('actor-1', 'tenant/alice'), true, 'a refused claim changed nothing');
      }),
    );

    test(
      'an unknown document is empty',
      withStore((store) => {
        assert.deepEqual(store.loadChanges(A), []);
        assert.deepEqual(store.loadChanges(A, { x: 3 }), []);
        assert.equal(store.changeCount(A), 0);
        assert.equal(store.latestSnapshot(A), undefined);
        assert.deepEqual(store.listDocs(), []);
      }),
    );

    test(
      'appends and loads changes in append order across batches',
      withStore((store) => {
        const log = interleavedLog(60, 4, 1);
        store.appendChanges(A, log.slice(0, 1));
        store.appendChanges(A, log.slice(1, 25));
        store.appendChanges(A, log.slice(25));
        assert.deepEqual(store.loadChanges(A), log);
        assert.equal(store.changeCount(A), 60);
      }),
    );

    test(
      'keeps append order rather than (actor, seq) order',
      withStore((store) => {
        const order = [
          sampleChange('zed', 1),
          sampleChange('amy', 1),
          sampleChange('zed', 2),
          sampleChange('bob', 1),
          sampleChange('amy', 2),
        ];
        store.appendChanges(A, order.slice(0, 2));
        store.appendChanges(A, order.slice(2));
        assert.deepEqual(
          store.loadChanges(A).map((c) => `${c.actor}/${c.seq}`),
          ['zed/1', 'amy/1', 'zed/2', 'bob/1', 'amy/2'],
        );
        assert.deepEqual(
          store.loadChanges(A, { zed: 1 }).map((c) => `${c.actor}/${c.seq}`),
          ['amy/1', 'zed/2', 'bob/1', 'amy/2'],
        );
      }),
    );

    test(
      're-appending stored (actor, seq) pairs is a no-op',
      withStore((store) => {
        const log = interleavedLog(20, 3, 2);
        store.appendChanges(A, log.slice(0, 12));
        store.appendChanges(A, log.slice(0, 12));
        // An overlapping batch: the known part is skipped, the rest is appended; a duplicate inside one batch counts once.
        const tail = log.slice(12);
        store.appendChanges(A, [...log.slice(8, 12), ...tail, tail[0] as Change]);
        // Same identity, different content: the stored change wins (the engine detects such conflicts).
        const first = log[0] as Change;
        store.appendChanges(A, [sampleChange(first.actor, first.seq, {}, '-altered')]);
        assert.equal(store.changeCount(A), 20);
        assert.deepEqual(store.loadChanges(A), log);
      }),
    );

    test(
      'since filters per actor',
      withStore((store) => {
        const log = [
          sampleChange('a', 1),
          sampleChange('b', 1),
          sampleChange('a', 2),
          sampleChange('c', 1),
          sampleChange('b', 2),
          sampleChange('a', 3),
          sampleChange('c', 2),
        ];
        store.appendChanges(A, log);
        const ids = (since?: VersionVector) => store.loadChanges(A, since).map((c) => `${c.actor}${c.seq}`);
        assert.deepEqual(ids({ a: 2, c: 5 }), ['b1', 'b2', 'a3']);
        assert.deepEqual(ids({ a: 3, b: 2, c: 2 }), []);
        assert.deepEqual(ids({ a: 1 }), ['b1', 'a2', 'c1', 'b2', 'a3', 'c2']);
        assert.deepEqual(ids({}), ['a1', 'b1', 'a2', 'c1', 'b2', 'a3', 'c2']);
        assert.deepEqual(ids({ stranger: 9, b: 0 }), ['a1', 'b1', 'a2', 'c1', 'b2', 'a3', 'c2']);
        assert.deepEqual(ids({ a: 99, b: 1, c: 99 }), ['b2']);
      }),
    );

    test(
      'since matches a naive filter on a larger multi-actor log',
      withStore((store) => {
        const log = interleavedLog(1500, 12, 3);
        for (let i = 0; i < log.length; i += 100) store.appendChanges(A, log.slice(i, i + 100));
        const rand = prng(4);
        const heads: Record<string, number> = {};
        for (const c of log) heads[c.actor] = c.seq;
        for (let trial = 0; trial < 25; trial++) {
          const since: Record<string, number> = {};
          const coverage = rand();
          for (const [actor, max] of Object.entries(heads)) {
            const r = rand();
            if (r < 0.15) continue;
            since[actor] = r < 0.3 ? max + 5 : Math.floor(max * coverage * (0.8 + rand() * 0.4));
          }
          const expected = log.filter(notCoveredBy(since));
          assert.deepEqual(store.loadChanges(A, since), expected, `since ${JSON.stringify(since)}`);
        }
      }),
    );

    test(
      'stored changes are copies of what was passed and returned',
      withStore((store) => {
        const input = sampleChange('a', 1) as { -readonly [K in keyof Change]: Change[K] };
        const expected = structuredClone(input);
        store.appendChanges(A, [input]);
        input.ops = [];
        const loaded = store.loadChanges(A)[0] as { -readonly [K in keyof Change]: Change[K] };
        loaded.deps = { mutated: 1 };
        assert.deepEqual(store.loadChanges(A), [expected]);
      }),
    );

    test(
      'a change without a usable identity is rejected and nothing of its batch is written',
      withStore((store) => {
        const bad = { ...sampleChange('a', 2), seq: 0 };
        assertCode(() => store.appendChanges(A, [sampleChange('a', 1), bad]), 'SP_ERR_CHANGE_INVALID', 'seq 0');
        assertCode(() => store.appendChanges(A, [{ ...sampleChange('a', 1), seq: 1.5 }]), 'SP_ERR_CHANGE_INVALID', 'seq 1.5');
        assertCode(() => store.appendChanges(A, [{ ...sampleChange('a', 1), actor: actorId('') }]), 'SP_ERR_CHANGE_INVALID', 'empty actor');
        assert.equal(store.changeCount(A), 0);
        assert.deepEqual(store.loadChanges(A), []);
      }),
    );

    test(
      'the latest snapshot wins and is a copy',
      withStore((store) => {
        const snap = (n: number): Snapshot => ({
          clock: { a: n, b: 2 * n },
          state: new Uint8Array([n, 0, 255, n]),
          changeCount: 3 * n,
          createdAt: 1000 + n,
        });
        const third = snap(3);
        store.saveSnapshot(A, snap(1));
        store.saveSnapshot(A, snap(2));
        store.saveSnapshot(A, third);
        third.state[0] = 99;
        assert.deepEqual(store.latestSnapshot(A), snap(3));
        assert.equal(store.latestSnapshot(B), undefined);
      }),
    );

    test(
      'keeps the latest two snapshots per document',
      withStore((store, t) => {
        if (!hasSnapshotList(store)) return t.skip('store does not expose listSnapshots');
        for (let n = 1; n <= 4; n++) store.saveSnapshot(A, { clock: { a: n }, state: new Uint8Array([n]), changeCount: n, createdAt: n });
        store.saveSnapshot(B, { clock: {}, state: new Uint8Array(0), changeCount: 0, createdAt: 0 });
        assert.deepEqual(
          store.listSnapshots(A).map((s) => s.changeCount),
          [4, 3],
        );
        assert.equal(store.listSnapshots(B).length, 1);
      }),
    );

    test(
      'holds: put round-trips the envelope (bytes, bigint, undefined, odd numbers)',
      withStore((store, t) => {
        const first = sampleHold('h1', 10);
        store.put(first);
        if (!hasHolds(store)) return t.skip('store does not expose listHolds/deleteHold: only put was checked');
        const second = sampleHold('h2', 5);
        store.put(second);
        assert.deepEqual(store.listHolds(), [second, first]);
        assert.deepEqual(store.listDocs(), [], 'a hold does not create a document');
        assert.equal(store.deleteHold('h2'), true);
        assert.equal(store.deleteHold('h2'), false);
        assert.deepEqual(store.listHolds(), [first]);
      }),
    );

    test(
      'holds: an envelope that cannot round-trip is refused, not stored lossily',
      withStore((store) => {
        const hold = sampleHold('h1', 1);
        const cyclic: Record<string, unknown> = {};
        cyclic['self'] = cyclic;
        assertCode(() => store.put({ ...hold, envelope: { ...hold.envelope, payload: { fn: () => 1 } } }), 'SP_ERR_STORE', 'a function');
        assertCode(() => store.put({ ...hold, envelope: { ...hold.envelope, payload: cyclic } }), 'SP_ERR_STORE', 'a cycle');
        assertCode(
          () => store.put({ ...hold, envelope: { ...hold.envelope, payload: new Float32Array(2) } }),
          'SP_ERR_STORE',
          'a Float32Array',
        );
        if (hasHolds(store)) assert.deepEqual(store.listHolds(), []);
      }),
    );

    test(
      'documents are isolated from each other',
      withStore((store) => {
        store.appendChanges(A, [sampleChange('a', 1, {}, '-in-A'), sampleChange('a', 2, {}, '-in-A')]);
        store.appendChanges(B, [sampleChange('a', 1, {}, '-in-B')]);
        store.saveSnapshot(B, { clock: { a: 1 }, state: new Uint8Array([1]), changeCount: 1, createdAt: 1 });
        assert.equal(store.changeCount(A), 2);
        assert.equal(store.changeCount(B), 1);
        assert.deepEqual(store.loadChanges(B), [sampleChange('a', 1, {}, '-in-B')]);
        assert.deepEqual(store.loadChanges(A, { a: 1 }), [sampleChange('a', 2, {}, '-in-A')]);
        assert.equal(store.latestSnapshot(A), undefined);
      }),
    );

    test(
      'listDocs lists every document with changes or snapshots, once',
      withStore((store) => {
        const C = docId('doc-c');
        store.appendChanges(A, [sampleChange('a', 1)]);
        store.appendChanges(B, [sampleChange('a', 1)]);
        store.appendChanges(A, [sampleChange('a', 2)]);
        store.saveSnapshot(C, { clock: {}, state: new Uint8Array(0), changeCount: 0, createdAt: 0 });
        store.appendChanges(docId('doc-empty'), []);
        assert.deepEqual([...store.listDocs()].sort(), [A, B, C]);
      }),
    );

    test(
      'every method throws SP_ERR_CLOSED after close; close is idempotent',
      withStore((store) => {
        store.appendChanges(A, [sampleChange('a', 1)]);
        store.close();
        store.close();
        const snapshot: Snapshot = { clock: {}, state: new Uint8Array(0), changeCount: 0, createdAt: 0 };
        assertCode(() => store.appendChanges(A, [sampleChange('a', 2)]), 'SP_ERR_CLOSED', 'appendChanges');
        assertCode(() => store.loadChanges(A), 'SP_ERR_CLOSED', 'loadChanges');
        assertCode(() => store.changeCount(A), 'SP_ERR_CLOSED', 'changeCount');
        assertCode(() => store.latestSnapshot(A), 'SP_ERR_CLOSED', 'latestSnapshot');
        assertCode(() => store.saveSnapshot(A, snapshot), 'SP_ERR_CLOSED', 'saveSnapshot');
        assertCode(() => store.listDocs(), 'SP_ERR_CLOSED', 'listDocs');
        assertCode(() => store.put(sampleHold('h', 1)), 'SP_ERR_CLOSED', 'put');
        if (hasHolds(store)) assertCode(() => store.listHolds(), 'SP_ERR_CLOSED', 'listHolds');
      }),
    );
  });
}

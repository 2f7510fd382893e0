/**
 * Shared machinery of the CRDT property tests: replicas driven by generated edits, message
 * delivery with loss, duplication and reordering, and independent oracles (a naive RGA tree, a
 * naive multi-value register, a sum) computed from the changes alone.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import type { Change, ObjId, Scalar } from '../../src/engine/crdt/types.ts';
import { vvCompare } from '../../src/engine/crdt/version-vector.ts';
import { mulberry32 } from '../../src/core/random.ts';

export type Edit =
  | { readonly t: 'set'; readonly key: string; readonly value: number }
  | { readonly t: 'del'; readonly key: string }
  | { readonly t: 'makeMap'; readonly key: string }
  | { readonly t: 'setNested'; readonly key: string; readonly value: number }
  | { readonly t: 'insText'; readonly pos: number; readonly text: string }
  | { readonly t: 'delText'; readonly pos: number; readonly count: number }
  | { readonly t: 'insList'; readonly pos: number; readonly n: number }
  | { readonly t: 'delList'; readonly pos: number; readonly count: number }
  | { readonly t: 'inc'; readonly by: number };

export type Step =
  | { readonly t: 'edit'; readonly replica: number; readonly edits: readonly Edit[] }
  | { readonly t: 'sync'; readonly from: number; readonly to: number; readonly keep: number; readonly dup: boolean }
  /** The replica restarts from its saved state (buffered changes are lost and re-sent later). */
  | { readonly t: 'restart'; readonly replica: number };

const KEYS = ['a', 'b', 'c'];
const frac = fc.double({ min: 0, max: 1, noNaN: true });

const mapEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ t: fc.constant('set' as const), key: fc.constantFrom(...KEYS), value: fc.integer({ min: -5, max: 5 }) }),
  fc.record({ t: fc.constant('del' as const), key: fc.constantFrom(...KEYS) }),
  fc.record({ t: fc.constant('makeMap' as const), key: fc.constantFrom(...KEYS) }),
  fc.record({ t: fc.constant('setNested' as const), key: fc.constantFrom(...KEYS), value: fc.integer({ min: 0, max: 9 }) }),
);
const seqEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    t: fc.constant('insText' as const),
    pos: frac,
    text: fc.string({ unit: fc.constantFrom('x', 'y', 'é', '😀'), minLength: 1, maxLength: 4 }),
  }),
  fc.record({ t: fc.constant('delText' as const), pos: frac, count: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ t: fc.constant('insList' as const), pos: frac, n: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ t: fc.constant('delList' as const), pos: frac, count: fc.integer({ min: 1, max: 3 }) }),
);
/** Long runs and wide deletes, so documents outgrow one chunk (256 elements) and chunks split. */
const bigSeqEdit: fc.Arbitrary<Edit> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('insText' as const),
      pos: frac,
      text: fc.string({ unit: fc.constantFrom('a', 'b', 'ü'), minLength: 1, maxLength: 400 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('delText' as const), pos: frac, count: fc.integer({ min: 1, max: 150 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('insList' as const), pos: frac, n: fc.integer({ min: 1, max: 300 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('delList' as const), pos: frac, count: fc.integer({ min: 1, max: 150 }) }) },
);
const counterEdit: fc.Arbitrary<Edit> = fc.record({ t: fc.constant('inc' as const), by: fc.integer({ min: -3, max: 3 }) });

/** Steps of `replicas` replicas whose edits come from `edit`. */
export function steps(replicas: number, edit: fc.Arbitrary<Edit>, maxSteps: number): fc.Arbitrary<Step[]> {
  const r = fc.integer({ min: 0, max: replicas - 1 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    {
      weight: 15,
      arbitrary: fc.record({ t: fc.constant('edit' as const), replica: r, edits: fc.array(edit, { minLength: 1, maxLength: 3 }) }),
    },
    { weight: 5, arbitrary: fc.record({ t: fc.constant('sync' as const), from: r, to: r, keep: frac, dup: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), replica: r }) },
  );
  return fc.array(step, { minLength: 1, maxLength: maxSteps, size: 'max' });
}

export const edits = { map: mapEdit, seq: seqEdit, bigSeq: bigSeqEdit, counter: counterEdit, any: fc.oneof(mapEdit, seqEdit, counterEdit) };

/** A small seeded PRNG (mulberry32), so a failing case replays exactly. */
export function rng(seed: number): () => number {
  return mulberry32(seed);
}

export function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** A deep-frozen deep copy: delivering it proves the document never writes into its input. */
export function frozenCopy<T>(value: T): T {
  const freeze = (v: unknown): unknown => {
    if (typeof v === 'object' && v !== null) {
      for (const x of Object.values(v)) freeze(x);
      Object.freeze(v);
    }
    return v;
  };
  return freeze(structuredClone(value)) as T;
}

export interface World {
  readonly docs: CrdtDoc[];
  /** Every change made by any replica, in creation order. */
  readonly all: Change[];
  readonly objs: { readonly text: ObjId; readonly list: ObjId; readonly counter: ObjId; readonly map: ObjId };
  /** Values inserted into the list so far (each one unique). */
  nextValue: number;
}

/** Replica 0 creates the shared objects; every replica receives that change. */
export function createWorld(replicas: number, options: { keepHistory?: boolean } = {}): World {
  const docs = Array.from({ length: replicas }, (_, i) => new CrdtDoc(actorId(`r${i}`), options));
  let objs = { text: '', list: '', counter: '', map: '' };
  const genesis = docs[0]?.change((tx) => {
    objs = {
      text: tx.makeText('root', 'text'),
      list: tx.makeList('root', 'list'),
      counter: tx.makeCounter('root', 'n'),
      map: tx.makeMap('root', 'm'),
    };
  });
  assert.ok(genesis);
  for (const d of docs.slice(1)) d.applyChanges([genesis]);
  return { docs, all: [genesis], objs, nextValue: 0 };
}

function at(pos: number, length: number): number {
  return Math.min(length, Math.floor(pos * (length + 1)));
}

/** Applies one local change of `edits` on a replica. */
export function runEdits(world: World, replica: number, list: readonly Edit[]): void {
  const doc = world.docs[replica] as CrdtDoc;
  const { text, list: lst, counter, map } = world.objs;
  const change = doc.change((tx) => {
    for (const e of list) {
      switch (e.t) {
        case 'set':
          tx.set(map, e.key, e.value);
          break;
        case 'del':
          tx.del(map, e.key);
          break;
        case 'makeMap':
          tx.set(tx.makeMap(map, e.key), 'k', e.key);
          break;
        case 'setNested': {
          const v = doc.get(map, e.key);
          if (v?.kind === 'object' && v.type === 'map') tx.set(v.id, 'k', e.value);
          break;
        }
        case 'insText':
          tx.insertText(text, at(e.pos, doc.length(text)), e.text);
          break;
        case 'delText': {
          const len = doc.length(text);
          const p = at(e.pos, len);
          tx.deleteText(text, p, Math.min(e.count, len - p));
          break;
        }
        case 'insList': {
          const values = Array.from({ length: e.n }, () => `v${world.nextValue++}`);
          tx.insert(lst, at(e.pos, doc.length(lst)), ...values);
          break;
        }
        case 'delList': {
          const len = doc.length(lst);
          const p = at(e.pos, len);
          tx.delete(lst, p, Math.min(e.count, len - p));
          break;
        }
        case 'inc':
          tx.increment(counter, e.by);
          break;
      }
    }
  });
  if (change !== undefined) world.all.push(change);
}

/** Delivers a random subset of what `from` has applied to `to`, reordered, maybe duplicated. */
export function sync(world: World, step: Extract<Step, { t: 'sync' }>, random: () => number): void {
  const from = world.docs[step.from] as CrdtDoc;
  const to = world.docs[step.to] as CrdtDoc;
  const known = world.all.filter((c) => from.hasChange(c.actor, c.seq));
  let batch = shuffle(known, random).slice(0, Math.ceil(known.length * step.keep));
  if (step.dup) batch = batch.concat(batch.slice(0, 2));
  const result = to.applyChanges(batch.map(frozenCopy));
  assert.equal(result.pending, to.pendingCount());
}

/** Delivers every change to every replica, in random batches and orders, with duplicates. */
export function syncAll(world: World, random: () => number): void {
  for (const doc of world.docs) {
    const order = shuffle(world.all.concat(world.all.filter(() => random() < 0.2)), random);
    while (order.length > 0) doc.applyChanges(order.splice(0, 1 + Math.floor(random() * 6)).map(frozenCopy));
    assert.equal(doc.pendingCount(), 0);
  }
}

/** Runs the plan; whenever two replicas have applied the same changes, they must read the same. */
export function run(world: World, plan: readonly Step[], seed: number): void {
  const random = rng(seed);
  for (const step of plan) {
    if (step.t === 'edit') runEdits(world, step.replica, step.edits);
    else if (step.t === 'restart') {
      const doc = world.docs[step.replica] as CrdtDoc;
      const loaded = CrdtDoc.load(doc.actor, doc.save());
      assert.deepEqual(loaded.toJSON(), doc.toJSON());
      world.docs[step.replica] = loaded;
    } else {
      sync(world, step, random);
      const from = world.docs[step.from] as CrdtDoc;
      const to = world.docs[step.to] as CrdtDoc;
      if (vvCompare(from.clock(), to.clock()) === 'equal') assert.deepEqual(to.toJSON(), from.toJSON());
    }
  }
  syncAll(world, random);
}

// ---------------------------------------------------------------- oracles (independent of the engine)

interface Id {
  ctr: number;
  actor: string;
}
function parse(id: string): Id {
  const at = id.indexOf('@');
  return { ctr: Number(id.slice(0, at)), actor: id.slice(at + 1) };
}
function greater(a: Id, b: Id): boolean {
  return a.ctr > b.ctr || (a.ctr === b.ctr && a.actor > b.actor);
}

/** The sequence a textbook RGA tree gives: children of a node by id descending, depth first. */
export function oracleSequence(changes: readonly Change[], obj: ObjId): Scalar[] {
  const children = new Map<string, { id: string; value: Scalar }[]>();
  const deleted = new Set<string>();
  for (const c of changes) {
    let ctr = c.startOp;
    for (const op of c.ops) {
      if (op.action === 'ins' && op.obj === obj) {
        let parent = op.after;
        op.values.forEach((value, i) => {
          const id = `${ctr + i}@${c.actor}`;
          const list = children.get(parent) ?? [];
          list.push({ id, value });
          children.set(parent, list);
          parent = id;
        });
      }
      if (op.action === 'rm' && op.obj === obj) for (const e of op.elems) deleted.add(e);
      ctr += op.action === 'ins' ? op.values.length : 1;
    }
  }
  const out: Scalar[] = [];
  const visit = (node: string): void => {
    const kids = (children.get(node) ?? []).slice().sort((x, y) => (greater(parse(x.id), parse(y.id)) ? -1 : 1));
    for (const k of kids) {
      if (!deleted.has(k.id)) out.push(k.value);
      visit(k.id);
    }
  };
  visit('_head');
  return out;
}

/** A map field's siblings: its set/make ops that no other op names in its pred, by id descending. */
export function oracleField(changes: readonly Change[], obj: ObjId, key: string): string[] {
  const writes: string[] = [];
  const superseded = new Set<string>();
  for (const c of changes) {
    let ctr = c.startOp;
    for (const op of c.ops) {
      if ((op.action === 'set' || op.action === 'make' || op.action === 'del') && op.obj === obj && op.key === key) {
        for (const p of op.pred) superseded.add(p);
        if (op.action !== 'del') writes.push(`${ctr}@${c.actor}`);
      }
      ctr += op.action === 'ins' ? op.values.length : 1;
    }
  }
  return writes.filter((w) => !superseded.has(w)).sort((x, y) => (greater(parse(x), parse(y)) ? -1 : 1));
}

export function oracleCounter(changes: readonly Change[], obj: ObjId): number {
  let sum = 0;
  for (const c of changes) for (const op of c.ops) if (op.action === 'inc' && op.obj === obj) sum += op.by;
  return sum;
}

/** Every replica equal to the others and to the oracles; save/load round-trips exactly. */
export function assertConverged(world: World): void {
  const [first, ...rest] = world.docs as [CrdtDoc, ...CrdtDoc[]];
  const { text, list, counter, map } = world.objs;
  const fields = (d: CrdtDoc): unknown => KEYS.map((k) => [d.getConflicts(map, k), d.getConflicts('root', k)]);
  for (const d of rest) {
    assert.deepEqual(d.clock(), first.clock());
    assert.deepEqual(d.toJSON(), first.toJSON());
    assert.deepEqual(fields(d), fields(first));
  }
  assert.deepEqual(first.list(list), oracleSequence(world.all, list));
  assert.equal(first.text(text), oracleSequence(world.all, text).join(''));
  assert.equal(first.counter(counter), oracleCounter(world.all, counter));
  for (const k of KEYS) {
    assert.deepEqual(
      first.getConflicts(map, k).map((s) => s.id),
      oracleField(world.all, map, k),
    );
  }
  const bytes = first.save();
  const loaded = CrdtDoc.load(first.actor, bytes);
  assert.deepEqual(loaded.toJSON(), first.toJSON());
  assert.deepEqual(loaded.clock(), first.clock());
  assert.deepEqual(fields(loaded), fields(first));
  assert.deepEqual(loaded.save(), bytes);
}

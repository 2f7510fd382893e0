import { ByteReader, ByteWriter, DecodeError } from './binary.ts';
import { checkChangeShape, isCodePoint, opCounters } from './change-shape.ts';
import { HEAD, ROOT, type Change, type ObjType, type Op, type OpIdStr, type Scalar, type VersionVector } from './types.ts';

/** Object type codes. Stable: saved states depend on them. */
export const OBJ_TYPE_CODES: readonly ObjType[] = ['map', 'text', 'list', 'counter'];
const ACTIONS: readonly Op['action'][] = ['set', 'make', 'del', 'ins', 'rm', 'inc'];

/** Interns actor ids so that encoded op ids carry a small index instead of the string. */
export class ActorTable {
  private readonly ids = new Map<string, number>();
  readonly list: string[] = [];

  index(actor: string): number {
    let i = this.ids.get(actor);
    if (i === undefined) {
      i = this.list.length;
      this.ids.set(actor, i);
      this.list.push(actor);
    }
    return i;
  }
}

/** Small deltas are zigzag varints; anything larger is written absolute (zigzag must stay below 2^53). */
const MAX_DELTA = 2 ** 50;

/**
 * Writes an op id (already validated). Counters are written relative to `base` (a change's
 * startOp) because ops mostly refer to recent ops. Encoding of the first varint k: 0 = `root` or
 * `_head`, 1 = an absolute counter follows, k ≥ 2 = zigzag(ctr - base) + 2; then the actor index.
 */
export function writeOpId(w: ByteWriter, id: string, actors: ActorTable, base = 0): void {
  if (id === ROOT || id === HEAD) {
    w.uint(0);
    return;
  }
  const at = id.indexOf('@');
  const ctr = Number(id.slice(0, at));
  const delta = ctr - base;
  if (Math.abs(delta) < MAX_DELTA) w.uint((delta >= 0 ? delta * 2 : -delta * 2 - 1) + 2);
  else {
    w.uint(1);
    w.uint(ctr);
  }
  w.uint(actors.index(id.slice(at + 1)));
}

/** Reads an op id; a null id reads as `zero` (`root` or `_head`), or fails when that is not allowed. */
export function readOpId(r: ByteReader, actors: readonly string[], zero?: string, base = 0): OpIdStr {
  const k = r.uint();
  if (k === 0) {
    if (zero === undefined) throw new DecodeError('unexpected null op id');
    return zero;
  }
  let ctr: number;
  if (k === 1) ctr = r.uint();
  else {
    const z = k - 2;
    ctr = base + (z % 2 === 0 ? z / 2 : -(z + 1) / 2);
  }
  if (ctr < 1 || !Number.isSafeInteger(ctr)) throw new DecodeError('op counter out of range');
  const actor = actors[r.uint()];
  if (actor === undefined) throw new DecodeError('actor index out of range');
  return `${ctr}@${actor}`;
}

function ctrOf(id: string): number {
  return Number(id.slice(0, id.indexOf('@')));
}

/** Each id relative to the previous one: deleting a range lists consecutive ids, one byte each. */
function writeIds(w: ByteWriter, ids: readonly string[], actors: ActorTable, base: number): void {
  w.uint(ids.length);
  for (const id of ids) {
    writeOpId(w, id, actors, base);
    base = ctrOf(id);
  }
}

function readIds(r: ByteReader, actors: readonly string[], base: number): OpIdStr[] {
  const n = r.count(2);
  const out: OpIdStr[] = [];
  for (let i = 0; i < n; i++) {
    const id = readOpId(r, actors, undefined, base);
    out.push(id);
    base = ctrOf(id);
  }
  return out;
}

/** Writes sequence values: as one string when every value is one code point (text), else tagged. */
export function writeValues(w: ByteWriter, values: readonly Scalar[]): void {
  if (values.every(isCodePoint)) {
    w.u8(1);
    w.string(values.join(''));
  } else {
    w.u8(0);
    w.uint(values.length);
    for (const v of values) w.scalar(v);
  }
}

export function readValues(r: ByteReader): Scalar[] {
  const mode = r.u8();
  if (mode === 1) return Array.from(r.string());
  if (mode !== 0) throw new DecodeError('unknown values mode');
  const n = r.count();
  const out: Scalar[] = [];
  for (let i = 0; i < n; i++) out.push(r.scalar());
  return out;
}

/** The action code's bit for "same object as the previous op of the stream" (no id follows). */
const SAME_OBJ = 8;

function writeOp(w: ByteWriter, op: Op, actors: ActorTable, base: number, stream: ChangeStream): void {
  const same = op.obj === stream.obj;
  w.u8(ACTIONS.indexOf(op.action) | (same ? SAME_OBJ : 0));
  if (!same) writeOpId(w, op.obj, actors, base);
  stream.obj = op.obj;
  switch (op.action) {
    case 'set':
      w.string(op.key);
      w.scalar(op.value);
      writeIds(w, op.pred, actors, base);
      return;
    case 'make':
      w.string(op.key);
      w.u8(OBJ_TYPE_CODES.indexOf(op.type));
      writeIds(w, op.pred, actors, base);
      return;
    case 'del':
      w.string(op.key);
      writeIds(w, op.pred, actors, base);
      return;
    case 'ins':
      writeOpId(w, op.after, actors, base);
      writeValues(w, op.values);
      return;
    case 'rm':
      writeIds(w, op.elems, actors, base);
      return;
    case 'inc':
      w.number(op.by);
      return;
  }
}

function readOp(r: ByteReader, actors: readonly string[], base: number, stream: ChangeStream): Op {
  const code = r.u8();
  if (code & ~(SAME_OBJ | 7)) throw new DecodeError('unknown op code');
  const action = ACTIONS[code & 7];
  if (action === undefined) throw new DecodeError('unknown op action');
  const obj = code & SAME_OBJ ? stream.obj : readOpId(r, actors, ROOT, base);
  stream.obj = obj;
  switch (action) {
    case 'set':
      return { action, obj, key: r.string(), value: r.scalar(), pred: readIds(r, actors, base) };
    case 'make': {
      const key = r.string();
      const type = OBJ_TYPE_CODES[r.u8()];
      if (type === undefined) throw new DecodeError('unknown object type');
      return { action, obj, key, type, pred: readIds(r, actors, base) };
    }
    case 'del':
      return { action, obj, key: r.string(), pred: readIds(r, actors, base) };
    case 'ins':
      return { action, obj, after: readOpId(r, actors, HEAD, base), values: readValues(r) };
    case 'rm':
      return { action, obj, elems: readIds(r, actors, base) };
    case 'inc':
      return { action, obj, by: r.number() };
  }
}

/**
 * What a reader and writer of a stream of changes both track, so that the usual case costs
 * nothing: seq = the actor's previous + 1, startOp = one past the greatest op so far, deps = the
 * running clock, and time close to the previous change's.
 */
export class ChangeStream {
  readonly clock = new Map<string, number>();
  maxEnd = 1;
  time = 0;
  /** The object of the previous op. */
  obj: string = ROOT;

  constructor(base: VersionVector = {}) {
    for (const [a, n] of Object.entries(base)) this.clock.set(a, n);
  }

  depsImplied(deps: VersionVector): boolean {
    const keys = Object.keys(deps);
    if (keys.length !== this.clock.size) return false;
    for (const a of keys) if (deps[a] === 0 || this.clock.get(a) !== deps[a]) return false;
    return true;
  }

  advance(c: Change, end: number): void {
    this.clock.set(c.actor, c.seq);
    if (end > this.maxEnd) this.maxEnd = end;
    this.time = c.time;
  }
}

const F_SEQ = 1;
const F_START = 2;
const F_DEPS = 4;
const F_TIME = 8;

function timeDelta(time: number, prev: number): number | undefined {
  const d = time - prev;
  return Number.isSafeInteger(time) && !Object.is(time, -0) && Number.isSafeInteger(prev) && Math.abs(d) < MAX_DELTA ? d : undefined;
}

/** Appends one change (already validated) to `w`, relative to the stream so far. */
export function writeChange(w: ByteWriter, change: Change, actors: ActorTable, stream = new ChangeStream()): void {
  const { actor, seq, startOp, deps, time, ops } = change;
  w.uint(actors.index(actor));
  const dt = timeDelta(time, stream.time);
  let flags = 0;
  if (seq === (stream.clock.get(actor) ?? 0) + 1) flags |= F_SEQ;
  if (startOp === stream.maxEnd) flags |= F_START;
  if (stream.depsImplied(deps)) flags |= F_DEPS;
  if (dt !== undefined) flags |= F_TIME;
  w.u8(flags);
  if (!(flags & F_SEQ)) w.uint(seq);
  if (!(flags & F_START)) w.uint(startOp);
  if (!(flags & F_DEPS)) {
    const entries = Object.entries(deps);
    w.uint(entries.length);
    for (const [a, n] of entries) {
      w.uint(actors.index(a));
      w.uint(n);
    }
  }
  if (dt !== undefined) w.int(dt);
  else w.number(time);
  w.uint(ops.length);
  let end = startOp;
  for (const op of ops) {
    writeOp(w, op, actors, startOp, stream);
    end += opCounters(op);
  }
  stream.advance(change, end);
}

/** Reads one change and checks its structure; throws DecodeError on anything malformed. */
export function readChange(r: ByteReader, actors: readonly string[], stream = new ChangeStream()): Change {
  const actor = actors[r.uint()];
  if (actor === undefined) throw new DecodeError('actor index out of range');
  const flags = r.u8();
  if (flags > 15) throw new DecodeError('unknown change flags');
  const seq = flags & F_SEQ ? (stream.clock.get(actor) ?? 0) + 1 : r.uint();
  const startOp = flags & F_START ? stream.maxEnd : r.uint();
  const deps: Record<string, number> = {};
  if (flags & F_DEPS) for (const [a, n] of stream.clock) deps[a] = n;
  else {
    const nDeps = r.count(2);
    for (let i = 0; i < nDeps; i++) {
      const a = actors[r.uint()];
      if (a === undefined || a === '__proto__' || Object.hasOwn(deps, a)) throw new DecodeError('bad deps entry');
      deps[a] = r.uint();
    }
  }
  const time = flags & F_TIME ? stream.time + r.int() : r.number();
  const nOps = r.count(2);
  const ops: Op[] = [];
  for (let i = 0; i < nOps; i++) ops.push(readOp(r, actors, startOp, stream));
  const change = { actor, seq, startOp, deps, time, ops } as unknown as Change;
  const reason = checkChangeShape(change);
  if (reason !== undefined) throw new DecodeError(reason);
  stream.advance(
    change,
    ops.reduce((n, op) => n + opCounters(op), startOp),
  );
  return change;
}

/** Encodes one change on its own (self-contained actor table), e.g. for a store or a wire codec. */
export function encodeChange(change: Change): Uint8Array {
  const actors = new ActorTable();
  const body = new ByteWriter();
  writeChange(body, change, actors);
  const w = new ByteWriter();
  w.uint(actors.list.length);
  for (const a of actors.list) w.string(a);
  w.bytes(body.finish());
  return w.finish();
}

/** Decodes what `encodeChange` produced; throws DecodeError on malformed bytes. */
export function decodeChange(bytes: Uint8Array): Change {
  const r = new ByteReader(bytes);
  const n = r.count();
  const actors: string[] = [];
  for (let i = 0; i < n; i++) actors.push(r.string());
  const change = readChange(r, actors);
  if (r.remaining !== 0) throw new DecodeError('trailing bytes');
  return change;
}

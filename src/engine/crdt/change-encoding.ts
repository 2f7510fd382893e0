import type { ActorId } from '../../core/ids.ts';
import { invalid, malformed } from '../encoding/byte-io.ts';
import type { ByteReader, ByteWriter } from '../encoding/byte-io.ts';
import { actorAt } from './actor-table.ts';
import type { ActorTable } from './actor-table.ts';
import { isCodePoint } from './change-shape.ts';
import { HEAD, ROOT } from './types.ts';
import type { Change, ObjType, Op, OpIdStr, Scalar } from './types.ts';

/**
 * The one binary layout of changes and scalars, shared by wire payloads (many changes per message),
 * the stored change format (protocol/change-codec.ts) and CrdtDoc saves (doc-codec.ts: history,
 * object ids and values). Stable: stored changes and peers depend on it, and
 * test/unit/encoding-pinned-bytes.test.ts pins its bytes. Actor ids are written once per message
 * (or save) in an {@link ActorTable} and referenced by index, so a repeated actor costs one byte.
 *
 * Change: actor · seq · startOp · flags · [deps count − 31] · time · deps · ops. Flags bit 0 says
 * `deps` holds the actor's own previous seq (`seq − 1`, then left out of the list); bits 1–2 say how
 * `time` is written (0 / 1: a varint delta up / down from the previous change's time in the message,
 * which is 0 for the first, so a run of changes costs a byte or two of time each; 2: float64,
 * absolute); bits 3–7 hold the deps count (31 = 31 + a varint).
 * Op ids: an `obj` is `0` (root) or `actor+1, ctr`; other references (`after`, `pred`, `elems`) are
 * relative to the op's own counter, `actor·2 + direction, |delta|`, because they mostly point at
 * recent ops, so the delta stays small when counters grow large. `after` shifts that by one to
 * make room for `_head` = 0.
 * Callers validate values before writing and after reading; these functions only check what the
 * layout itself needs (indexes in range, references not negative, known tags).
 */

const ACTION = { set: 1, make: 2, del: 3, ins: 4, insText: 5, rm: 6, inc: 7 } as const;
/** Object types by their one-byte code. */
export const OBJ_TYPES: readonly ObjType[] = ['map', 'text', 'list', 'counter'];
/** The one-byte code of each object type. */
export const OBJ_TYPE_CODE: Readonly<Record<ObjType, number>> = { map: 0, text: 1, list: 2, counter: 3 };
const SCALAR = { null: 0, false: 1, true: 2, uint: 3, negInt: 4, float: 5, string: 6 } as const;
const FLAG_SELF_DEP = 1;
const TIME_SHIFT = 1;
const TIME_MASK = 0b110;
const TIME_UP = 0;
const TIME_DOWN = 1;
const TIME_FLOAT = 2;
const DEPS_SHIFT = 3;
/** A deps count of 31 or more is written as 31 in the flags byte plus a varint of the excess. */
const DEPS_INLINE_MAX = 31;

/**
 * State carried from one change to the next within a message or save: the previous change's time
 * (times are written as deltas) and, when reading, the previous op's object, so that the ops of a
 * long run on one object (typing) share one id string instead of each holding a copy.
 */
export interface ChangeRun {
  time: number;
  objCode: number;
  objCtr: number;
  obj: string;
}

/** A fresh run: the first change's time is a delta from 0, i.e. absolute. */
export function newChangeRun(): ChangeRun {
  return { time: 0, objCode: 0, objCtr: 0, obj: ROOT };
}

/** The counter part of a validated op id. */
function ctrOf(id: string, at: number): number {
  let ctr = 0;
  for (let i = 0; i < at; i++) ctr = ctr * 10 + (id.charCodeAt(i) - 0x30);
  return ctr;
}

/** An object id (or any op id, absolute): `0` for root, else `actor index + 1, ctr`. */
export function writeObjId(w: ByteWriter, t: ActorTable, obj: string): void {
  if (obj === ROOT) {
    w.varint(0);
    return;
  }
  const at = obj.indexOf('@');
  w.varint(t.indexOf(obj.slice(at + 1)) + 1);
  w.varint(ctrOf(obj, at));
}

/** Reads what {@link writeObjId} wrote; the counter is not checked (callers validate ids). */
export function readObjId(r: ByteReader, actors: readonly string[]): string {
  const a = r.varint();
  if (a === 0) return ROOT;
  const actor = actorAt(actors, a - 1);
  return `${r.varint()}@${actor}`;
}

/** A reference relative to counter `ctr`; `shift` is 1 where code 0 stands for `_head`. */
function writeRef(w: ByteWriter, t: ActorTable, id: string, ctr: number, shift: number): void {
  const at = id.indexOf('@');
  const ref = ctrOf(id, at);
  const actor = t.indexOf(id.slice(at + 1));
  if (ref <= ctr) {
    w.varint(actor * 2 + shift);
    w.varint(ctr - ref);
  } else {
    w.varint(actor * 2 + 1 + shift);
    w.varint(ref - ctr - 1);
  }
}

/** Reads the delta of a reference whose first varint (less any shift) was `code`. */
function refFromCode(r: ByteReader, actors: readonly string[], ctr: number, code: number): OpIdStr {
  const actor = actorAt(actors, Math.floor(code / 2));
  const delta = r.varint();
  const ref = code % 2 === 0 ? ctr - delta : ctr + delta + 1;
  if (ref < 0 || ref > Number.MAX_SAFE_INTEGER) throw invalid('op id counter is out of range');
  return `${ref}@${actor}`;
}

function writeRefs(w: ByteWriter, t: ActorTable, ids: readonly string[], ctr: number): void {
  w.varint(ids.length);
  for (const id of ids) writeRef(w, t, id, ctr, 0);
}

function readRefs(r: ByteReader, actors: readonly string[], ctr: number): OpIdStr[] {
  const n = r.count(2);
  const ids: OpIdStr[] = [];
  for (let i = 0; i < n; i++) ids.push(refFromCode(r, actors, ctr, r.varint()));
  return ids;
}

/** A finite number: tagged unsigned or negated varint when it is a safe integer, else float64. */
export function writeNumber(w: ByteWriter, v: number): void {
  if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
    if (v >= 0) {
      w.u8(SCALAR.uint);
      w.varint(v);
    } else {
      w.u8(SCALAR.negInt);
      w.varint(-v);
    }
  } else {
    w.u8(SCALAR.float);
    w.f64(v);
  }
}

/** A scalar: a tag byte, then the number or string. */
export function writeScalar(w: ByteWriter, v: Scalar): void {
  if (v === null) w.u8(SCALAR.null);
  else if (v === false) w.u8(SCALAR.false);
  else if (v === true) w.u8(SCALAR.true);
  else if (typeof v === 'number') writeNumber(w, v);
  else {
    w.u8(SCALAR.string);
    w.str(v);
  }
}

/** Reads a scalar; a float that is not finite is refused, as no valid value holds one. */
export function readScalar(r: ByteReader): Scalar {
  const tag = r.u8();
  switch (tag) {
    case SCALAR.null:
      return null;
    case SCALAR.false:
      return false;
    case SCALAR.true:
      return true;
    case SCALAR.uint:
      return r.varint();
    case SCALAR.negInt: {
      const n = r.varint();
      // Zero has its own encoding; a "negative zero integer" would be a second one.
      if (n === 0) throw invalid('negative integer tag with zero');
      return -n;
    }
    case SCALAR.float: {
      const v = r.f64();
      if (!Number.isFinite(v)) throw invalid('number is not finite');
      return v;
    }
    case SCALAR.string:
      return r.str();
    default:
      throw invalid(`unknown scalar tag ${tag}`);
  }
}

/** Reads a value written by {@link writeNumber}. */
export function readNumber(r: ByteReader): number {
  const v = readScalar(r);
  if (typeof v !== 'number') throw invalid('expected a number');
  return v;
}

/** Writes a validated change; `run` carries the previous change's time. */
export function writeChange(w: ByteWriter, t: ActorTable, c: Change, run: ChangeRun): void {
  const actor: string = c.actor;
  w.varint(t.indexOf(actor));
  w.varint(c.seq);
  w.varint(c.startOp);
  const deps = c.deps;
  const selfDep = deps[actor] === c.seq - 1;
  let depCount = 0;
  for (const key in deps) if (!selfDep || key !== actor) depCount++;
  const time = c.time;
  const delta = time - run.time;
  const timeKind =
    Number.isSafeInteger(time) && !Object.is(time, -0) && Number.isSafeInteger(delta) ? (delta >= 0 ? TIME_UP : TIME_DOWN) : TIME_FLOAT;
  w.u8((selfDep ? FLAG_SELF_DEP : 0) | (timeKind << TIME_SHIFT) | (Math.min(depCount, DEPS_INLINE_MAX) << DEPS_SHIFT));
  if (depCount >= DEPS_INLINE_MAX) w.varint(depCount - DEPS_INLINE_MAX);
  if (timeKind === TIME_UP) w.varint(delta);
  else if (timeKind === TIME_DOWN) w.varint(-delta);
  else w.f64(time);
  run.time = time;
  for (const key in deps) {
    if (selfDep && key === actor) continue;
    w.varint(t.indexOf(key));
    w.varint(deps[key] as number);
  }
  w.varint(c.ops.length);
  let ctr = c.startOp;
  for (const op of c.ops) ctr += writeOp(w, t, op, ctr);
}

/** Writes one op with counter `ctr`; returns how many counters it consumes. */
function writeOp(w: ByteWriter, t: ActorTable, op: Op, ctr: number): number {
  switch (op.action) {
    case 'set':
      w.u8(ACTION.set);
      writeObjId(w, t, op.obj);
      w.str(op.key);
      writeScalar(w, op.value);
      writeRefs(w, t, op.pred, ctr);
      return 1;
    case 'make':
      w.u8(ACTION.make);
      writeObjId(w, t, op.obj);
      w.str(op.key);
      w.u8(OBJ_TYPE_CODE[op.type]);
      writeRefs(w, t, op.pred, ctr);
      return 1;
    case 'del':
      w.u8(ACTION.del);
      writeObjId(w, t, op.obj);
      w.str(op.key);
      writeRefs(w, t, op.pred, ctr);
      return 1;
    case 'ins': {
      // A run of single code points (typing) is written as one string rather than tagged scalars.
      const text = op.values.every(isCodePoint);
      w.u8(text ? ACTION.insText : ACTION.ins);
      writeObjId(w, t, op.obj);
      if (op.after === HEAD) w.varint(0);
      else writeRef(w, t, op.after, ctr, 1);
      if (text) {
        w.str(op.values.join(''));
      } else {
        w.varint(op.values.length);
        for (const v of op.values) writeScalar(w, v);
      }
      return op.values.length;
    }
    case 'rm':
      w.u8(ACTION.rm);
      writeObjId(w, t, op.obj);
      writeRefs(w, t, op.elems, ctr);
      return 1;
    case 'inc':
      w.u8(ACTION.inc);
      writeObjId(w, t, op.obj);
      writeNumber(w, op.by);
      return 1;
  }
}

/** Reads a change; the caller validates it. */
export function readChange(r: ByteReader, actors: readonly string[], run: ChangeRun): Change {
  const actor = actorAt(actors, r.varint());
  const seq = r.varint();
  const startOp = r.varint();
  const flags = r.u8();
  let depCount = flags >> DEPS_SHIFT;
  if (depCount === DEPS_INLINE_MAX) depCount += r.varint();
  const timeKind = (flags & TIME_MASK) >> TIME_SHIFT;
  let time: number;
  if (timeKind === TIME_UP) time = run.time + r.varint();
  else if (timeKind === TIME_DOWN) {
    const down = r.varint();
    // A zero delta has its own encoding (TIME_UP); a second one would make bytes non-canonical.
    if (down === 0) throw invalid('negative time delta of zero');
    time = run.time - down;
  } else if (timeKind === TIME_FLOAT) time = r.f64();
  else throw invalid(`unknown time encoding ${timeKind}`);
  if (!Number.isFinite(time)) throw invalid('time is not finite');
  run.time = time;
  const deps: Record<string, number> = {};
  if ((flags & FLAG_SELF_DEP) !== 0) deps[actor] = seq - 1;
  if (depCount * 2 > r.remaining) throw malformed(`deps count ${depCount} exceeds the remaining payload`);
  for (let i = 0; i < depCount; i++) {
    const key = actorAt(actors, r.varint());
    if (Object.hasOwn(deps, key)) throw invalid(`deps repeats actor ${key}`);
    deps[key] = r.varint();
  }
  const n = r.count(2);
  const ops = new Array<Op>(n);
  let ctr = startOp;
  for (let i = 0; i < n; i++) {
    const op = readOp(r, actors, ctr, run);
    ops[i] = op;
    ctr += op.action === 'ins' ? op.values.length : 1;
  }
  return { actor: actor as ActorId, seq, startOp, deps, time, ops };
}

function readOp(r: ByteReader, actors: readonly string[], ctr: number, run: ChangeRun): Op {
  const action = r.u8();
  // readObjId, with the previous op's object reused.
  const objCode = r.varint();
  let obj: string = ROOT;
  if (objCode !== 0) {
    const objCtr = r.varint();
    if (objCode !== run.objCode || objCtr !== run.objCtr) {
      run.objCode = objCode;
      run.objCtr = objCtr;
      run.obj = `${objCtr}@${actorAt(actors, objCode - 1)}`;
    }
    obj = run.obj;
  }
  switch (action) {
    case ACTION.set: {
      const key = r.str();
      const value = readScalar(r);
      return { action: 'set', obj, key, value, pred: readRefs(r, actors, ctr) };
    }
    case ACTION.make: {
      const key = r.str();
      const code = r.u8();
      const type = OBJ_TYPES[code];
      if (type === undefined) throw invalid(`unknown object type ${code}`);
      return { action: 'make', obj, key, type, pred: readRefs(r, actors, ctr) };
    }
    case ACTION.del: {
      const key = r.str();
      return { action: 'del', obj, key, pred: readRefs(r, actors, ctr) };
    }
    case ACTION.ins:
    case ACTION.insText: {
      const code = r.varint();
      const after = code === 0 ? HEAD : refFromCode(r, actors, ctr, code - 1);
      // Exact-length arrays: pushing into [] reserves room for 17 values, and a document keeps
      // every decoded change (mostly one-character inserts) in its history.
      let values: Scalar[];
      if (action === ACTION.insText) {
        values = Array.from(r.str());
      } else {
        const n = r.count(1);
        values = new Array<Scalar>(n);
        for (let i = 0; i < n; i++) values[i] = readScalar(r);
      }
      return { action: 'ins', obj, after, values };
    }
    case ACTION.rm:
      return { action: 'rm', obj, elems: readRefs(r, actors, ctr) };
    case ACTION.inc:
      return { action: 'inc', obj, by: readNumber(r) };
    default:
      throw invalid(`unknown op action ${action}`);
  }
}

import { SyncPilotError } from '../../core/errors.ts';
import { isCodePoint } from './change-shape.ts';
import { formatOpId, type OpId } from './op-id.ts';
import { Sequence } from './sequence.ts';
import { HEAD, ROOT, type MapValue, type ObjId, type Op, type OpIdStr } from './types.ts';

/** One live value of a map field (a multi-value register keeps all concurrent ones). */
export interface FieldValue {
  readonly id: OpIdStr;
  readonly ctr: number;
  readonly actor: string;
  readonly value: MapValue;
}

/** A map: field → live values, sorted by op id descending (the winner first). Arrays are copy-on-write. */
export interface MapObj {
  readonly type: 'map';
  readonly fields: Map<string, readonly FieldValue[]>;
}
export interface SeqObj {
  readonly type: 'text' | 'list';
  readonly seq: Sequence;
}
export interface CounterObj {
  readonly type: 'counter';
  value: number;
}
export type ObjState = MapObj | SeqObj | CounterObj;

/** Every object of a document by id, reachable or not (ops may still target an overwritten object). */
export type ObjectTable = Map<ObjId, ObjState>;

/** Creates an empty object of a type. */
export function newObject(type: ObjState['type']): ObjState {
  switch (type) {
    case 'map':
      return { type, fields: new Map() };
    case 'text':
    case 'list':
      return { type, seq: new Sequence() };
    case 'counter':
      return { type, value: 0 };
  }
}

/** What applying one op needs besides the document. */
export interface OpContext {
  /**
   * Parses a referenced op id and checks that it lies in the causal past of the op being applied;
   * undefined when it does not (a remote change must not reference what its author had not seen,
   * or replicas lacking that op would reject what others accepted).
   */
  readonly inPast: (id: string) => OpId | undefined;
  /** Inverse actions, pushed as ops apply, run in reverse to roll back an uncommitted change. */
  readonly undo: (() => void)[];
  /** `obj\u0000key` of every map field written. */
  readonly touched: string[];
}

function invalid(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_CHANGE_INVALID', message);
}

function target(objects: ObjectTable, obj: ObjId, ctx: OpContext): ObjState {
  if (obj !== ROOT && ctx.inPast(obj) === undefined) throw invalid(`object ${obj} is not in the change's causal past`);
  const state = objects.get(obj);
  if (state === undefined) throw invalid(`unknown object ${obj}`);
  return state;
}

/** Inserts `v` into a field's values keeping op-id-descending order; returns a new array. */
function withValue(values: readonly FieldValue[], v: FieldValue): FieldValue[] {
  const out = values.slice();
  let i = 0;
  while (i < out.length) {
    const o = out[i] as FieldValue;
    if (o.ctr < v.ctr || (o.ctr === v.ctr && o.actor < v.actor)) break;
    i++;
  }
  out.splice(i, 0, v);
  return out;
}

/**
 * Applies one op (local or remote) whose id is `ctr@actor`. Validates everything the op refers
 * to before mutating, so an op either applies whole or throws SP_ERR_CHANGE_INVALID having
 * changed nothing; every mutation pushes its inverse onto `ctx.undo`.
 */
export function applyOp(objects: ObjectTable, op: Op, ctr: number, actor: string, ctx: OpContext): void {
  const obj = target(objects, op.obj, ctx);
  switch (op.action) {
    case 'set':
    case 'make':
    case 'del': {
      if (obj.type !== 'map') throw invalid(`${op.action} on ${op.obj}, which is a ${obj.type}`);
      for (const p of op.pred) if (ctx.inPast(p) === undefined) throw invalid(`pred ${p} is not in the change's causal past`);
      const id = formatOpId(ctr, actor);
      let value: MapValue | undefined;
      if (op.action === 'set') value = Object.freeze({ kind: 'scalar', value: op.value });
      else if (op.action === 'make') {
        if (objects.has(id)) throw invalid(`object ${id} already exists`);
        objects.set(id, newObject(op.type));
        ctx.undo.push(() => objects.delete(id));
        value = Object.freeze({ kind: 'object', id, type: op.type });
      }
      const fields = obj.fields;
      const prev = fields.get(op.key);
      let next: readonly FieldValue[] = prev === undefined ? [] : op.pred.length === 0 ? prev : prev.filter((v) => !op.pred.includes(v.id));
      if (value !== undefined) next = withValue(next, { id, ctr, actor, value });
      if (next.length > 0) fields.set(op.key, next);
      else fields.delete(op.key);
      ctx.undo.push(prev === undefined ? () => fields.delete(op.key) : () => fields.set(op.key, prev));
      ctx.touched.push(`${op.obj}\u0000${op.key}`);
      return;
    }
    case 'ins': {
      if (obj.type !== 'text' && obj.type !== 'list') throw invalid(`ins on ${op.obj}, which is a ${obj.type}`);
      let afterCtr = 0;
      let afterActor = '';
      if (op.after !== HEAD) {
        const ref = ctx.inPast(op.after);
        if (ref === undefined) throw invalid(`ins after ${op.after}, which is not in the change's causal past`);
        if (!obj.seq.has(ref.ctr, ref.actor)) throw invalid(`ins after ${op.after}, which is not an element of ${op.obj}`);
        afterCtr = ref.ctr;
        afterActor = ref.actor;
      }
      if (obj.type === 'text') {
        for (const v of op.values) if (!isCodePoint(v)) throw invalid(`text ${op.obj} takes one code point per element`);
      }
      const seq = obj.seq;
      seq.insertAfter(afterCtr, afterActor, ctr, actor, op.values);
      const n = op.values.length;
      ctx.undo.push(() => seq.remove(ctr, actor, n));
      return;
    }
    case 'rm': {
      if (obj.type !== 'text' && obj.type !== 'list') throw invalid(`rm on ${op.obj}, which is a ${obj.type}`);
      const seq = obj.seq;
      const refs: OpId[] = [];
      for (const e of op.elems) {
        const ref = ctx.inPast(e);
        if (ref === undefined) throw invalid(`rm of ${e}, which is not in the change's causal past`);
        if (!seq.has(ref.ctr, ref.actor)) throw invalid(`rm of ${e}, which is not an element of ${op.obj}`);
        refs.push(ref);
      }
      const removed: OpId[] = [];
      for (const ref of refs) if (seq.tombstone(ref.ctr, ref.actor)) removed.push(ref);
      if (removed.length > 0) ctx.undo.push(() => removed.forEach((r) => seq.restore(r.ctr, r.actor)));
      return;
    }
    case 'inc': {
      if (obj.type !== 'counter') throw invalid(`inc on ${op.obj}, which is a ${obj.type}`);
      obj.value += op.by;
      ctx.undo.push(() => {
        obj.value -= op.by;
      });
      return;
    }
  }
}

/** Runs an undo log backwards. */
export function rollback(undo: readonly (() => void)[]): void {
  for (let i = undo.length - 1; i >= 0; i--) undo[i]?.();
}

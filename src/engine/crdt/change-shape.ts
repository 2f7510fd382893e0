import { isValidId } from '../../core/ids.ts';
import { isOpId } from './op-id.ts';
import { vvGet } from './version-vector.ts';
import { HEAD, ROOT, type Op, type Scalar } from './types.ts';

const OBJ_TYPES: ReadonlySet<string> = new Set(['map', 'text', 'list', 'counter']);
const CHANGE_KEYS: ReadonlySet<string> = new Set(['actor', 'seq', 'startOp', 'deps', 'time', 'ops']);
const OP_KEYS: Readonly<Record<Op['action'], ReadonlySet<string>>> = {
  set: new Set(['action', 'obj', 'key', 'value', 'pred']),
  make: new Set(['action', 'obj', 'key', 'type', 'pred']),
  del: new Set(['action', 'obj', 'key', 'pred']),
  ins: new Set(['action', 'obj', 'after', 'values']),
  rm: new Set(['action', 'obj', 'elems']),
  inc: new Set(['action', 'obj', 'by']),
};

/** How many op counters an op consumes: one per inserted element for `ins`, else one. */
export function opCounters(op: Op): number {
  return op.action === 'ins' ? op.values.length : 1;
}

/**
 * True if the string has no unpaired surrogate. Such strings cannot round-trip through UTF-8
 * (the wire and the saved state), so replicas would diverge; they are rejected up front.
 */
export function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c > 0xdbff) return false;
    const d = s.charCodeAt(i + 1);
    if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
    i++;
  }
  return true;
}

/** True if `s` is exactly one Unicode code point (one text element). */
export function isCodePoint(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  if (s.length === 1) {
    const c = s.charCodeAt(0);
    return c < 0xd800 || c > 0xdfff;
  }
  if (s.length !== 2) return false;
  const hi = s.charCodeAt(0);
  const lo = s.charCodeAt(1);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff;
}

/** A storable scalar: JSON-representable (finite numbers, well-formed strings). */
export function isScalar(v: unknown): v is Scalar {
  switch (typeof v) {
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'string':
      return isWellFormed(v);
    case 'object':
      return v === null;
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      return false;
  }
}

/**
 * A usable actor id: a valid id other than `__proto__`, which cannot be a plain-object key of a
 * version vector (assigning it would set the prototype instead).
 */
export function isActorId(actor: string): boolean {
  return isValidId(actor) && actor !== '__proto__';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function extraKey(o: Record<string, unknown>, allowed: ReadonlySet<string>): string | undefined {
  for (const k of Object.keys(o)) if (!allowed.has(k)) return k;
  return undefined;
}

function idList(v: unknown, nonEmpty: boolean): string | undefined {
  if (!Array.isArray(v)) return 'is not an array';
  if (nonEmpty && v.length === 0) return 'is empty';
  for (const id of v) if (typeof id !== 'string' || !isOpId(id)) return `holds a malformed op id ${JSON.stringify(id)}`;
  return undefined;
}

function checkOp(op: unknown): string | undefined {
  if (!isRecord(op)) return 'is not an object';
  const action = op['action'];
  if (typeof action !== 'string' || !Object.hasOwn(OP_KEYS, action)) return `has an unknown action ${JSON.stringify(action)}`;
  const extra = extraKey(op, OP_KEYS[action as Op['action']]);
  if (extra !== undefined) return `has an unknown field ${JSON.stringify(extra)}`;
  const obj = op['obj'];
  if (typeof obj !== 'string' || (obj !== ROOT && !isOpId(obj))) return 'has a malformed obj';
  switch (action) {
    case 'set':
    case 'make':
    case 'del': {
      const key = op['key'];
      if (typeof key !== 'string' || !isWellFormed(key)) return 'has a malformed key';
      if (action === 'set' && !isScalar(op['value'])) return 'has a value that is not a scalar';
      if (action === 'make' && !OBJ_TYPES.has(op['type'] as string)) return 'has an unknown object type';
      const pred = idList(op['pred'], action === 'del');
      return pred === undefined ? undefined : `pred ${pred}`;
    }
    case 'ins': {
      const after = op['after'];
      if (typeof after !== 'string' || (after !== HEAD && !isOpId(after))) return 'has a malformed after';
      const values = op['values'];
      if (!Array.isArray(values) || values.length === 0) return 'has no values';
      for (const v of values) if (!isScalar(v)) return 'has a value that is not a scalar';
      return undefined;
    }
    case 'rm': {
      const elems = idList(op['elems'], true);
      return elems === undefined ? undefined : `elems ${elems}`;
    }
    case 'inc':
      // Integers only: float addition is not associative, so replicas summing in different orders would diverge.
      return Number.isSafeInteger(op['by']) ? undefined : 'has a by that is not a safe integer';
    default:
      return `has an unknown action ${JSON.stringify(action)}`;
  }
}

/**
 * Checks the structure of a change without looking at any document: field types, id formats,
 * `deps` holding the actor's own previous seq, and op counters within the safe-integer range.
 * Returns a reason when the change is malformed, else undefined.
 */
export function checkChangeShape(change: unknown): string | undefined {
  if (!isRecord(change)) return 'change is not an object';
  const extra = extraKey(change, CHANGE_KEYS);
  if (extra !== undefined) return `change has an unknown field ${JSON.stringify(extra)}`;
  const { actor, seq, startOp, deps, time, ops } = change;
  if (typeof actor !== 'string' || !isActorId(actor)) return 'change has a malformed actor';
  if (!isCount(seq, 1)) return 'change seq is not a positive integer';
  if (!isCount(startOp, 1)) return 'change startOp is not a positive integer';
  if (typeof time !== 'number' || !Number.isFinite(time)) return 'change time is not a finite number';
  if (!isRecord(deps)) return 'change deps is not an object';
  for (const [a, n] of Object.entries(deps)) {
    if (!isActorId(a) || !isCount(n, 0)) return `change deps has a malformed entry for ${JSON.stringify(a)}`;
  }
  const own = vvGet(deps as Record<string, number>, actor);
  if (own !== seq - 1) return `change deps[${actor}] is ${String(own)}, expected seq - 1 = ${seq - 1}`;
  if (!Array.isArray(ops)) return 'change ops is not an array';
  let counters = 0;
  for (let i = 0; i < ops.length; i++) {
    const reason = checkOp(ops[i]);
    if (reason !== undefined) return `op ${i} ${reason}`;
    counters += opCounters(ops[i] as Op);
  }
  if (!Number.isSafeInteger(startOp + counters)) return 'change op counters overflow';
  return undefined;
}

import { SyncPilotError } from '../../core/errors.ts';
import { applyOp, rollback, type MapObj, type ObjectTable, type OpContext, type SeqObj } from './apply-op.ts';
import { isScalar, isWellFormed, opCounters } from './change-shape.ts';
import { formatOpId, parseOpId } from './op-id.ts';
import { HEAD, type ObjId, type ObjType, type Op, type OpIdStr, type Scalar } from './types.ts';

/**
 * The writer handed to `CrdtDoc.change`. Every call applies at once (reads on the document see
 * it); a call that is invalid throws SP_ERR_CHANGE_INVALID and the whole change is rolled back.
 */
export interface Transaction {
  /** Writes a scalar; `pred` is every current sibling, so this also resolves a conflict. */
  set(obj: ObjId, key: string, value: Scalar): void;
  /** Removes a field (all its siblings); a no-op when the field is absent. */
  del(obj: ObjId, key: string): void;
  makeMap(obj: ObjId, key: string): ObjId;
  makeText(obj: ObjId, key: string): ObjId;
  makeList(obj: ObjId, key: string): ObjId;
  makeCounter(obj: ObjId, key: string): ObjId;
  /** Inserts at a visible position counted in Unicode code points; one element per code point. */
  insertText(obj: ObjId, pos: number, text: string): void;
  deleteText(obj: ObjId, pos: number, count: number): void;
  /** Inserts scalars into a list at a visible index. */
  insert(obj: ObjId, index: number, ...values: Scalar[]): void;
  /** Deletes `count` (default 1) visible elements of a list or text. */
  delete(obj: ObjId, index: number, count?: number): void;
  /** Adds a safe integer to a counter. */
  increment(obj: ObjId, by: number): void;
}

type MutableIns = { action: 'ins'; obj: ObjId; after: OpIdStr; values: Scalar[] };
type MutableRm = { action: 'rm'; obj: ObjId; elems: OpIdStr[] };

function invalid(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_CHANGE_INVALID', message);
}

/** The implementation behind `CrdtDoc.change`; the document commits or rolls it back. */
export class LocalTransaction implements Transaction {
  readonly ops: Op[] = [];
  /** The counter the next op will take; after the transaction, one past the change's last op. */
  nextCtr: number;
  private readonly ctx: OpContext = { inPast: parseOpId, undo: [], touched: [] };
  private closed = false;

  constructor(
    private readonly objects: ObjectTable,
    private readonly actor: string,
    startOp: number,
  ) {
    this.nextCtr = startOp;
  }

  set(obj: ObjId, key: string, value: Scalar): void {
    const map = this.map(obj, key);
    if (!isScalar(value)) throw invalid('value must be null, a boolean, a finite number or a well-formed string');
    this.emit({ action: 'set', obj, key, value, pred: this.siblings(map, key) });
  }

  del(obj: ObjId, key: string): void {
    const pred = this.siblings(this.map(obj, key), key);
    if (pred.length > 0) this.emit({ action: 'del', obj, key, pred });
  }

  makeMap(obj: ObjId, key: string): ObjId {
    return this.make(obj, key, 'map');
  }
  makeText(obj: ObjId, key: string): ObjId {
    return this.make(obj, key, 'text');
  }
  makeList(obj: ObjId, key: string): ObjId {
    return this.make(obj, key, 'list');
  }
  makeCounter(obj: ObjId, key: string): ObjId {
    return this.make(obj, key, 'counter');
  }

  insertText(obj: ObjId, pos: number, text: string): void {
    const seq = this.seq(obj, 'text');
    if (typeof text !== 'string' || !isWellFormed(text)) throw invalid('text must be a well-formed string');
    this.insertValues(seq, obj, pos, Array.from(text));
  }

  deleteText(obj: ObjId, pos: number, count: number): void {
    this.deleteValues(this.seq(obj, 'text'), obj, pos, count);
  }

  insert(obj: ObjId, index: number, ...values: Scalar[]): void {
    const seq = this.seq(obj, 'list');
    for (const v of values) if (!isScalar(v)) throw invalid('list values must be scalars');
    this.insertValues(seq, obj, index, values);
  }

  delete(obj: ObjId, index: number, count = 1): void {
    this.deleteValues(this.seq(obj), obj, index, count);
  }

  increment(obj: ObjId, by: number): void {
    this.open();
    if (this.objects.get(obj)?.type !== 'counter') throw invalid(`${obj} is not a counter`);
    if (!Number.isSafeInteger(by)) throw invalid('increment must be a safe integer');
    this.emit({ action: 'inc', obj, by });
  }

  /** Undoes everything this transaction applied. */
  rollback(): void {
    rollback(this.ctx.undo);
    this.ctx.undo.length = 0;
  }

  /** Makes further calls throw: a transaction must not outlive its `change` callback. */
  close(): void {
    this.closed = true;
  }

  private open(): void {
    if (this.closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the transaction was used after its change() returned');
  }

  private map(obj: ObjId, key: string): MapObj {
    this.open();
    const state = this.objects.get(obj);
    if (state?.type !== 'map') throw invalid(`${obj} is not a map`);
    if (typeof key !== 'string' || !isWellFormed(key)) throw invalid('key must be a well-formed string');
    return state;
  }

  private seq(obj: ObjId, type?: 'text' | 'list'): SeqObj {
    this.open();
    const state = this.objects.get(obj);
    if (state === undefined || (state.type !== 'text' && state.type !== 'list') || (type !== undefined && state.type !== type)) {
      throw invalid(`${obj} is not a ${type ?? 'text or list'}`);
    }
    return state;
  }

  private siblings(map: MapObj, key: string): OpIdStr[] {
    return (map.fields.get(key) ?? []).map((v) => v.id);
  }

  private make(obj: ObjId, key: string, type: ObjType): ObjId {
    const map = this.map(obj, key);
    const id = formatOpId(this.nextCtr, this.actor);
    this.emit({ action: 'make', obj, key, type, pred: this.siblings(map, key) });
    return id;
  }

  private checkRange(seq: SeqObj, pos: number, count: number): void {
    if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(count) || pos < 0 || count < 0 || pos + count > seq.seq.length) {
      throw invalid(`range ${String(pos)}+${String(count)} is outside 0..${seq.seq.length}`);
    }
  }

  private insertValues(seq: SeqObj, obj: ObjId, pos: number, values: Scalar[]): void {
    this.checkRange(seq, pos, 0);
    if (values.length === 0) return;
    const after = pos === 0 ? HEAD : seq.seq.idAt(pos - 1);
    const last = this.ops[this.ops.length - 1];
    // Typing extends the previous run: same object, right after its last element, nothing between.
    if (last?.action === 'ins' && last.obj === obj && formatOpId(this.nextCtr - 1, this.actor) === after) {
      this.apply({ action: 'ins', obj, after, values });
      const run = (last as MutableIns).values;
      for (const v of values) run.push(v);
      this.nextCtr += values.length;
      return;
    }
    const op: MutableIns = { action: 'ins', obj, after, values: values.slice() };
    this.emit(op);
  }

  private deleteValues(seq: SeqObj, obj: ObjId, pos: number, count: number): void {
    this.checkRange(seq, pos, count);
    if (count === 0) return;
    const elems = seq.seq.visibleIds(pos, count);
    const last = this.ops[this.ops.length - 1];
    if (last?.action === 'rm' && last.obj === obj) {
      this.apply({ action: 'rm', obj, elems });
      const all = (last as MutableRm).elems;
      for (const e of elems) all.push(e);
      return;
    }
    this.emit({ action: 'rm', obj, elems });
  }

  private apply(op: Op): void {
    applyOp(this.objects, op, this.nextCtr, this.actor, this.ctx);
  }

  private emit(op: Op): void {
    this.apply(op);
    this.ops.push(op);
    this.nextCtr += opCounters(op);
  }
}

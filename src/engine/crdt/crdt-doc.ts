import { SyncPilotError, type ErrorCode } from '../../core/errors.ts';
import type { ActorId } from '../../core/ids.ts';
import { applyOp, newObject, rollback, type OpContext } from './apply-op.ts';
import { CausalBuffer } from './causal-buffer.ts';
import { checkChangeShape, isActorId, opCounters } from './change-shape.ts';
import { decodeDoc, encodeDoc } from './doc-codec.ts';
import { parseOpId } from './op-id.ts';
import { OpRanges } from './op-ranges.ts';
import { DocReader } from './doc-reader.ts';
import { LocalTransaction, type Transaction } from './transaction.ts';
import { ROOT, type ApplyResult, type Change, type ConflictNotice, type Op, type VersionVector } from './types.ts';
import { vvCovers, vvGet } from './version-vector.ts';

export type { Transaction } from './transaction.ts';

/** Options of a CrdtDoc. */
export interface CrdtDocOptions {
  /** Most changes held while waiting for causal dependencies (default 10 000). */
  readonly maxPending?: number;
  /** Keep applied changes so `changesSince` can serve them (default true). */
  readonly keepHistory?: boolean;
}

/** A change that `applyChanges` refused, as reported in an error's `details.rejected`. */
export interface RejectedChange {
  readonly actor: unknown;
  readonly seq: unknown;
  readonly code: ErrorCode;
  readonly reason: string;
}

function freezeChange(c: Change): Change {
  for (const op of c.ops) {
    if (op.action === 'ins') Object.freeze(op.values);
    else if (op.action === 'rm') Object.freeze(op.elems);
    else if (op.action !== 'inc') Object.freeze(op.pred);
    Object.freeze(op);
  }
  Object.freeze(c.ops);
  Object.freeze(c.deps);
  return Object.freeze(c);
}

/**
 * The reference engine's document: a tree of maps (multi-value registers), RGA text and lists,
 * and counters, rooted at `root`. Local edits go through `change`; remote changes through
 * `applyChanges`, in any order. Replicas that have applied the same changes have equal state.
 */
export class CrdtDoc extends DocReader {
  readonly actor: ActorId;
  private ranges = new OpRanges();
  private maxOpCtr = 0;
  private history: Change[] | undefined;
  private historyBase: VersionVector = {};
  private buffer = new CausalBuffer();
  private readonly maxPending: number;
  private busy = false;

  /** @throws SP_ERR_CONFIG_INVALID for an unusable actor id or option. */
  constructor(actor: ActorId, options: CrdtDocOptions = {}) {
    super(new Map([[ROOT, newObject('map')]]));
    if (typeof actor !== 'string' || !isActorId(actor))
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid actor id ${JSON.stringify(actor)}`);
    const maxPending = options.maxPending ?? 10_000;
    if (!Number.isSafeInteger(maxPending) || maxPending < 0)
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'maxPending must be a non-negative integer');
    this.actor = actor;
    this.maxPending = maxPending;
    this.history = options.keepHistory === false ? undefined : [];
  }

  /**
   * Restores a document from `save()` bytes, as replica `actor` (which may differ from the saver).
   * With `keepHistory` false any saved history is dropped; with it true but no history saved,
   * `changesSince` can serve only changes made after the snapshot.
   * @throws SP_ERR_STORE_CORRUPT when the bytes are damaged or inconsistent.
   */
  static load(actor: ActorId, state: Uint8Array, options: CrdtDocOptions = {}): CrdtDoc {
    const doc = new CrdtDoc(actor, options);
    let decoded;
    try {
      decoded = decodeDoc(state);
    } catch (err) {
      // Damage can surface as any layout error (malformed bytes, an invalid change); to a caller
      // loading saved state they all mean the same thing.
      const message = err instanceof SyncPilotError ? err.message : 'undecodable state';
      throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `saved document is corrupt: ${message}`, { cause: err });
    }
    doc.objects = decoded.objects;
    doc.ranges = decoded.ranges;
    doc.maxOpCtr = decoded.maxOp;
    if (doc.history !== undefined) {
      if (decoded.history !== undefined) {
        doc.history = decoded.history.map(freezeChange);
        doc.historyBase = decoded.historyBase;
      } else doc.historyBase = doc.clock();
    }
    return doc;
  }

  /** The version vector of applied changes (a fresh object). */
  clock(): VersionVector {
    const out: Record<string, number> = {};
    for (const [actor, r] of this.ranges.entries()) out[actor] = r.starts.length;
    return out;
  }

  /** The greatest op counter applied so far; the next local change starts at maxOp() + 1. */
  maxOp(): number {
    return this.maxOpCtr;
  }

  /**
   * Runs `fn` as one local change. Each transaction call applies at once, so reads on this
   * document inside `fn` see them. If `fn` throws (a bad call throws SP_ERR_CHANGE_INVALID), the
   * document is rolled back and the error rethrown. Returns the frozen change, or undefined if
   * `fn` made no ops.
   * @param time milliseconds since the epoch recorded in the change (default `Date.now()`).
   */
  change(fn: (tx: Transaction) => void, time?: number): Change | undefined {
    if (time !== undefined && !Number.isFinite(time)) throw new SyncPilotError('SP_ERR_CHANGE_INVALID', 'time must be a finite number');
    this.enter();
    const startOp = this.maxOpCtr + 1;
    const tx = new LocalTransaction(this.objects, this.actor, startOp);
    try {
      fn(tx);
    } catch (err) {
      tx.rollback();
      throw err;
    } finally {
      tx.close();
      this.busy = false;
    }
    if (tx.ops.length === 0) return undefined;
    const ops: Op[] = tx.ops;
    const change = freezeChange({
      actor: this.actor,
      seq: this.ranges.count(this.actor) + 1,
      startOp,
      deps: this.clock(),
      time: time ?? Date.now(),
      ops,
    });
    this.commit(change, tx.nextCtr);
    return change;
  }

  /**
   * Applies remote changes in any order. A change whose dependencies are missing waits in a
   * buffer and applies as soon as they arrive; one already applied or buffered counts as a
   * duplicate. Each change applies atomically after validation.
   *
   * Errors are raised after every acceptable change of the call has been applied, so one bad
   * change never blocks the others; the error's `details` then carries the full ApplyResult
   * (`applied`, `duplicates`, `pending`, `conflicts`) plus `rejected: RejectedChange[]`.
   * @throws SP_ERR_CHANGE_INVALID when some change is malformed or refers to what its author could not have seen.
   * @throws SP_ERR_CHANGE_CONFLICT when a change reuses an applied (actor, seq) with a different startOp or op count.
   * @throws SP_ERR_CAUSAL_BUFFER_FULL (retryable) when more than `maxPending` changes would wait; the
   *   newest ones of this call are dropped (`details.dropped`) and should be sent again later.
   */
  applyChanges(changes: readonly Change[]): ApplyResult {
    this.enter();
    const applied: Change[] = [];
    const rejected: RejectedChange[] = [];
    const added: Change[] = [];
    const touched = new Set<string>();
    let duplicates = 0;
    try {
      for (const change of changes) {
        const reason = checkChangeShape(change);
        if (reason !== undefined) {
          const c = change as unknown as Record<string, unknown> | null;
          rejected.push({ actor: c?.['actor'], seq: c?.['seq'], code: 'SP_ERR_CHANGE_INVALID', reason });
          continue;
        }
        const buffered = this.buffer.get(change.actor, change.seq);
        if (change.seq <= this.ranges.count(change.actor) || buffered !== undefined) {
          if (!this.sameChange(change, buffered)) {
            rejected.push({
              actor: change.actor,
              seq: change.seq,
              code: 'SP_ERR_CHANGE_CONFLICT',
              reason: 'differs from the change already received',
            });
          } else duplicates++;
          continue;
        }
        const missing = this.missingDep(change);
        if (missing !== undefined) {
          this.buffer.add(change, missing[0], missing[1]);
          added.push(change);
        } else this.drain(change, applied, rejected, touched);
      }
    } finally {
      this.busy = false;
    }
    let dropped = 0;
    for (let i = added.length - 1; i >= 0 && this.buffer.size > this.maxPending; i--) {
      const c = added[i] as Change;
      if (this.buffer.get(c.actor, c.seq) === c) {
        this.buffer.delete(c);
        dropped++;
      }
    }
    const result: ApplyResult = { applied, duplicates, pending: this.buffer.size, conflicts: this.conflictsOf(touched) };
    if (rejected.length > 0) {
      const code = rejected.some((r) => r.code === 'SP_ERR_CHANGE_INVALID') ? 'SP_ERR_CHANGE_INVALID' : 'SP_ERR_CHANGE_CONFLICT';
      const first = rejected[0] as RejectedChange;
      throw new SyncPilotError(
        code,
        `${rejected.length} change(s) rejected; first (${String(first.actor)}, ${String(first.seq)}): ${first.reason}`,
        {
          details: { ...result, rejected, dropped },
        },
      );
    }
    if (dropped > 0) {
      throw new SyncPilotError(
        'SP_ERR_CAUSAL_BUFFER_FULL',
        `${dropped} change(s) dropped: more than ${this.maxPending} would wait for dependencies`,
        {
          retryable: true,
          details: { ...result, dropped },
        },
      );
    }
    return result;
  }

  /** True if change `seq` of `actor` has been applied (not merely buffered). */
  hasChange(actor: string, seq: number): boolean {
    return seq >= 1 && seq <= this.ranges.count(actor);
  }

  /**
   * Applied changes not covered by `since`, in causal (application) order.
   * @throws SP_ERR_INTERNAL when history is not kept, or `since` predates the snapshot this document was loaded from.
   */
  changesSince(since: VersionVector): Change[] {
    if (this.history === undefined) throw new SyncPilotError('SP_ERR_INTERNAL', 'changesSince needs keepHistory');
    if (!vvCovers(since, this.historyBase))
      throw new SyncPilotError('SP_ERR_INTERNAL', 'history before the loaded snapshot is not available');
    return this.history.filter((c) => c.seq > vvGet(since, c.actor));
  }

  /** Number of changes waiting for causal dependencies. */
  pendingCount(): number {
    return this.buffer.size;
  }

  /**
   * Encodes the applied state: objects with their tombstones, clock, op ranges and history (if
   * kept). Changes still waiting in the causal buffer are not saved: they were never applied nor
   * acknowledged, so their senders still hold them and send them again.
   */
  save(): Uint8Array {
    return encodeDoc({
      objects: this.objects,
      ranges: this.ranges,
      maxOp: this.maxOpCtr,
      history: this.history,
      historyBase: this.historyBase,
    });
  }

  private enter(): void {
    if (this.busy) throw new SyncPilotError('SP_ERR_INTERNAL', 'change() and applyChanges() must not be called from inside change()');
    this.busy = true;
  }

  /** Same (actor, seq) seen before: equal if startOp and op count agree (a cheap guard against reuse). */
  private sameChange(change: Change, buffered: Change | undefined): boolean {
    if (buffered !== undefined) return buffered.startOp === change.startOp && buffered.ops.length === change.ops.length;
    if (this.ranges.start(change.actor, change.seq) !== change.startOp) return false;
    const counters = change.ops.reduce((n, op) => n + opCounters(op), 0);
    return this.ranges.end(change.actor, change.seq) === change.startOp + counters;
  }

  /** The first dependency `[actor, seq]` of `change` not yet applied, or undefined if it is ready. */
  private missingDep(change: Change): [string, number] | undefined {
    for (const actor of Object.keys(change.deps)) {
      const need = vvGet(change.deps, actor);
      if (this.ranges.count(actor) < need) return [actor, need];
    }
    return undefined;
  }

  /** Applies a ready change, then every buffered change it makes ready, transitively. */
  private drain(first: Change, applied: Change[], rejected: RejectedChange[], touched: Set<string>): void {
    const queue = [first];
    for (let c = queue.pop(); c !== undefined; c = queue.pop()) {
      try {
        this.applyRemote(c, touched);
      } catch (err) {
        if (!(err instanceof SyncPilotError) || err.code !== 'SP_ERR_CHANGE_INVALID') throw err;
        rejected.push({ actor: c.actor, seq: c.seq, code: err.code, reason: err.message });
        continue;
      }
      applied.push(c);
      for (const w of this.buffer.takeWaiters(c.actor, c.seq)) {
        if (this.buffer.get(w.actor, w.seq) !== w) continue;
        const missing = this.missingDep(w);
        if (missing !== undefined) this.buffer.wait(w, missing[0], missing[1]);
        else {
          this.buffer.delete(w);
          queue.push(w);
        }
      }
    }
  }

  private applyRemote(change: Change, touched: Set<string>): void {
    const { actor, startOp, deps } = change;
    // Lamport rule: the change's ops come after every op of its causal past (its own earlier ones
    // included); this is what keeps RGA ordering and op-id uniqueness sound.
    for (const a of Object.keys(deps)) {
      const n = vvGet(deps, a);
      if (n > 0 && startOp < this.ranges.end(a, n)) {
        throw new SyncPilotError('SP_ERR_CHANGE_INVALID', `startOp ${startOp} does not exceed the ops of its dependency ${a}:${n}`);
      }
    }
    let ctr = startOp;
    const ranges = this.ranges;
    const ctx: OpContext = {
      inPast: (id) => {
        const p = parseOpId(id);
        if (p === undefined) return undefined;
        if (p.actor === actor && p.ctr >= startOp) return p.ctr < ctr ? p : undefined;
        const seq = ranges.seqOf(p.actor, p.ctr);
        return seq > 0 && seq <= vvGet(deps, p.actor) ? p : undefined;
      },
      undo: [],
      touched: [],
    };
    try {
      for (const op of change.ops) {
        applyOp(this.objects, op, ctr, actor, ctx);
        ctr += opCounters(op);
      }
    } catch (err) {
      rollback(ctx.undo);
      throw err;
    }
    this.commit(change, ctr);
    for (const t of ctx.touched) touched.add(t);
  }

  private commit(change: Change, end: number): void {
    this.ranges.add(change.actor, change.seq, change.startOp, end);
    if (end - 1 > this.maxOpCtr) this.maxOpCtr = end - 1;
    this.history?.push(change);
  }

  private conflictsOf(touched: Set<string>): ConflictNotice[] {
    const out: ConflictNotice[] = [];
    for (const t of touched) {
      const cut = t.indexOf('\u0000');
      const obj = t.slice(0, cut);
      const key = t.slice(cut + 1);
      const siblings = this.getConflicts(obj, key);
      if (siblings.length > 1) out.push({ obj, key, siblings: siblings.map((s) => s.id), values: siblings.map((s) => s.value) });
    }
    return out;
  }
}

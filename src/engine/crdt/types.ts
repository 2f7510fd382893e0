import type { ActorId } from '../../core/ids.ts';

/**
 * The reference engine's change model. A document is a tree of objects (maps, text, lists,
 * counters) rooted at `root`. Every op has an id `ctr@actor`; `ctr` is a Lamport counter, so ids
 * are totally ordered (ctr, then actor) and every replica breaks ties the same way.
 */

/** `"<ctr>@<actor>"`: the id of one op (and of the object or element that op created). */
export type OpIdStr = string;
/** The id of an object: `root`, or the id of the `make` op that created it. */
export type ObjId = OpIdStr;
export const ROOT: ObjId = 'root';
/** The position before the first element of a sequence. */
export const HEAD = '_head';

export type ObjType = 'map' | 'text' | 'list' | 'counter';
export type Scalar = null | boolean | number | string;

/** Version vector: for each actor, the highest change seq included. Absent means 0. */
export type VersionVector = Readonly<Record<string, number>>;

export type Op =
  /** Write a scalar into a map field; `pred` lists the sibling op ids this write supersedes. */
  | { readonly action: 'set'; readonly obj: ObjId; readonly key: string; readonly value: Scalar; readonly pred: readonly OpIdStr[] }
  /** Create a nested object in a map field (its id is this op's id). */
  | { readonly action: 'make'; readonly obj: ObjId; readonly key: string; readonly type: ObjType; readonly pred: readonly OpIdStr[] }
  /** Remove a map field's values that this replica has seen. */
  | { readonly action: 'del'; readonly obj: ObjId; readonly key: string; readonly pred: readonly OpIdStr[] }
  /**
   * Insert a run of elements after `after` (an element id or HEAD) into a text or list object.
   * The run consumes `values.length` counters: element i has id `(opCtr + i)@actor` and is
   * inserted after element i-1. In text, each value is one Unicode code point.
   */
  | { readonly action: 'ins'; readonly obj: ObjId; readonly after: OpIdStr; readonly values: readonly Scalar[] }
  /** Tombstone elements of a text or list object. */
  | { readonly action: 'rm'; readonly obj: ObjId; readonly elems: readonly OpIdStr[] }
  /** Add to a counter object. */
  | { readonly action: 'inc'; readonly obj: ObjId; readonly by: number };

/**
 * One atomic, causally ordered unit of ops by one actor. `seq` counts an actor's changes from 1
 * without gaps; `deps` is the version vector the actor had seen when it made the change (its own
 * previous seq included). `startOp` is the counter of the first op; later ops follow contiguously
 * (an `ins` consumes one counter per value).
 */
export interface Change {
  readonly actor: ActorId;
  readonly seq: number;
  readonly startOp: number;
  readonly deps: VersionVector;
  /** Milliseconds since the epoch when the change was made (informational). */
  readonly time: number;
  readonly ops: readonly Op[];
}

/** A map field that holds more than one concurrent value after an apply. */
export interface ConflictNotice {
  readonly obj: ObjId;
  readonly key: string;
  /** The sibling op ids, in the deterministic order every replica uses. */
  readonly siblings: readonly OpIdStr[];
  readonly values: readonly MapValue[];
}

/** What a map field holds: a scalar, or a reference to a nested object. */
export type MapValue =
  { readonly kind: 'scalar'; readonly value: Scalar } | { readonly kind: 'object'; readonly id: ObjId; readonly type: ObjType };

/** The outcome of applying remote changes. */
export interface ApplyResult {
  /** Changes that were applied now (including previously buffered ones that became ready). */
  readonly applied: readonly Change[];
  /** Changes ignored because they were already applied (idempotent re-delivery). */
  readonly duplicates: number;
  /** Changes still waiting for causal dependencies after this call. */
  readonly pending: number;
  /** Map fields that hold siblings after this apply and were touched by it. */
  readonly conflicts: readonly ConflictNotice[];
}

import type { ActorId } from '../core/ids.ts';
import type { Change } from '../engine/crdt/types.ts';

/**
 * One edit of a text: `[position, deleteCount, insertedText]`, applied like `Array.splice`.
 * Position and count are Unicode code point offsets (not UTF-16 units), as in the upstream traces.
 */
export type TracePatch = readonly [pos: number, del: number, ins: string];

/** A transaction of a sequential trace: its patches apply in order, each on the result of the previous. */
export interface SequentialTxn {
  /** Milliseconds since the epoch (0 when the trace has no timestamps). */
  readonly time: number;
  readonly patches: readonly TracePatch[];
}

/** A single-writer trace: replaying every patch on `startContent` gives `endContent`. */
export interface SequentialTrace {
  readonly kind: 'sequential';
  readonly startContent: string;
  readonly endContent: string;
  readonly txns: readonly SequentialTxn[];
}

/** A transaction of a concurrent trace, made by `agent` on the merged state of its `parents`. */
export interface ConcurrentTxn {
  /** Indexes of earlier txns this one causally follows (empty only for the first txn). */
  readonly parents: readonly number[];
  /** The agent (0..numAgents-1) that made it; each agent's txns are totally ordered. */
  readonly agent: number;
  /** Milliseconds since the epoch (0 when unknown). */
  readonly time: number;
  readonly patches: readonly TracePatch[];
  readonly numChildren: number;
}

/** A multi-writer trace with causal parents per txn; the document starts empty. */
export interface ConcurrentTrace {
  readonly kind: 'concurrent';
  readonly endContent: string;
  readonly numAgents: number;
  readonly txns: readonly ConcurrentTxn[];
}

/** A parsed, validated editing trace (josephg/editing-traces formats). */
export type EditingTrace = SequentialTrace | ConcurrentTrace;

/** The changes one simulated client makes, in its own order (seq 1..n without gaps). */
export interface AgentChanges {
  readonly actor: ActorId;
  readonly changes: readonly Change[];
}

/** One step of the global order: change `index` (0-based) of agent `agent`. */
export interface OrderEntry {
  readonly agent: number;
  readonly index: number;
}

/**
 * A workload ready to be replayed by simulated clients. Replaying `setup` and then every change
 * in `order` is causally valid; any other order works on a replica with causal buffering.
 */
export interface ConvertedTrace {
  /** One entry per agent (index = agent number of the trace). */
  readonly agents: readonly AgentChanges[];
  /** Every change of every agent, in the order the trace (or generator) made them. */
  readonly order: readonly OrderEntry[];
  /** The expected text of `root[docTextKey]` after all changes; undefined when only convergence can be checked. */
  readonly endContent: string | undefined;
  /** Made by a dedicated setup actor; creates the shared objects. Every agent applied it first. */
  readonly setup: Change;
  /** The map key of the text object under the root. */
  readonly textKey: string;
}

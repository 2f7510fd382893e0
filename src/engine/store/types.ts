import type { HoldStore } from '../../core/pipeline.ts';
import type { DocId } from '../../core/ids.ts';
import type { Change, VersionVector } from '../crdt/types.ts';

/** Turns changes into bytes and back; the server injects the wire codec so stored bytes equal wire bytes. */
export interface ChangeCodec {
  encode(change: Change): Uint8Array;
  decode(bytes: Uint8Array): Change;
}

export interface Snapshot {
  readonly clock: VersionVector;
  /** The engine's encoded document state (`CrdtDoc.save()`). */
  readonly state: Uint8Array;
  /** How many changes of the log the snapshot covers. */
  readonly changeCount: number;
  readonly createdAt: number;
}

/**
 * Durable storage of documents: an append-only change log (the source of truth) plus periodic
 * snapshots, and the hold store for messages protecting stages keep. Methods are synchronous:
 * when `appendChanges` returns, the changes are durable and may be acknowledged.
 */
export interface DocStore extends HoldStore {
  /** Appends changes (already causally ordered) in one transaction. Already-stored (actor, seq) pairs are skipped. */
  appendChanges(doc: DocId, changes: readonly Change[]): void;
  /** Every stored change of `doc` not covered by `since`, in the order they were appended. */
  loadChanges(doc: DocId, since?: VersionVector): Change[];
  /** Number of changes stored for `doc`. */
  changeCount(doc: DocId): number;
  latestSnapshot(doc: DocId): Snapshot | undefined;
  saveSnapshot(doc: DocId, snapshot: Snapshot): void;
  listDocs(): DocId[];
  /**
   * Records that `subject` uses actor id `actor`, unless another subject already does. Returns
   * false (and records nothing) when the actor belongs to someone else.
   */
  claimActor(actor: string, subject: string): boolean;
  close(): void;
}

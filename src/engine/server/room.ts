import type { DocId } from '../../core/ids.ts';
import type { Logger } from '../../core/logger.ts';
import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import { CrdtDoc } from '../crdt/crdt-doc.ts';
import type { ApplyResult, Change, VersionVector } from '../crdt/types.ts';
import type { DocStore } from '../store/types.ts';
import type { PeerId, ActorId } from '../../core/ids.ts';

/** The server's view of one subscriber of a room. */
export interface Subscription {
  readonly peer: PeerId;
  /** Everything this peer has or has been sent, per actor. Mutated as changes go out. */
  readonly sent: Record<string, number>;
  /** True while the peer's socket is over its high-water mark: fan-out stops and it is resynced from the store once drained. */
  lagging: boolean;
}

export interface RoomOptions {
  readonly maxPending: number;
  readonly snapshotEvery: number;
  readonly logger: Logger;
}

/**
 * One open document on the server: the CRDT state (without in-memory history; the store's op log is
 * the history), its subscribers, and the durable apply path. A change is acknowledged only after
 * `store.appendChanges` returned.
 */
export class Room {
  readonly id: DocId;
  readonly subscribers = new Map<PeerId, Subscription>();
  #doc: CrdtDoc;
  readonly #store: DocStore;
  readonly #options: RoomOptions;
  #sinceSnapshot: number;
  #snapshotScheduled = false;

  private constructor(id: DocId, doc: CrdtDoc, store: DocStore, options: RoomOptions, sinceSnapshot: number) {
    this.id = id;
    this.#doc = doc;
    this.#store = store;
    this.#options = options;
    this.#sinceSnapshot = sinceSnapshot;
  }

  /** Loads a document from its latest snapshot plus the op log after it. */
  static open(id: DocId, store: DocStore, options: RoomOptions): Room {
    const { doc, sinceSnapshot } = Room.#load(id, store, options);
    return new Room(id, doc, store, options, sinceSnapshot);
  }

  static #load(id: DocId, store: DocStore, options: RoomOptions): { doc: CrdtDoc; sinceSnapshot: number } {
    const actor = 'server' as ActorId;
    const docOptions = { maxPending: options.maxPending, keepHistory: false };
    const snapshot = store.latestSnapshot(id);
    let doc: CrdtDoc;
    if (snapshot === undefined) {
      doc = new CrdtDoc(actor, docOptions);
    } else {
      try {
        doc = CrdtDoc.load(actor, snapshot.state, docOptions);
      } catch (err) {
        // A bad snapshot is not fatal: the op log is the source of truth.
        options.logger.warn('snapshot unreadable, rebuilding from the op log', { doc: id, error: toSyncPilotError(err).message });
        doc = new CrdtDoc(actor, docOptions);
      }
    }
    const rest = store.loadChanges(id, doc.clock());
    if (rest.length > 0) {
      const result = doc.applyChanges(rest);
      if (result.pending > 0) {
        throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `document ${id}: ${result.pending} stored changes lack their causal dependencies`);
      }
    }
    return { doc, sinceSnapshot: rest.length };
  }

  get doc(): CrdtDoc {
    return this.#doc;
  }

  clock(): VersionVector {
    return this.#doc.clock();
  }

  /**
   * Applies changes and makes the applied ones durable before returning. The CRDT applies every
   * acceptable change of a batch even when it refuses others; those refusals come back in
   * `refused` (after the accepted ones are durable), so the caller can acknowledge and fan out
   * what was applied and tell the sender about the rest. Throws when the store fails; the
   * in-memory state is then reloaded from the store so it never runs ahead of what is durable.
   */
  apply(changes: readonly Change[]): ApplyResult & { readonly refused?: SyncPilotError } {
    let result: ApplyResult;
    let refused: SyncPilotError | undefined;
    try {
      result = this.#doc.applyChanges(changes);
    } catch (err) {
      const partial = err instanceof SyncPilotError ? (err.details as Partial<ApplyResult>) : undefined;
      if (partial?.applied === undefined || partial.conflicts === undefined) throw err;
      result = {
        applied: partial.applied,
        duplicates: partial.duplicates ?? 0,
        pending: partial.pending ?? 0,
        conflicts: partial.conflicts,
      };
      refused = err as SyncPilotError;
    }
    if (result.applied.length > 0) {
      try {
        this.#store.appendChanges(this.id, result.applied);
      } catch (err) {
        this.#reload();
        throw toSyncPilotError(err, 'SP_ERR_STORE');
      }
      this.#sinceSnapshot += result.applied.length;
      if (this.#sinceSnapshot >= this.#options.snapshotEvery) this.#scheduleSnapshot();
    }
    return refused === undefined ? result : { ...result, refused };
  }

  /** Every durable change the holder of `since` lacks. */
  changesSince(since: VersionVector): Change[] {
    return this.#store.loadChanges(this.id, since);
  }

  /** Writes a snapshot now (also used at shutdown). */
  snapshot(): void {
    if (this.#sinceSnapshot === 0) return;
    this.#store.saveSnapshot(this.id, {
      clock: this.#doc.clock(),
      state: this.#doc.save(),
      changeCount: this.#store.changeCount(this.id),
      createdAt: Date.now(),
    });
    this.#sinceSnapshot = 0;
  }

  #scheduleSnapshot(): void {
    if (this.#snapshotScheduled) return;
    this.#snapshotScheduled = true;
    setImmediate(() => {
      this.#snapshotScheduled = false;
      try {
        this.snapshot();
      } catch (err) {
        // Snapshots are an optimisation; the op log stays authoritative.
        this.#options.logger.warn('snapshot failed', { doc: this.id, error: toSyncPilotError(err).message });
      }
    });
  }

  #reload(): void {
    try {
      const { doc, sinceSnapshot } = Room.#load(this.id, this.#store, this.#options);
      this.#doc = doc;
      this.#sinceSnapshot = sinceSnapshot;
    } catch (err) {
      this.#options.logger.error('room reload failed', { doc: this.id, error: toSyncPilotError(err).message });
    }
  }
}

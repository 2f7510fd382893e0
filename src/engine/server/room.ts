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
  #uncommitted: Change[] = [];
  /** Tickets: each `applyPending` that applied something gets the next number. */
  #ticket = 0;
  #durableTicket = 0;
  /** Ticket ranges (inclusive) whose changes a failed commit lost. */
  readonly #lost: [number, number][] = [];

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
   * Applies changes and makes the applied ones durable before returning (`applyPending` then
   * `commit`). The CRDT applies every acceptable change of a batch even when it refuses others;
   * those refusals come back in `refused`.
   */
  apply(changes: readonly Change[]): ApplyResult & { readonly refused?: SyncPilotError } {
    const result = this.applyPending(changes);
    this.commit();
    return result;
  }

  /**
   * Applies changes in memory and queues the applied ones for the next `commit` (group commit:
   * the server commits once per event-loop turn and acknowledges only after that). Refused
   * changes of a partly valid batch come back in `refused`; nothing of them is applied.
   */
  applyPending(changes: readonly Change[]): ApplyResult & { readonly refused?: SyncPilotError; readonly ticket: number } {
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
    for (const c of result.applied) this.#uncommitted.push(c);
    const ticket = result.applied.length > 0 ? ++this.#ticket : this.#ticket;
    return refused === undefined ? { ...result, ticket } : { ...result, refused, ticket };
  }

  /** True if the changes applied under `ticket` were lost by a failed commit (never acknowledge them). */
  isLost(ticket: number): boolean {
    return this.#lost.some(([from, to]) => ticket >= from && ticket <= to);
  }

  /** True while changes are applied in memory but not yet durable. */
  get hasUncommitted(): boolean {
    return this.#uncommitted.length > 0;
  }

  /**
   * Makes every pending change durable in one store transaction. On a store failure the
   * in-memory state is reloaded from the store (so it never runs ahead of what is durable) and
   * the error is thrown: none of the pending changes may be acknowledged.
   */
  commit(): void {
    if (this.#uncommitted.length === 0) return;
    const batch = this.#uncommitted;
    this.#uncommitted = [];
    try {
      this.#store.appendChanges(this.id, batch);
    } catch (err) {
      this.#lost.push([this.#durableTicket + 1, this.#ticket]);
      // Only tickets of the current event-loop turn are ever looked up; keep a short history.
      if (this.#lost.length > 64) this.#lost.shift();
      this.#durableTicket = this.#ticket;
      this.#reload();
      throw toSyncPilotError(err, 'SP_ERR_STORE');
    }
    this.#durableTicket = this.#ticket;
    this.#sinceSnapshot += batch.length;
    if (this.#sinceSnapshot >= this.#options.snapshotEvery) this.#scheduleSnapshot();
  }

  /** Every durable change the holder of `since` lacks. */
  changesSince(since: VersionVector): Change[] {
    return this.#store.loadChanges(this.id, since);
  }

  /** Writes a snapshot now (also used at shutdown). */
  snapshot(): void {
    // A snapshot must never contain changes that are not durable yet: wait for the next commit.
    if (this.#uncommitted.length > 0) {
      this.#scheduleSnapshot();
      return;
    }
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

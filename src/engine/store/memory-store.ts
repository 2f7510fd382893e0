import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import type { DocId } from '../../core/ids.ts';
import type { HeldMessage } from '../../core/pipeline.ts';
import type { Envelope } from '../../core/stage.ts';
import type { Change, VersionVector } from '../crdt/types.ts';
import { SNAPSHOTS_KEPT, checkChanges, checkHold, checkSnapshot } from './input-checks.ts';
import { fromTaggedJson, toTaggedJson } from './tagged-json.ts';
import type { ChangeCodec, DocStore, Snapshot } from './types.ts';

export interface MemoryDocStoreOptions {
  /**
   * When given, changes are kept encoded (as the SQLite store keeps them), which also exercises the
   * codec. Without one, changes are kept as structured clones.
   */
  readonly codec?: ChangeCodec;
}

interface StoredChange {
  readonly actor: string;
  readonly seq: number;
  readonly value: Uint8Array | Change;
}

interface DocState {
  readonly log: StoredChange[];
  /** `seq@actor` of every stored change, for idempotent re-appends. */
  readonly stored: Set<string>;
  /** Newest first. */
  snapshots: Snapshot[];
}

/**
 * A {@link DocStore} in process memory, for unit tests and the demo's in-memory mode. It follows
 * the same contract as the SQLite store (checked by the shared conformance suite) but nothing
 * survives the process. Stored values are copies: callers may mutate what they passed or got back.
 */
export class MemoryDocStore implements DocStore {
  readonly #codec: ChangeCodec | undefined;
  readonly #docs = new Map<string, DocState>();
  readonly #actorOwners = new Map<string, string>();
  /** Held messages as tagged JSON: proves they are storable and keeps them immutable. */
  readonly #holds = new Map<string, { readonly record: Omit<HeldMessage, 'envelope'>; readonly envelope: string }>();
  #closed = false;

  constructor(options: MemoryDocStoreOptions = {}) {
    this.#codec = options.codec;
  }

  appendChanges(doc: DocId, changes: readonly Change[]): void {
    this.#assertOpen();
    if (changes.length === 0) return;
    checkChanges(changes);
    let values: (Uint8Array | Change)[];
    try {
      values = changes.map((c) => (this.#codec === undefined ? structuredClone(c) : this.#codec.encode(c)));
    } catch (err) {
      throw toSyncPilotError(err, 'SP_ERR_CHANGE_INVALID');
    }
    const state = this.#state(doc);
    changes.forEach((change, i) => {
      const key = `${change.seq}@${change.actor}`;
      if (state.stored.has(key)) return;
      state.stored.add(key);
      state.log.push({ actor: change.actor, seq: change.seq, value: values[i] as Uint8Array | Change });
    });
  }

  loadChanges(doc: DocId, since?: VersionVector): Change[] {
    this.#assertOpen();
    const state = this.#docs.get(doc);
    if (state === undefined) return [];
    const out: Change[] = [];
    for (const entry of state.log) {
      const seen = since?.[entry.actor];
      if (typeof seen === 'number' && entry.seq <= seen) continue;
      out.push(this.#decode(doc, entry.value));
    }
    return out;
  }

  changeCount(doc: DocId): number {
    this.#assertOpen();
    return this.#docs.get(doc)?.log.length ?? 0;
  }

  latestSnapshot(doc: DocId): Snapshot | undefined {
    return this.listSnapshots(doc)[0];
  }

  /** The kept snapshots of `doc` (at most 2), newest first. */
  listSnapshots(doc: DocId): Snapshot[] {
    this.#assertOpen();
    return (this.#docs.get(doc)?.snapshots ?? []).map(copySnapshot);
  }

  saveSnapshot(doc: DocId, snapshot: Snapshot): void {
    this.#assertOpen();
    checkSnapshot(snapshot);
    const state = this.#state(doc);
    state.snapshots = [copySnapshot(snapshot), ...state.snapshots].slice(0, SNAPSHOTS_KEPT);
  }

  claimActor(actor: string, subject: string): boolean {
    this.#assertOpen();
    const owner = this.#actorOwners.get(actor);
    if (owner === undefined) this.#actorOwners.set(actor, subject);
    return (owner ?? subject) === subject;
  }

  listDocs(): DocId[] {
    this.#assertOpen();
    return [...this.#docs.keys()] as DocId[];
  }

  /** Stores a held message (replacing one with the same id). Part of `HoldStore`. */
  put(record: HeldMessage): void {
    this.#assertOpen();
    checkHold(record);
    const { envelope, ...rest } = record;
    const text = toTaggedJson(envelope);
    // Re-insert so that iteration order is the order of the latest put, like the SQLite store's.
    this.#holds.delete(record.id);
    this.#holds.set(record.id, { record: rest, envelope: text });
  }

  /** Every held message, oldest first. */
  listHolds(): HeldMessage[] {
    this.#assertOpen();
    return [...this.#holds.values()]
      .map(({ record, envelope }) => ({ ...record, envelope: fromTaggedJson(envelope) as Envelope }))
      .sort((a, b) => a.heldAt - b.heldAt);
  }

  /** Removes a held message. Returns false if there was none with that id. */
  deleteHold(id: string): boolean {
    this.#assertOpen();
    return this.#holds.delete(id);
  }

  /** Drops everything. Idempotent; every other method then throws `SP_ERR_CLOSED`. */
  close(): void {
    this.#closed = true;
    this.#docs.clear();
    this.#holds.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the document store is closed');
  }

  #state(doc: string): DocState {
    let state = this.#docs.get(doc);
    if (state === undefined) {
      state = { log: [], stored: new Set(), snapshots: [] };
      this.#docs.set(doc, state);
    }
    return state;
  }

  #decode(doc: string, value: Uint8Array | Change): Change {
    if (this.#codec === undefined) return structuredClone(value as Change);
    try {
      return this.#codec.decode(value as Uint8Array);
    } catch (err) {
      throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `a stored change of "${doc}" does not decode`, { cause: err, details: { doc } });
    }
  }
}

function copySnapshot(s: Snapshot): Snapshot {
  return { clock: { ...s.clock }, state: new Uint8Array(s.state), changeCount: s.changeCount, createdAt: s.createdAt };
}

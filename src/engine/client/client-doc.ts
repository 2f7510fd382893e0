import type { ActorId } from '../../core/ids.ts';
import { SyncPilotError } from '../../core/errors.ts';
import { CrdtDoc, type Transaction } from '../crdt/crdt-doc.ts';
import type { Change, ConflictNotice } from '../crdt/types.ts';
import { Emitter } from './emitter.ts';

export type ClientDocEvents = {
  /** Changes became visible locally: made here (`local`) or received (`remote`). */
  change: (changes: readonly Change[], origin: 'local' | 'remote') => void;
  /** Remote changes left map fields with several concurrent values. */
  conflict: (conflicts: readonly ConflictNotice[]) => void;
  /** The initial sync from the server completed. */
  synced: () => void;
  /** Every local change so far is durable on the server. */
  acked: (seq: number) => void;
};

/** What the client needs from a document to move changes. */
export interface DocTransport {
  sendChanges(doc: ClientDoc, changes: readonly Change[]): void;
  unsubscribe(doc: ClientDoc): void;
}

/**
 * One document as a client sees it: the local CRDT replica plus the offline queue of local changes
 * the server has not acknowledged yet. Local changes apply at once and are sent when connected;
 * unacknowledged ones are resent after a reconnect, and the server ignores ones it already has.
 */
export class ClientDoc extends Emitter<ClientDocEvents> {
  readonly id: string;
  readonly crdt: CrdtDoc;
  readonly #transport: DocTransport;
  readonly #pending: Change[] = [];
  #acked = 0;
  #synced = false;
  #closed = false;
  #syncWaiters: (() => void)[] = [];
  #ackWaiters: { seq: number; resolve: () => void }[] = [];

  constructor(id: string, actor: ActorId, transport: DocTransport, maxPending?: number) {
    super();
    this.id = id;
    this.crdt = new CrdtDoc(actor, { keepHistory: false, ...(maxPending === undefined ? {} : { maxPending }) });
    this.#transport = transport;
  }

  /** Makes a local change, applies it, and sends it (or queues it while offline). */
  change(fn: (tx: Transaction) => void): Change | undefined {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', `document ${this.id} was closed`);
    const change = this.crdt.change(fn);
    if (change === undefined) return undefined;
    this.#pending.push(change);
    this.emit('change', [change], 'local');
    this.#transport.sendChanges(this, [change]);
    return change;
  }

  /**
   * Submits changes this actor made elsewhere (another replica of the same actor, an import, a
   * replayed trace). They apply locally (buffered until their dependencies arrive) and are sent and
   * queued like local changes. Changes of another actor are refused: a client only writes its own.
   */
  submit(changes: readonly Change[]): void {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', `document ${this.id} was closed`);
    for (const c of changes) {
      if (c.actor !== this.crdt.actor)
        throw new SyncPilotError('SP_ERR_CHANGE_INVALID', `change by ${c.actor} submitted through actor ${this.crdt.actor}`);
    }
    const fresh = changes.filter((c) => !this.crdt.hasChange(c.actor, c.seq) && c.seq > (this.#pending.at(-1)?.seq ?? this.#acked));
    if (fresh.length === 0) return;
    const result = this.crdt.applyChanges(fresh);
    this.#pending.push(...fresh);
    if (result.applied.length > 0) this.emit('change', result.applied, 'local');
    this.#transport.sendChanges(this, fresh);
  }

  /** Local changes not yet acknowledged by the server (the offline queue). */
  get pending(): readonly Change[] {
    return this.#pending;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Highest local seq the server acknowledged as durable. */
  get ackedSeq(): number {
    return this.#acked;
  }

  /** Resolves once the initial sync after subscribing (or resubscribing) completed. */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  /** Resolves once every local change made so far is durable on the server. */
  whenAcked(): Promise<void> {
    const seq = this.crdt.clock()[this.crdt.actor] ?? 0;
    if (this.#acked >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#ackWaiters.push({ seq, resolve }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.unsubscribe(this);
  }

  /** @internal The connection dropped: the next sync is a new one. */
  resetSync(): void {
    this.#synced = false;
  }

  /** @internal Remote changes from SYNC or CHANGES frames. */
  receive(changes: readonly Change[], complete: boolean): void {
    if (changes.length > 0) {
      const result = this.crdt.applyChanges(changes);
      if (result.applied.length > 0) this.emit('change', result.applied, 'remote');
      if (result.conflicts.length > 0) this.emit('conflict', result.conflicts);
    }
    if (complete && !this.#synced) {
      this.#synced = true;
      const waiters = this.#syncWaiters;
      this.#syncWaiters = [];
      for (const w of waiters) w();
      this.emit('synced');
    }
  }

  /** @internal The server made every change of ours up to `seq` durable. */
  ack(seq: number): void {
    if (seq <= this.#acked) return;
    this.#acked = seq;
    let drop = 0;
    while (drop < this.#pending.length && (this.#pending[drop] as Change).seq <= seq) drop++;
    if (drop > 0) this.#pending.splice(0, drop);
    this.#ackWaiters = this.#ackWaiters.filter((w) => {
      if (w.seq > seq) return true;
      w.resolve();
      return false;
    });
    this.emit('acked', seq);
  }
}

import Database from 'better-sqlite3';
import { WalCheckpointer } from './wal-checkpointer.ts';
import { SyncPilotError, isErrorCode, toSyncPilotError } from '../../core/errors.ts';
import type { DocId } from '../../core/ids.ts';
import type { HeldMessage } from '../../core/pipeline.ts';
import type { Envelope } from '../../core/stage.ts';
import type { Change, VersionVector } from '../crdt/types.ts';
import { SNAPSHOTS_KEPT, checkChanges, checkHold, checkSnapshot } from './input-checks.ts';
import { wrapSqliteError } from './sqlite-errors.ts';
import { migrate } from './sqlite-schema.ts';
import { fromTaggedJson, toTaggedJson } from './tagged-json.ts';
import type { ChangeCodec, DocStore, Snapshot } from './types.ts';

/**
 * `process`: a commit survives a crash or kill of the process (WAL, `synchronous=NORMAL`).
 * `power`: it also survives power loss or an OS crash (`synchronous=FULL`, an fsync per commit).
 */
export type Durability = 'process' | 'power';

export interface SqliteDocStoreOptions {
  /** A file path, or `':memory:'` for a private in-memory database. */
  readonly path: string;
  /** Encodes changes for storage; the server passes the wire codec so stored bytes equal wire bytes. */
  readonly codec: ChangeCodec;
  /** Default `'process'`. */
  readonly durability?: Durability;
  /** How long to wait for another connection's lock before failing with a retryable error. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** `'quick'` (default) runs `PRAGMA quick_check` on open, so damage is reported at startup; it reads the whole file. */
  readonly integrityCheck?: 'quick' | 'none';
  /** Run WAL checkpoints on a worker thread instead of inside commits (file databases). Default true. */
  readonly backgroundCheckpoints?: boolean;
}

type SnapshotRow = { clock: string; state: Buffer; change_count: number; created_at: number };
type HoldRow = { id: string; stage: string; code: string; reason: string; envelope: string; held_at: number };

/** Every statement the store runs, prepared once per connection. */
function prepareStatements(db: Database.Database) {
  return {
    actorOwner: db.prepare<[string], string>('SELECT subject FROM actor_owners WHERE actor = ?').pluck(),
    claimActor: db.prepare<[string, string, number]>(
      'INSERT INTO actor_owners (actor, subject, claimed_at) VALUES (?, ?, ?) ON CONFLICT (actor) DO NOTHING',
    ),
    docByName: db.prepare<[string], [number, number]>('SELECT id, change_count FROM documents WHERE name = ?').raw(),
    docCount: db.prepare<[number], number>('SELECT change_count FROM documents WHERE id = ?').pluck(),
    insertDoc: db.prepare<[string, number], number>('INSERT INTO documents (name, created_at) VALUES (?, ?) RETURNING id').pluck(),
    setDocCount: db.prepare<[number, number]>('UPDATE documents SET change_count = ? WHERE id = ?'),
    listDocs: db.prepare<[], string>('SELECT name FROM documents ORDER BY id').pluck(),
    actorByName: db.prepare<[string], number>('SELECT id FROM actors WHERE name = ?').pluck(),
    insertActor: db.prepare<[string], number>('INSERT INTO actors (name) VALUES (?) RETURNING id').pluck(),
    // Only the (doc, actor, seq) constraint is ignored: a clash on (doc, ord) would be a bug and must fail loudly.
    insertChange: db.prepare<[number, number, number, number, Uint8Array]>(
      'INSERT INTO changes (doc, ord, actor, seq, data) VALUES (?, ?, ?, ?, ?) ON CONFLICT (doc, actor, seq) DO NOTHING',
    ),
    upsertHead: db.prepare<[number, number, number]>(
      'INSERT INTO heads (doc, actor, max_seq) VALUES (?, ?, ?) ON CONFLICT (doc, actor) DO UPDATE SET max_seq = max(max_seq, excluded.max_seq)',
    ),
    allChanges: db.prepare<[number], Buffer>('SELECT data FROM changes WHERE doc = ? ORDER BY ord').pluck(),
    heads: db
      .prepare<[number], [string, number, number]>(
        'SELECT a.name, h.actor, h.max_seq FROM heads h JOIN actors a ON a.id = h.actor WHERE h.doc = ?',
      )
      .raw(),
    changesAfter: db
      .prepare<[number, number, number], [number, Buffer]>('SELECT ord, data FROM changes WHERE doc = ? AND actor = ? AND seq > ?')
      .raw(),
    insertSnapshot: db.prepare<[number, string, Uint8Array, number, number]>(
      'INSERT INTO snapshots (doc, clock, state, change_count, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
    pruneSnapshots: db.prepare<[number, number, number]>(
      'DELETE FROM snapshots WHERE doc = ? AND id NOT IN (SELECT id FROM snapshots WHERE doc = ? ORDER BY id DESC LIMIT ?)',
    ),
    snapshots: db.prepare<[string], SnapshotRow>(
      'SELECT s.clock, s.state, s.change_count, s.created_at FROM snapshots s JOIN documents d ON d.id = s.doc WHERE d.name = ? ORDER BY s.id DESC',
    ),
    putHold: db.prepare<[string, string, string, string, string, number]>(
      'INSERT OR REPLACE INTO holds (id, stage, code, reason, envelope, held_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    listHolds: db.prepare<[], HoldRow>('SELECT id, stage, code, reason, envelope, held_at FROM holds ORDER BY held_at, rowid'),
    deleteHold: db.prepare<[string]>('DELETE FROM holds WHERE id = ?'),
  };
}

/** SQLite page cache per connection, in KiB: enough to keep a busy document's log pages hot. */
const CACHE_KIB = 16 * 1024;

/**
 * The default {@link DocStore}: SQLite through better-sqlite3, WAL-journaled. The change log is the
 * source of truth; `appendChanges` commits one transaction and returns only once it is durable at
 * the configured {@link Durability}. Also the hold store for protecting stages.
 *
 * Errors are `SyncPilotError`s: `SP_ERR_STORE` (retryable when the database is locked by another
 * connection), `SP_ERR_STORE_CORRUPT` for a damaged file or a file that is not a syncpilot store,
 * `SP_ERR_CHANGE_INVALID` for changes without a usable (actor, seq), `SP_ERR_CLOSED` after `close`.
 */
export class SqliteDocStore implements DocStore {
  readonly #db: Database.Database;
  readonly #codec: ChangeCodec;
  readonly #s: ReturnType<typeof prepareStatements>;
  readonly #appendTx: Database.Transaction<(doc: string, changes: readonly Change[], encoded: readonly Uint8Array[]) => void>;
  readonly #saveSnapshotTx: Database.Transaction<(doc: string, snapshot: Snapshot) => void>;
  readonly #loadSinceTx: Database.Transaction<(docId: number, since: VersionVector) => [number, Buffer][] | undefined>;
  // Doc and actor rows are never deleted, so their ids can be cached once committed. Ids created
  // inside a transaction wait in `pending` until it commits: a rollback would free them for reuse.
  readonly #docIds = new Map<string, number>();
  readonly #actorIds = new Map<string, number>();
  readonly #pendingDocIds = new Map<string, number>();
  readonly #pendingActorIds = new Map<string, number>();
  #closed = false;
  readonly #checkpointer: WalCheckpointer | undefined;

  /**
   * Opens (creating if needed) a store at `options.path` and migrates its schema.
   * @throws SyncPilotError `SP_ERR_STORE_CORRUPT` if the file is damaged or not a syncpilot store;
   * `SP_ERR_STORE` if it cannot be opened (missing directory, permissions, newer schema).
   */
  static open(options: SqliteDocStoreOptions): SqliteDocStore {
    let db: Database.Database | undefined;
    try {
      db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
      const mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && mode !== 'memory')
        throw new SyncPilotError('SP_ERR_STORE', `could not enable WAL journaling (journal_mode is ${String(mode)})`);
      db.pragma(`synchronous = ${options.durability === 'power' ? 'FULL' : 'NORMAL'}`);
      db.pragma(`cache_size = -${CACHE_KIB}`);
      db.pragma('temp_store = MEMORY');
      const onDisk = options.path !== ':memory:' && options.path !== '';
      // Checkpoints run on a worker thread (WalCheckpointer); the writer's own automatic checkpoint is
      // only a safety net at 40 MB of WAL.
      if (onDisk && options.backgroundCheckpoints !== false) db.pragma('wal_autocheckpoint = 10000');
      migrate(db);
      if ((options.integrityCheck ?? 'quick') === 'quick') {
        const problems = db.prepare<[], string>('PRAGMA quick_check(5)').pluck().all();
        if (problems.length !== 1 || problems[0] !== 'ok') {
          throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `integrity check failed: ${problems.join('; ')}`, { details: { problems } });
        }
      }
      const checkpointer = onDisk && options.backgroundCheckpoints !== false ? WalCheckpointer.start(options.path) : undefined;
      return new SqliteDocStore(db, options.codec, checkpointer);
    } catch (err) {
      try {
        db?.close();
      } catch {
        // The open failure is the error worth reporting.
      }
      throw wrapSqliteError(err, `open ${options.path}`);
    }
  }

  private constructor(db: Database.Database, codec: ChangeCodec, checkpointer: WalCheckpointer | undefined) {
    this.#db = db;
    this.#checkpointer = checkpointer;
    this.#codec = codec;
    this.#s = prepareStatements(db);
    this.#appendTx = db.transaction((doc, changes, encoded) => this.#append(doc, changes, encoded));
    this.#saveSnapshotTx = db.transaction((doc, snapshot) => {
      const docId = this.#docId(doc);
      this.#s.insertSnapshot.run(docId, JSON.stringify(snapshot.clock), snapshot.state, snapshot.changeCount, snapshot.createdAt);
      this.#s.pruneSnapshots.run(docId, docId, SNAPSHOTS_KEPT);
    });
    // A read transaction, so that heads and rows come from one consistent view of the file.
    this.#loadSinceTx = db.transaction((docId, since) => this.#rowsSince(docId, since));
  }

  appendChanges(doc: DocId, changes: readonly Change[]): void {
    this.#assertOpen();
    if (changes.length === 0) return;
    checkChanges(changes);
    let encoded: Uint8Array[];
    try {
      encoded = changes.map((c) => this.#codec.encode(c));
    } catch (err) {
      throw toSyncPilotError(err, 'SP_ERR_CHANGE_INVALID');
    }
    this.#write('appendChanges', () => this.#appendTx.immediate(doc, changes, encoded));
  }

  loadChanges(doc: DocId, since?: VersionVector): Change[] {
    this.#assertOpen();
    let rows: readonly Uint8Array[];
    try {
      const docId = this.#findDoc(doc);
      if (docId === undefined) return [];
      const partial = since === undefined ? undefined : this.#loadSinceTx.deferred(docId, since);
      rows = partial === undefined ? this.#s.allChanges.all(docId) : partial.map((r) => r[1]);
    } catch (err) {
      throw wrapSqliteError(err, 'loadChanges');
    }
    const out = new Array<Change>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.#decode(doc, rows[i] as Uint8Array);
    return out;
  }

  changeCount(doc: DocId): number {
    this.#assertOpen();
    try {
      return this.#s.docByName.get(doc)?.[1] ?? 0;
    } catch (err) {
      throw wrapSqliteError(err, 'changeCount');
    }
  }

  latestSnapshot(doc: DocId): Snapshot | undefined {
    return this.listSnapshots(doc)[0];
  }

  /** The kept snapshots of `doc` (at most 2), newest first. */
  listSnapshots(doc: DocId): Snapshot[] {
    this.#assertOpen();
    let rows: SnapshotRow[];
    try {
      rows = this.#s.snapshots.all(doc);
    } catch (err) {
      throw wrapSqliteError(err, 'listSnapshots');
    }
    return rows.map((r) => {
      let clock: VersionVector;
      try {
        clock = JSON.parse(r.clock) as VersionVector;
      } catch (err) {
        throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `snapshot clock of "${doc}" does not parse`, { cause: err, details: { doc } });
      }
      // Copy out of the Buffer into a plain Uint8Array: callers compare and slice it as one.
      return { clock, state: new Uint8Array(r.state), changeCount: r.change_count, createdAt: r.created_at };
    });
  }

  saveSnapshot(doc: DocId, snapshot: Snapshot): void {
    this.#assertOpen();
    checkSnapshot(snapshot);
    this.#write('saveSnapshot', () => this.#saveSnapshotTx.immediate(doc, snapshot));
  }

  claimActor(actor: string, subject: string): boolean {
    this.#assertOpen();
    try {
      this.#s.claimActor.run(actor, subject, Date.now());
      return this.#s.actorOwner.get(actor) === subject;
    } catch (err) {
      throw wrapSqliteError(err, 'claimActor');
    }
  }

  listDocs(): DocId[] {
    this.#assertOpen();
    try {
      return this.#s.listDocs.all() as DocId[];
    } catch (err) {
      throw wrapSqliteError(err, 'listDocs');
    }
  }

  /** Stores a held message durably (replacing one with the same id). Part of `HoldStore`. */
  put(record: HeldMessage): void {
    this.#assertOpen();
    checkHold(record);
    const envelope = toTaggedJson(record.envelope);
    this.#write('put', () => this.#s.putHold.run(record.id, record.stage, record.code, record.reason, envelope, record.heldAt));
  }

  /** Every held message, oldest first, with envelopes deserialised (bytes as `Uint8Array`). */
  listHolds(): HeldMessage[] {
    this.#assertOpen();
    let rows: HoldRow[];
    try {
      rows = this.#s.listHolds.all();
    } catch (err) {
      throw wrapSqliteError(err, 'listHolds');
    }
    return rows.map((r) => {
      if (!isErrorCode(r.code))
        throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `hold ${r.id} has an unknown code ${r.code}`, { details: { id: r.id } });
      return {
        id: r.id,
        stage: r.stage,
        code: r.code,
        reason: r.reason,
        envelope: fromTaggedJson(r.envelope) as Envelope,
        heldAt: r.held_at,
      };
    });
  }

  /** Removes a held message (after review). Returns false if there was none with that id. */
  deleteHold(id: string): boolean {
    this.#assertOpen();
    return this.#write('deleteHold', () => this.#s.deleteHold.run(id).changes > 0);
  }

  /** Closes the database. Idempotent; every other method then throws `SP_ERR_CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    void this.#checkpointer?.close();
    try {
      this.#db.close();
    } catch (err) {
      throw wrapSqliteError(err, 'close');
    }
  }

  /**
   * Closes like {@link close} and resolves once the background checkpoint thread has released the
   * database files too, so that the directory can be removed or reopened by another process.
   */
  async closeFully(): Promise<void> {
    this.close();
    await this.#checkpointer?.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the document store is closed');
  }

  /** Runs a write, publishing ids it created only once it has committed. */
  #write<T>(operation: string, fn: () => T): T {
    try {
      const result = fn();
      for (const [k, v] of this.#pendingDocIds) this.#docIds.set(k, v);
      for (const [k, v] of this.#pendingActorIds) this.#actorIds.set(k, v);
      return result;
    } catch (err) {
      throw wrapSqliteError(err, operation);
    } finally {
      this.#pendingDocIds.clear();
      this.#pendingActorIds.clear();
    }
  }

  #append(doc: string, changes: readonly Change[], encoded: readonly Uint8Array[]): void {
    const docId = this.#docId(doc);
    // change_count doubles as the next append position: changes are never deleted.
    const start = this.#s.docCount.get(docId) ?? 0;
    let ord = start;
    const maxSeq = new Map<number, number>();
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i] as Change;
      const actor = this.#actorId(change.actor);
      if (this.#s.insertChange.run(docId, ord, actor, change.seq, encoded[i] as Uint8Array).changes === 0) continue;
      ord++;
      if (change.seq > (maxSeq.get(actor) ?? 0)) maxSeq.set(actor, change.seq);
    }
    if (ord === start) return;
    this.#s.setDocCount.run(ord, docId);
    for (const [actor, seq] of maxSeq) this.#s.upsertHead.run(docId, actor, seq);
  }

  /**
   * Rows of `docId` not covered by `since`, in append order, or `undefined` when `since` excludes
   * nothing (the caller then scans the whole document, which is cheaper than per-actor lookups).
   */
  #rowsSince(docId: number, since: VersionVector): [number, Buffer][] | undefined {
    const wanted: [number, number][] = [];
    let excludesSome = false;
    for (const [name, actor, max] of this.#s.heads.all(docId)) {
      const seen = since[name];
      const from = typeof seen === 'number' && seen > 0 ? seen : 0;
      if (from > 0) excludesSome = true;
      if (from < max) wanted.push([actor, from]);
    }
    if (!excludesSome) return undefined;
    const rows: [number, Buffer][] = [];
    for (const [actor, from] of wanted) for (const row of this.#s.changesAfter.all(docId, actor, from)) rows.push(row);
    // Each actor's rows come in seq order, which is append order for causally appended changes;
    // TimSort merges such runs in near-linear time (and still orders any out-of-order append).
    rows.sort((a, b) => a[0] - b[0]);
    return rows;
  }

  #findDoc(doc: string): number | undefined {
    const cached = this.#docIds.get(doc);
    if (cached !== undefined) return cached;
    const id = this.#s.docByName.get(doc)?.[0];
    if (id !== undefined) this.#docIds.set(doc, id);
    return id;
  }

  /** The id of `doc`, creating its row if needed; call inside a write transaction. */
  #docId(doc: string): number {
    // Pending first: a row created earlier in this transaction is visible to SELECT but not yet committed.
    const found = this.#pendingDocIds.get(doc) ?? this.#findDoc(doc);
    if (found !== undefined) return found;
    const id = this.#s.insertDoc.get(doc, Date.now()) as number;
    this.#pendingDocIds.set(doc, id);
    return id;
  }

  /** The interned id of `actor`, creating it if needed; call inside a write transaction. */
  #actorId(actor: string): number {
    let id = this.#actorIds.get(actor) ?? this.#pendingActorIds.get(actor);
    if (id !== undefined) return id;
    id = this.#s.actorByName.get(actor);
    if (id !== undefined) {
      this.#actorIds.set(actor, id);
      return id;
    }
    const created = this.#s.insertActor.get(actor);
    if (created === undefined) throw new SyncPilotError('SP_ERR_STORE', `could not intern actor ${actor}`);
    this.#pendingActorIds.set(actor, created);
    return created;
  }

  #decode(doc: string, bytes: Uint8Array): Change {
    try {
      return this.#codec.decode(bytes);
    } catch (err) {
      throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `a stored change of "${doc}" does not decode`, { cause: err, details: { doc } });
    }
  }
}

import type Database from 'better-sqlite3';
import { SyncPilotError } from '../../core/errors.ts';

/** Written to the `meta` table so that a file is recognisably a syncpilot document store. */
export const STORE_FORMAT = 'syncpilot.doc-store';

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
 * Never edit a released migration: append a new one.
 */
const MIGRATIONS: readonly string[] = [
  /* 1 */ `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  INSERT INTO meta (key, value) VALUES ('format', '${STORE_FORMAT}');

  CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- Also the next append position (ord) of the document: changes are never deleted.
    change_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
  );

  -- Actor ids are interned: the log and its index repeat them once per change.
  CREATE TABLE actors (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);

  -- The op log, clustered by (document, append position) so that loading a whole document is one
  -- range scan in append order. The identity of a change is (doc, actor, seq): the unique index
  -- makes re-appends no-ops and serves the per-actor "seq > since" scans.
  CREATE TABLE changes (
    doc INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (doc, ord)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX changes_by_actor ON changes (doc, actor, seq);

  -- Highest seq stored per (document, actor): lets loadChanges skip actors a clock already covers.
  CREATE TABLE heads (
    doc INTEGER NOT NULL,
    actor INTEGER NOT NULL,
    max_seq INTEGER NOT NULL,
    PRIMARY KEY (doc, actor)
  ) WITHOUT ROWID;

  CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    doc INTEGER NOT NULL,
    clock TEXT NOT NULL,
    state BLOB NOT NULL,
    change_count INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX snapshots_by_doc ON snapshots (doc, id);

  CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    stage TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    envelope TEXT NOT NULL,
    held_at INTEGER NOT NULL
  );
  CREATE INDEX holds_by_time ON holds (held_at);
  `,
  /* 2 */ `
  -- Which authenticated subject owns each actor id: the first to use it. Another subject claiming
  -- it could pre-empt the owner's next (actor, seq) and make the owner's real change a "duplicate".
  CREATE TABLE actor_owners (actor TEXT PRIMARY KEY, subject TEXT NOT NULL, claimed_at INTEGER NOT NULL) WITHOUT ROWID;
  `,
];

/** The schema version this build writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: Database.Database): number {
  const v: unknown = db.pragma('user_version', { simple: true });
  return typeof v === 'number' ? v : 0;
}

/**
 * Brings the schema of `db` up to {@link SCHEMA_VERSION}, or refuses a file that is not ours.
 * @throws SyncPilotError `SP_ERR_STORE_CORRUPT` if the database holds foreign tables or lacks our
 * format marker; `SP_ERR_STORE` if it was written by a newer schema version.
 */
export function migrate(db: Database.Database): void {
  const found = userVersion(db);
  if (found > SCHEMA_VERSION) {
    throw new SyncPilotError('SP_ERR_STORE', `store schema version ${found} is newer than this build supports (${SCHEMA_VERSION})`, {
      details: { schemaVersion: found, supported: SCHEMA_VERSION },
    });
  }
  if (found === 0) {
    const tables = db.prepare<[], number>(`SELECT count(*) FROM sqlite_schema WHERE type = 'table'`).pluck().get() ?? 0;
    if (tables > 0)
      throw new SyncPilotError('SP_ERR_STORE_CORRUPT', 'not a syncpilot store: the database has tables but no syncpilot schema');
  }
  for (let v = found; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v] as string;
    db.transaction(() => {
      // Another process may have migrated the same file between our read and this write lock.
      if (userVersion(db) !== v) return;
      db.exec(step);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  const hasMeta = db.prepare<[], number>(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'`).pluck().get() ?? 0;
  const format = hasMeta > 0 ? db.prepare<[], string>(`SELECT value FROM meta WHERE key = 'format'`).pluck().get() : undefined;
  if (format !== STORE_FORMAT) throw new SyncPilotError('SP_ERR_STORE_CORRUPT', 'not a syncpilot store: missing format marker');
}

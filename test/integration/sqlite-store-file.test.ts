import assert from 'node:assert/strict';
import { mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SyncPilotError, type ErrorCode } from '../../src/core/errors.ts';
import { actorId, docId, peerId } from '../../src/core/ids.ts';
import { ROOT, type Change } from '../../src/engine/crdt/types.ts';
import { SCHEMA_VERSION } from '../../src/engine/store/sqlite-schema.ts';
import { SqliteDocStore } from '../../src/engine/store/sqlite-store.ts';
import type { ChangeCodec } from '../../src/engine/store/types.ts';

const jsonCodec: ChangeCodec = {
  encode: (change) => new TextEncoder().encode(JSON.stringify(change)),
  decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as Change,
};

const root = mkdtempSync(join(tmpdir(), 'syncpilot-sqlite-file-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(root, `s${++n}.db`);

const D = docId('doc');
const change = (actor: string, seq: number, tag = ''): Change => ({
  actor: actorId(actor),
  seq,
  startOp: seq,
  deps: {},
  time: 0,
  ops: [{ action: 'set', obj: ROOT, key: 'k', value: `${actor}${seq}${tag}`, pred: [] }],
});

function expectError(fn: () => unknown, code: ErrorCode, check?: (err: SyncPilotError) => void): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SyncPilotError, `expected a SyncPilotError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  check?.(caught);
}

describe('SqliteDocStore on a file', () => {
  test('closeFully resolves once the checkpoint thread has let go: the directory can be removed at once', async () => {
    for (let i = 0; i < 10; i++) {
      const dir = mkdtempSync(join(root, 'full-close-'));
      const store = SqliteDocStore.open({ path: join(dir, 'store.db'), codec: jsonCodec });
      store.appendChanges(D, [change('a', 1)]);
      await store.closeFully();
      // Removing without retries fails with ENOTEMPTY when a thread still holds or recreates -wal/-shm files.
      rmSync(dir, { recursive: true });
      assert.throws(() => statSync(dir), /ENOENT/);
    }
  });

  test('everything survives close and reopen, and appends continue in order', () => {
    const path = freshPath();
    const first = SqliteDocStore.open({ path, codec: jsonCodec });
    first.appendChanges(D, [change('a', 1), change('b', 1)]);
    first.saveSnapshot(D, { clock: { a: 1 }, state: new Uint8Array([7]), changeCount: 1, createdAt: 5 });
    const envelope = {
      id: 'm',
      phase: 'inbound',
      kind: 'changes',
      doc: D,
      peer: peerId('p'),
      payload: new Uint8Array([1, 2]),
      bytes: 2,
      receivedAt: 0,
      annotations: {},
    } as const;
    first.put({ id: 'h', stage: 'anomaly', code: 'SP_ERR_HELD', reason: 'r', envelope, heldAt: 9 });
    first.close();

    const second = SqliteDocStore.open({ path, codec: jsonCodec });
    second.appendChanges(D, [change('a', 2), change('b', 1)]);
    assert.deepEqual(second.loadChanges(D), [change('a', 1), change('b', 1), change('a', 2)]);
    assert.deepEqual(second.loadChanges(D, { a: 1 }), [change('b', 1), change('a', 2)]);
    assert.equal(second.changeCount(D), 3);
    assert.deepEqual(second.latestSnapshot(D), { clock: { a: 1 }, state: new Uint8Array([7]), changeCount: 1, createdAt: 5 });
    assert.deepEqual(second.listHolds(), [{ id: 'h', stage: 'anomaly', code: 'SP_ERR_HELD', reason: 'r', envelope, heldAt: 9 }]);
    second.close();
  });

  test('stores the codec bytes, migrates to the current schema, journals with WAL and keeps two snapshots', () => {
    const path = freshPath();
    const store = SqliteDocStore.open({ path, codec: jsonCodec });
    store.appendChanges(D, [change('a', 1)]);
    for (let i = 1; i <= 5; i++) store.saveSnapshot(D, { clock: {}, state: new Uint8Array([i]), changeCount: i, createdAt: i });
    const raw = new Database(path, { readonly: true });
    try {
      assert.equal(raw.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      const bytes = raw.prepare('SELECT data FROM changes').pluck().get() as Buffer;
      assert.deepEqual(new Uint8Array(bytes), jsonCodec.encode(change('a', 1)));
      assert.deepEqual(raw.prepare('SELECT change_count FROM snapshots ORDER BY id').pluck().all(), [4, 5]);
    } finally {
      raw.close();
      store.close();
    }
  });

  test('durability maps to synchronous=NORMAL (process) and FULL (power)', () => {
    const seen: string[] = [];
    // eslint-disable-next-line @typescript-eslint/unbound-method -- restored below and called with an explicit `this`
    const original = Database.prototype.pragma;
    Database.prototype.pragma = function (this: Database.Database, source: string, options?: Database.PragmaOptions) {
      if (source.startsWith('synchronous')) seen.push(source);
      return original.call(this, source, options);
    };
    try {
      SqliteDocStore.open({ path: freshPath(), codec: jsonCodec }).close();
      SqliteDocStore.open({ path: freshPath(), codec: jsonCodec, durability: 'power' }).close();
    } finally {
      Database.prototype.pragma = original;
    }
    assert.deepEqual(seen, ['synchronous = NORMAL', 'synchronous = FULL']);
  });

  test('a file of garbage is SP_ERR_STORE_CORRUPT, not a crash', () => {
    const path = freshPath();
    writeFileSync(path, Buffer.alloc(8192, 'this is not a database '));
    expectError(
      () => SqliteDocStore.open({ path, codec: jsonCodec }),
      'SP_ERR_STORE_CORRUPT',
      (err) => assert.ok(err.cause instanceof Error),
    );
  });

  test('a SQLite database that is not a syncpilot store is SP_ERR_STORE_CORRUPT', () => {
    const path = freshPath();
    const other = new Database(path);
    other.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ann')");
    other.close();
    expectError(
      () => SqliteDocStore.open({ path, codec: jsonCodec }),
      'SP_ERR_STORE_CORRUPT',
      (err) => assert.match(err.message, /not a syncpilot store/),
    );
    const versioned = freshPath();
    const tagged = new Database(versioned);
    tagged.exec('CREATE TABLE things (x)');
    tagged.pragma('user_version = 1');
    tagged.close();
    expectError(() => SqliteDocStore.open({ path: versioned, codec: jsonCodec }), 'SP_ERR_STORE_CORRUPT');
  });

  test('damaged pages are found by the integrity check on open', () => {
    const path = freshPath();
    const store = SqliteDocStore.open({ path, codec: jsonCodec });
    for (let b = 0; b < 20; b++)
      store.appendChanges(
        D,
        Array.from({ length: 100 }, (_, i) => change(`actor-${i % 7}`, b * 100 + i + 1, 'x'.repeat(40))),
      );
    store.close();
    const pageSize = 4096;
    assert.ok(statSync(path).size > 40 * pageSize, 'the store should span many pages');
    const fd = openSync(path, 'r+');
    for (let page = 3; page < 30; page += 3) writeSync(fd, Buffer.alloc(pageSize, 0xa5), 0, pageSize, page * pageSize);
    closeSync(fd);
    expectError(() => SqliteDocStore.open({ path, codec: jsonCodec }), 'SP_ERR_STORE_CORRUPT');
  });

  test('a store written by a newer schema is refused with SP_ERR_STORE', () => {
    const path = freshPath();
    SqliteDocStore.open({ path, codec: jsonCodec }).close();
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expectError(
      () => SqliteDocStore.open({ path, codec: jsonCodec }),
      'SP_ERR_STORE',
      (err) => assert.match(err.message, /newer/),
    );
  });

  test('a missing directory is SP_ERR_STORE', () => {
    expectError(() => SqliteDocStore.open({ path: join(root, 'no', 'such', 'dir', 's.db'), codec: jsonCodec }), 'SP_ERR_STORE');
  });

  test('a locked database gives a retryable SP_ERR_STORE, and nothing half-written', () => {
    const path = freshPath();
    const store = SqliteDocStore.open({ path, codec: jsonCodec, busyTimeoutMs: 0 });
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      expectError(
        () => store.appendChanges(D, [change('a', 1)]),
        'SP_ERR_STORE',
        (err) => {
          assert.equal(err.retryable, true);
          assert.ok(err.cause instanceof Database.SqliteError && err.cause.code.startsWith('SQLITE_BUSY'));
        },
      );
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    store.appendChanges(D, [change('a', 1)]);
    assert.deepEqual(store.loadChanges(D), [change('a', 1)]);
    assert.deepEqual(store.listDocs(), [D]);
    store.close();
  });

  test('a transaction that fails midway leaves no trace and does not poison cached ids', () => {
    const path = freshPath();
    const store = SqliteDocStore.open({ path, codec: jsonCodec });
    store.appendChanges(docId('other'), [change('old', 1)]);
    const raw = new Database(path);
    raw.exec(`CREATE TRIGGER fail_666 BEFORE INSERT ON changes WHEN NEW.seq = 666 BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
    const X = docId('x');
    expectError(
      () => store.appendChanges(X, [change('fresh', 1), change('fresh', 666)]),
      'SP_ERR_STORE',
      (err) => assert.equal(err.retryable, false),
    );
    assert.equal(store.changeCount(X), 0);
    assert.deepEqual(store.listDocs(), [docId('other')]);
    // New rows reuse the ids the rolled-back transaction had taken; a poisoned cache would point elsewhere.
    raw.exec(`INSERT INTO documents (name, created_at) VALUES ('intruder', 0); INSERT INTO actors (name) VALUES ('intruder')`);
    raw.exec('DROP TRIGGER fail_666');
    raw.close();
    store.appendChanges(X, [change('fresh', 1), change('fresh', 2)]);
    assert.equal(store.changeCount(X), 2);
    assert.equal(store.changeCount(docId('intruder')), 0);
    assert.deepEqual(store.loadChanges(X), [change('fresh', 1), change('fresh', 2)]);
    assert.deepEqual(store.loadChanges(X, { fresh: 1 }), [change('fresh', 2)]);
    store.close();
  });

  test('stored bytes that no longer decode are SP_ERR_STORE_CORRUPT', () => {
    const path = freshPath();
    const store = SqliteDocStore.open({ path, codec: jsonCodec });
    store.appendChanges(D, [change('a', 1), change('a', 2)]);
    const raw = new Database(path);
    raw.prepare('UPDATE changes SET data = ? WHERE seq = 2').run(Buffer.from([0xff, 0x00]));
    raw.close();
    expectError(() => store.loadChanges(D), 'SP_ERR_STORE_CORRUPT');
    expectError(() => store.loadChanges(D, { a: 1 }), 'SP_ERR_STORE_CORRUPT');
    store.close();
  });

  test('two connections to one file append to the same document without losing or reordering changes', () => {
    const path = freshPath();
    const one = SqliteDocStore.open({ path, codec: jsonCodec });
    const two = SqliteDocStore.open({ path, codec: jsonCodec });
    const expected: Change[] = [];
    for (let i = 1; i <= 20; i++) {
      const c = change(i % 2 === 0 ? 'even' : 'odd', Math.ceil(i / 2));
      (i % 3 === 0 ? two : one).appendChanges(D, [c]);
      expected.push(c);
    }
    assert.deepEqual(one.loadChanges(D), expected);
    assert.deepEqual(
      two.loadChanges(D, { odd: 5 }),
      expected.filter((c) => c.actor === 'even' || c.seq > 5),
    );
    assert.equal(two.changeCount(D), 20);
    one.close();
    two.close();
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { createAuthzStage } from '../../src/auth/authz-stage.ts';
import { createJwtVerifier } from '../../src/auth/jwt-verifier.ts';
import type { SyncPilotError } from '../../src/core/errors.ts';
import { docId } from '../../src/core/ids.ts';
import type { Stage } from '../../src/core/stage.ts';
import type { ConflictNotice } from '../../src/engine/crdt/types.ts';
import type { EngineEnvelope } from '../../src/engine/server/envelope.ts';
import { startTestServer, waitFor, type TestServer } from '../helpers/test-server.ts';

const text = (d: { crdt: { get(o: string, k: string): unknown; text(o: string): string } }, key = 'body'): string => {
  const v = d.crdt.get('root', key) as { kind: string; id: string } | undefined;
  return v?.kind === 'object' ? d.crdt.text(v.id) : '';
};

describe('sync server and client over real WebSockets and SQLite', () => {
  let t: TestServer;
  const conflictsSeen: ConflictNotice[] = [];
  const observer: Stage<EngineEnvelope> = {
    name: 'observer',
    order: 300,
    kind: 'optimizing',
    phases: ['applied'],
    process: (m) => {
      conflictsSeen.push(...(m.outcome?.conflicts ?? []));
      return { type: 'continue' };
    },
  };
  before(async () => {
    t = await startTestServer({ stages: [observer] });
  });
  after(async () => t.close());

  test('edits propagate, are acknowledged only once durable, and replicas converge', async () => {
    const a = t.client();
    const b = t.client();
    await Promise.all([a.connect(), b.connect()]);
    const da = a.open('doc-edit');
    const db = b.open('doc-edit');
    await Promise.all([da.whenSynced(), db.whenSynced()]);
    da.change((tx) => tx.insertText(tx.makeText('root', 'body'), 0, 'hello world'));
    await da.whenAcked();
    // Acknowledged means durable: the change is in the SQLite log.
    assert.equal(t.store.changeCount(docId('doc-edit')), 1);
    await waitFor(() => text(db) === 'hello world', 5000, 'b to receive');
    db.change((tx) => {
      const ref = db.crdt.get('root', 'body');
      assert.ok(ref?.kind === 'object');
      tx.deleteText(ref.id, 0, 6);
      tx.insertText(ref.id, 0, 'brave new ');
    });
    await db.whenAcked();
    await waitFor(() => text(da) === 'brave new world', 5000, 'a to receive');
    assert.deepEqual(da.crdt.toJSON(), db.crdt.toJSON());
    assert.deepEqual(t.server.room(docId('doc-edit')).doc.toJSON(), da.crdt.toJSON());
  });

  test('concurrent writes to one field become siblings everywhere; a resolve write replaces them everywhere', async () => {
    const a = t.client();
    const b = t.client();
    await Promise.all([a.connect(), b.connect()]);
    const da = a.open('doc-conflict');
    const db = b.open('doc-conflict');
    await Promise.all([da.whenSynced(), db.whenSynced()]);
    // Both write before either has seen the other's write: truly concurrent.
    da.change((tx) => tx.set('root', 'title', 'Alpha'));
    db.change((tx) => tx.set('root', 'title', 'Beta'));
    await Promise.all([da.whenAcked(), db.whenAcked()]);
    await waitFor(
      () => da.crdt.getConflicts('root', 'title').length === 2 && db.crdt.getConflicts('root', 'title').length === 2,
      5000,
      'siblings',
    );
    const values = (d: typeof da): unknown[] =>
      d.crdt.getConflicts('root', 'title').map((s) => (s.value.kind === 'scalar' ? s.value.value : null));
    assert.deepEqual(values(da).sort(), ['Alpha', 'Beta']);
    assert.deepEqual(values(da), values(db));
    assert.ok(
      conflictsSeen.some((c) => c.key === 'title' && c.siblings.length === 2),
      'an applied-phase stage saw the conflict',
    );
    da.change((tx) => tx.set('root', 'title', 'Alpha Beta'));
    await da.whenAcked();
    await waitFor(() => db.crdt.getConflicts('root', 'title').length === 1, 5000, 'resolution');
    assert.deepEqual(db.crdt.get('root', 'title'), { kind: 'scalar', value: 'Alpha Beta' });
    assert.deepEqual(t.server.room(docId('doc-conflict')).doc.getConflicts('root', 'title').length, 1);
  });

  test('offline edits queue, survive a dropped connection and arrive exactly once after reconnect', async () => {
    const a = t.client();
    const b = t.client();
    await Promise.all([a.connect(), b.connect()]);
    const da = a.open('doc-offline');
    const db = b.open('doc-offline');
    await Promise.all([da.whenSynced(), db.whenSynced()]);
    const counterId = da.change((tx) => void tx.makeCounter('root', 'n'));
    assert.ok(counterId);
    await da.whenAcked();
    const ref = da.crdt.get('root', 'n');
    assert.ok(ref?.kind === 'object');
    a.dropConnection();
    for (let i = 0; i < 50; i++) da.change((tx) => tx.increment(ref.id, 1));
    assert.ok(da.pending.length > 0, 'changes wait in the offline queue');
    await da.whenAcked();
    await waitFor(() => db.crdt.get('root', 'n')?.kind === 'object' && db.crdt.counter(ref.id) === 50, 5000, 'b to see 50');
    assert.equal(t.server.room(docId('doc-offline')).doc.counter(ref.id), 50);
    assert.equal(t.store.changeCount(docId('doc-offline')), 51, 'no change stored twice');
    // Re-sending already durable changes (a lost ack) is idempotent and acknowledged again.
    a.dropConnection();
    await waitFor(() => a.state === 'open', 5000, 'reconnect');
    await da.whenSynced();
    assert.equal(t.store.changeCount(docId('doc-offline')), 51);
  });

  test('a late joiner gets the whole document by delta sync', async () => {
    const c = t.client();
    await c.connect();
    const dc = c.open('doc-edit');
    await dc.whenSynced();
    assert.equal(text(dc), 'brave new world');
  });
});

describe('authentication and authorization', () => {
  const secret = 'a-test-secret-that-is-long-enough';
  const key = new TextEncoder().encode(secret);
  let t: TestServer;
  const token = (docs: { read?: string[]; write?: string[] }, subject = 'user-1'): Promise<string> =>
    new SignJWT({ docs }).setProtectedHeader({ alg: 'HS256' }).setSubject(subject).setExpirationTime('5m').sign(key);
  before(async () => {
    t = await startTestServer({
      stages: [createAuthzStage<EngineEnvelope>()],
      authenticator: createJwtVerifier({ mode: 'jwt', secret, clockToleranceSec: 5 }),
    });
  });
  after(async () => t.close());

  test('no token: the connection is refused with SP_ERR_UNAUTHENTICATED', async () => {
    const c = t.client({ reconnect: false });
    await assert.rejects(c.connect(), (e: SyncPilotError) => e.code === 'SP_ERR_UNAUTHENTICATED');
  });

  test("another user cannot take over someone's actor id (SP_ERR_FORBIDDEN at handshake)", async () => {
    const owner = t.client({ actor: 'actor-of-alice', token: await token({ write: ['*'] }, 'alice') });
    await owner.connect();
    await owner.close();
    const thief = t.client({ actor: 'actor-of-alice', token: await token({ write: ['*'] }, 'mallory'), reconnect: false });
    await assert.rejects(thief.connect(), (e: SyncPilotError) => e.code === 'SP_ERR_FORBIDDEN');
    const again = t.client({ actor: 'actor-of-alice', token: await token({ write: ['*'] }, 'alice'), reconnect: false });
    await again.connect();
  });

  test('a reader cannot write and cannot open other documents; nothing it sends is stored', async () => {
    const writer = t.client({ token: await token({ write: ['shared/*'] }) });
    const reader = t.client({ token: await token({ read: ['shared/*'] }) });
    await Promise.all([writer.connect(), reader.connect()]);
    const errors: string[] = [];
    reader.on('error', (e) => errors.push(e.code));
    const dw = writer.open('shared/a');
    const dr = reader.open('shared/a');
    await Promise.all([dw.whenSynced(), dr.whenSynced()]);
    dw.change((tx) => tx.set('root', 'k', 1));
    await dw.whenAcked();
    await waitFor(() => dr.crdt.get('root', 'k') !== undefined, 5000, 'reader to read');
    dr.change((tx) => tx.set('root', 'k', 2));
    await waitFor(() => errors.includes('SP_ERR_FORBIDDEN'), 5000, 'forbidden write');
    assert.equal(t.store.changeCount(docId('shared/a')), 1);
    assert.equal(dr.pending.length, 1, 'the refused change is kept by the client, not lost');
    const secretDoc = reader.open('private/b');
    await waitFor(() => errors.filter((e) => e === 'SP_ERR_FORBIDDEN').length >= 2, 5000, 'forbidden read');
    assert.equal(secretDoc.synced, false);
  });
});

describe('protecting stages hold messages durably', () => {
  let t: TestServer;
  const quarantine: Stage<EngineEnvelope> = {
    name: 'quarantine',
    order: 200,
    kind: 'protecting',
    phases: ['inbound'],
    process: (m) =>
      m.kind === 'changes' && m.payload.some((c) => c.ops.some((o) => o.action === 'set' && o.value === 'evil'))
        ? { type: 'hold', code: 'SP_ERR_HELD', reason: 'looks abusive' }
        : { type: 'continue' },
  };
  before(async () => {
    t = await startTestServer({ stages: [quarantine] });
  });
  after(async () => t.close());

  test('a held change is stored in the hold table, not applied, and the client is told', async () => {
    const a = t.client();
    await a.connect();
    const errors: string[] = [];
    a.on('error', (e) => errors.push(e.code));
    const d = a.open('doc-hold');
    await d.whenSynced();
    d.change((tx) => tx.set('root', 'x', 'evil'));
    await waitFor(() => errors.includes('SP_ERR_HELD'), 5000, 'held error');
    assert.equal(t.store.changeCount(docId('doc-hold')), 0);
    const holds = t.store.listHolds();
    assert.equal(holds.length, 1);
    assert.equal(holds[0]?.stage, 'quarantine');
    assert.equal(d.pending.length, 1);
  });
});

describe('resending a large offline queue', () => {
  test(
    'queued changes bigger in total than a frame are resent in frames under the limit, and all arrive',
    { timeout: 30_000 },
    async () => {
      const t = await startTestServer({ config: { maxFrameBytes: 64 * 1024 } });
      try {
        const a = t.client();
        await a.connect();
        const d = a.open('big-offline');
        await d.whenSynced();
        d.change((tx) => void tx.makeText('root', 'body'));
        await d.whenAcked();
        const ref = d.crdt.get('root', 'body');
        assert.ok(ref?.kind === 'object');
        a.dropConnection();
        // Ten 20 kB pastes while offline: 200 kB in all, three times the frame limit.
        for (let i = 0; i < 10; i++) d.change((tx) => tx.insertText(ref.id, 0, String(i % 10).repeat(20_000)));
        await d.whenAcked();
        assert.equal(t.store.changeCount(docId('big-offline')), 11);
        assert.equal(t.server.room(docId('big-offline')).doc.length(ref.id), 200_000);
        assert.equal(t.server.stats().errors.SP_ERR_FRAME_TOO_LARGE ?? 0, 0);
      } finally {
        await t.close();
      }
    },
  );
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import { ROOT, type Change } from '../../src/engine/crdt/types.ts';
import { crc32 } from '../../src/engine/encoding/crc32.ts';
import { binaryChangeCodec } from '../../src/engine/protocol/change-codec.ts';

function must<T>(v: T | undefined): T {
  assert.ok(v !== undefined);
  return v;
}

/** Two replicas with conflicts, nested objects, tombstones, unicode, counters and a pending change. */
function richDoc(): { doc: CrdtDoc; changes: Change[]; text: string } {
  const a = new CrdtDoc(actorId('alice'));
  const b = new CrdtDoc(actorId('bob'));
  let text = '';
  const changes: Change[] = [];
  changes.push(
    must(
      a.change((tx) => {
        text = tx.makeText(ROOT, 'text');
        tx.insertText(text, 0, 'héllo wörld 😀 ✓');
        const list = tx.makeList(ROOT, 'list');
        tx.insert(list, 0, 1, -2.5, 'three', true, null, -0, 2 ** 53 - 1);
        tx.increment(tx.makeCounter(ROOT, 'n'), -7);
        tx.set(tx.makeMap(ROOT, 'meta'), 'k', 'v');
      }, 1_700_000_000_123),
    ),
  );
  b.applyChanges(changes);
  changes.push(must(a.change((tx) => tx.set(ROOT, 'title', 'A'), 1_700_000_000_000)));
  changes.push(must(b.change((tx) => tx.set(ROOT, 'title', 'B'), 0.5)));
  changes.push(must(b.change((tx) => tx.deleteText(text, 2, 5))));
  changes.push(must(a.change((tx) => tx.insertText(text, 3, 'XY'))));
  a.applyChanges(changes);
  // A change that waits for one alice never receives: save() leaves it out (it was never applied).
  const ghost = new CrdtDoc(actorId('carol'));
  ghost.applyChanges(changes);
  const lost = must(ghost.change((tx) => tx.set(ROOT, 'lost', 1)));
  const waiting = must(ghost.change((tx) => tx.set(ROOT, 'waits', 1)));
  assert.ok(lost);
  a.applyChanges([waiting]);
  assert.equal(a.pendingCount(), 1);
  return { doc: a, changes, text };
}

function corrupt(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_STORE_CORRUPT');
}

/** Replaces the trailing CRC so that damage inside gets past the checksum. */
function withCrc(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc32(body), true);
  return out;
}

describe('CrdtDoc.save / load', () => {
  test('round trip keeps state, conflicts, clock, history and exact bytes; buffered changes are not saved', () => {
    const { doc, text } = richDoc();
    const bytes = doc.save();
    const loaded = CrdtDoc.load(actorId('alice'), bytes);
    assert.deepEqual(loaded.toJSON(), doc.toJSON());
    assert.equal(loaded.text(text), 'héXYörld 😀 ✓');
    const list = must(loaded.get(ROOT, 'list'));
    assert.ok(list.kind === 'object');
    assert.ok(Object.is(loaded.list(list.id)[5], -0), '-0 survives');
    assert.deepEqual(loaded.getConflicts(ROOT, 'title'), doc.getConflicts(ROOT, 'title'));
    assert.deepEqual(loaded.clock(), doc.clock());
    assert.equal(loaded.maxOp(), doc.maxOp());
    assert.equal(loaded.pendingCount(), 0);
    assert.equal(loaded.hasChange('carol', 2), false);
    assert.deepEqual(loaded.changesSince({}), doc.changesSince({}));
    assert.deepEqual(loaded.save(), bytes);
  });

  test('a loaded document keeps editing and syncing with the others', () => {
    const { doc, text } = richDoc();
    const loaded = CrdtDoc.load(actorId('alice'), doc.save());
    const next = must(loaded.change((tx) => tx.insertText(text, 0, '>')));
    assert.equal(next.startOp, doc.maxOp() + 1);
    assert.equal(next.seq, (doc.clock()['alice'] ?? 0) + 1);
    doc.applyChanges([next]);
    assert.deepEqual(doc.toJSON(), loaded.toJSON());
    const other = CrdtDoc.load(actorId('dave'), doc.save());
    const fromDave = must(other.change((tx) => tx.set(ROOT, 'dave', true)));
    assert.deepEqual(fromDave.deps, doc.clock());
    loaded.applyChanges([fromDave]);
    assert.equal((loaded.toJSON() as Record<string, unknown>)['dave'], true);
  });

  test('history: dropped with keepHistory:false; a history-less snapshot serves only later changes', () => {
    const { doc } = richDoc();
    const slim = CrdtDoc.load(actorId('alice'), doc.save(), { keepHistory: false });
    assert.ok(slim.save().length < doc.save().length);
    assert.throws(() => slim.changesSince({}), SyncPilotError);
    const revived = CrdtDoc.load(actorId('alice'), slim.save());
    assert.deepEqual(revived.toJSON(), doc.toJSON());
    const base = revived.clock();
    assert.throws(
      () => revived.changesSince({}),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_INTERNAL',
    );
    const c = must(revived.change((tx) => tx.set(ROOT, 'after', 1)));
    assert.deepEqual(revived.changesSince(base), [c]);
    assert.deepEqual(CrdtDoc.load(actorId('x'), revived.save()).changesSince(base), [c], 'the base survives another round trip');
  });

  test('an empty document round-trips', () => {
    const d = new CrdtDoc(actorId('a'));
    const loaded = CrdtDoc.load(actorId('a'), d.save());
    assert.deepEqual(loaded.toJSON(), {});
    assert.deepEqual(loaded.clock(), {});
  });

  test('damaged bytes throw SP_ERR_STORE_CORRUPT', () => {
    const bytes = richDoc().doc.save();
    corrupt(() => CrdtDoc.load(actorId('a'), new Uint8Array(0)));
    corrupt(() => CrdtDoc.load(actorId('a'), new TextEncoder().encode('definitely not a document')));
    for (let n = 0; n < bytes.length; n += Math.max(1, Math.floor(bytes.length / 97))) {
      corrupt(() => CrdtDoc.load(actorId('a'), bytes.subarray(0, n)));
    }
    for (let i = 0; i < bytes.length; i += Math.max(1, Math.floor(bytes.length / 131))) {
      const flipped = bytes.slice();
      flipped[i] = (flipped[i] ?? 0) ^ 0x10;
      corrupt(() => CrdtDoc.load(actorId('a'), flipped));
    }
    const badVersion = bytes.slice(0, -4);
    badVersion[4] = 99;
    corrupt(() => CrdtDoc.load(actorId('a'), withCrc(badVersion)));
    const trailing = new Uint8Array(bytes.length - 4 + 1);
    trailing.set(bytes.subarray(0, -4));
    corrupt(() => CrdtDoc.load(actorId('a'), withCrc(trailing)));
  });

  test('damage that passes the checksum still loads cleanly or throws SP_ERR_STORE_CORRUPT, nothing else', () => {
    const body = richDoc().doc.save().slice(0, -4);
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let rejected = 0;
    for (let k = 0; k < 400; k++) {
      const damaged = body.slice();
      const i = 5 + Math.floor(random() * (damaged.length - 5));
      damaged[i] = Math.floor(random() * 256);
      try {
        const d = CrdtDoc.load(actorId('a'), withCrc(damaged));
        d.toJSON();
        d.save();
      } catch (err) {
        assert.ok(err instanceof SyncPilotError && err.code === 'SP_ERR_STORE_CORRUPT', String(err));
        rejected++;
      }
    }
    assert.ok(rejected > 100, `most damage is detected (${rejected}/400)`);
  });
});

describe('saved format versions', () => {
  test('a save in the retired format 1 is refused with SP_ERR_STORE_CORRUPT, not misread', () => {
    // Written by format 1 (its own change layout) for {"body":"hi","title":"v1"}; intact, checksum included.
    const v1 = Buffer.from(
      '53504344010105616c6963650104010001010101040002000002057469746c65010400000602763104626f64790106000101060001010003020002686901000f80a0abfef9620308057469746c6506027631000904626f647901000304000001026869d01a01b6',
      'hex',
    );
    assert.equal(crc32(v1.subarray(0, -4)), v1.readUInt32LE(v1.length - 4), 'the sample is undamaged');
    assert.throws(
      () => CrdtDoc.load(actorId('a'), v1),
      (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_STORE_CORRUPT' && /format version 1/.test(err.message),
    );
  });

  test('history is written in the shared change encoding: each change costs what it costs on its own', () => {
    const { doc } = richDoc();
    const changes = doc.changesSince({});
    const slim = CrdtDoc.load(actorId('alice'), doc.save(), { keepHistory: false });
    const historyBytes = doc.save().length - slim.save().length;
    // A stored change = format byte + actor table + the change; inside a save the table is shared.
    const stored = changes.reduce((n, c) => n + binaryChangeCodec.encode(c).length, 0);
    assert.ok(historyBytes < stored, `${historyBytes} bytes of history vs ${stored} stored`);
    assert.ok(historyBytes > stored - changes.length * 20, `${historyBytes} bytes of history vs ${stored} stored`);
  });

  test('an actor table naming __proto__ is refused (it would set a prototype, not a version vector entry)', () => {
    const d = new CrdtDoc(actorId('xxxxxxxxx'), { keepHistory: false });
    d.change((tx) => tx.set(ROOT, 'k', 1), 5);
    const body = Buffer.from(d.save().subarray(0, -4));
    const at = body.indexOf('xxxxxxxxx');
    assert.ok(at > 0);
    body.write('__proto__', at, 'latin1');
    corrupt(() => CrdtDoc.load(actorId('a'), withCrc(body)));
  });

  test('a history change that parses but breaks the change rules is refused', () => {
    const d = new CrdtDoc(actorId('alice'));
    d.change((tx) => tx.set(ROOT, 'k', 1), 5);
    d.change((tx) => tx.set(ROOT, 'k', 2), 5);
    const body = d.save().slice(0, -4);
    // The last change: actor 0 · seq 2 · startOp 2 · flags 1 (deps hold seq - 1) · time +0 · 1 op:
    // set · root · "k" · uint 2 · pred [1@alice].
    const last = '0002020100010100016b0302010001';
    const at = body.length - last.length / 2;
    assert.equal(Buffer.from(body.subarray(at)).toString('hex'), last);
    const noSelfDep = body.slice();
    noSelfDep[at + 3] = 0;
    assert.throws(
      () => CrdtDoc.load(actorId('a'), withCrc(noSelfDep)),
      (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_STORE_CORRUPT' && /history: change deps/.test(err.message),
    );
    const wrongStart = body.slice();
    wrongStart[at + 2] = 3;
    corrupt(() => CrdtDoc.load(actorId('a'), withCrc(wrongStart)));
    assert.deepEqual(CrdtDoc.load(actorId('a'), withCrc(body)).toJSON(), { k: 2 }, 'the undamaged body loads');
  });
});

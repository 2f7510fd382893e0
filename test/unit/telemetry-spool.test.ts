import assert from 'node:assert/strict';
import { appendFile, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { Logger } from '../../src/core/logger.ts';
import { readEmbeddedLog } from '../../src/telemetry/embedded-log-reader.ts';
import { POSITION_FILE_NAME, Spool } from '../../src/telemetry/spool/index.ts';
import type { SpoolOptions } from '../../src/telemetry/spool/index.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sp-spool-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const json = (i: number): string =>
  JSON.stringify({
    type: 'syncpilot.spool-test.v1',
    id: `e${i}`,
    time: i,
    tenant: 'default',
    key: `k${i % 3}`,
    data: { i, s: 'ünïcode ✓' },
  });
const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => json(from + k));
const texts = (bufs: readonly Buffer[]): string[] => bufs.map((b) => b.toString('utf8'));
const segmentsIn = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.log')).sort();

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { ...silentLogger, warnings, warn: (m) => void warnings.push(m) };
}

async function openSpool(dir: string, extra: Partial<SpoolOptions> = {}): Promise<Spool> {
  return Spool.open({ dir, logger: silentLogger, ...extra });
}

describe('Spool', () => {
  test('appends and reads back in order; ack moves the replay position', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    assert.equal(spool.hasPending(), false);
    const r = await spool.append(range(0, 10));
    assert.equal(r.appended, 10);
    assert.equal(spool.hasPending(), true);
    const a = await spool.read(4);
    assert.deepEqual(texts(a.payloads), range(0, 4));
    const b = await spool.read(100);
    assert.deepEqual(texts(b.payloads), range(4, 10));
    assert.deepEqual(b.next, r.to);
    assert.equal((await spool.read(100)).payloads.length, 0);
    assert.equal(spool.hasUnread(), false);
    assert.equal(spool.hasPending(), true, 'read but not acknowledged is still pending');
    await spool.ack(a.next);
    assert.equal(spool.hasPending(), true);
    await spool.ack(b.next);
    assert.equal(spool.hasPending(), false);
    await spool.close();
  });

  test('is the embedded log format: the embedded reader reads a spool', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    await spool.append(range(0, 5));
    await spool.close();
    const events = await readEmbeddedLog(dir).toArray();
    assert.deepEqual(
      events.map((e) => e.id),
      ['e0', 'e1', 'e2', 'e3', 'e4'],
    );
  });

  test('rewind re-reads from the replay position', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    await spool.append(range(0, 6));
    const a = await spool.read(2);
    await spool.ack(a.next);
    assert.deepEqual(texts((await spool.read(3)).payloads), range(2, 5));
    await spool.rewind();
    assert.deepEqual(texts((await spool.read(10)).payloads), range(2, 6));
    await spool.close();
  });

  test('seals full segments and deletes the ones wholly acknowledged, never the open one', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir, { segmentBytes: 512 });
    await spool.append(range(0, 20));
    await spool.append(range(20, 40));
    const before = await segmentsIn(dir);
    assert.ok(before.length >= 4, `expected several segments, got ${before.length}`);
    const all: string[] = [];
    for (;;) {
      const b = await spool.read(7);
      if (b.payloads.length === 0) break;
      all.push(...texts(b.payloads));
      await spool.ack(b.next);
    }
    assert.deepEqual(all, range(0, 40));
    const after = await segmentsIn(dir);
    assert.deepEqual(after, before.slice(-1), 'only the open segment is left');
    assert.equal(spool.hasPending(), false);
    await spool.close();
  });

  test('a reopened spool resumes at the persisted position: only the unacknowledged tail is read again', async () => {
    const dir = await tempDir();
    let spool = await openSpool(dir, { segmentBytes: 600 });
    await spool.append(range(0, 30));
    // 10 records end mid-segment (about 4 fit in one), so the position inside a segment matters.
    const a = await spool.read(10);
    await spool.ack(a.next);
    await spool.read(5); // read, never acknowledged: a crash mid-replay
    await spool.close();
    spool = await openSpool(dir, { segmentBytes: 600 });
    assert.equal(spool.hasPending(), true);
    const rest: string[] = [];
    for (let b = await spool.read(4); b.payloads.length > 0; b = await spool.read(4)) rest.push(...texts(b.payloads));
    assert.deepEqual(rest, range(10, 30));
    await spool.append(range(30, 32));
    assert.deepEqual(texts((await spool.read(10)).payloads), range(30, 32));
    await spool.close();
  });

  test('resetIfDrained empties the directory only when everything is acknowledged; numbering carries on', async () => {
    const dir = await tempDir();
    let spool = await openSpool(dir);
    await spool.append(range(0, 3));
    assert.equal(await spool.resetIfDrained(), false);
    const b = await spool.read(10);
    await spool.ack(b.next);
    assert.equal(await spool.resetIfDrained(), true);
    assert.deepEqual(await segmentsIn(dir), []);
    assert.equal(spool.bytes, 0);
    await spool.append(range(3, 5));
    const seg = await segmentsIn(dir);
    assert.equal(seg.length, 1);
    assert.ok(Number(seg[0]?.slice(0, 20)) >= 4, `new segment ${seg[0]} continues the numbering`);
    await spool.close();
    spool = await openSpool(dir);
    assert.deepEqual(texts((await spool.read(10)).payloads), range(3, 5));
    await spool.close();
  });

  test('after a reset and a restart, an empty spool has nothing pending and new appends are read', async () => {
    const dir = await tempDir();
    let spool = await openSpool(dir);
    await spool.append(range(0, 2));
    await spool.ack((await spool.read(10)).next);
    await spool.resetIfDrained();
    await spool.close();
    spool = await openSpool(dir);
    assert.equal(spool.hasPending(), false);
    await spool.append(range(2, 4));
    assert.equal(spool.hasPending(), true);
    assert.deepEqual(texts((await spool.read(10)).payloads), range(2, 4));
    await spool.close();
  });

  test('a torn tail from a crash is truncated on open; appends after it are readable', async () => {
    const dir = await tempDir();
    let spool = await openSpool(dir);
    await spool.append(range(0, 4));
    await spool.close();
    const [seg] = await segmentsIn(dir);
    assert.ok(seg !== undefined);
    // Half a header and a few payload bytes: an append cut short by kill -9.
    await appendFile(join(dir, seg), Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 0x7b, 0x22]));
    spool = await openSpool(dir);
    await spool.append(range(4, 6));
    assert.deepEqual(texts((await spool.read(10)).payloads), range(0, 6));
    await spool.close();
  });

  test('damage in the middle of a sealed segment skips the rest of that segment, with a warning', async () => {
    const dir = await tempDir();
    const logger = recordingLogger();
    let spool = await openSpool(dir, { segmentBytes: 700 });
    await spool.append(range(0, 20));
    await spool.close();
    const segs = await segmentsIn(dir);
    assert.ok(segs.length >= 3);
    const first = join(dir, segs[0] ?? '');
    const fh = await open(first, 'r+');
    // Flip a byte inside the second record's payload.
    const bytes = await readFile(first);
    const firstLen = bytes.readUInt32LE(0);
    await fh.write(Buffer.from([0x21]), 0, 1, 8 + firstLen + 8 + 3);
    await fh.close();
    spool = await openSpool(dir, { segmentBytes: 700, logger });
    const got: string[] = [];
    let damaged = 0;
    for (let b = await spool.read(5); b.payloads.length > 0 || b.damaged > 0; b = await spool.read(5)) {
      got.push(...texts(b.payloads));
      damaged += b.damaged;
    }
    assert.equal(damaged, 1);
    assert.ok(logger.warnings.some((w) => w.includes('damaged')));
    assert.equal(got[0], json(0));
    assert.ok(!got.includes(json(1)), 'the damaged record is not handed out');
    assert.equal(got.at(-1), json(19), 'later segments are still read');
    await spool.close();
  });

  test('an unreadable replay position replays the whole spool (at-least-once), with a warning', async () => {
    const dir = await tempDir();
    let spool = await openSpool(dir);
    await spool.append(range(0, 5));
    await spool.ack((await spool.read(3)).next);
    await spool.close();
    await writeFile(join(dir, POSITION_FILE_NAME), '{"v":1,"segm');
    const logger = recordingLogger();
    spool = await openSpool(dir, { logger });
    assert.deepEqual(texts((await spool.read(10)).payloads), range(0, 5));
    assert.ok(logger.warnings.some((w) => w.includes('replay position')));
    await spool.close();
  });

  test('refuses appends past maxBytes and counts them', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir, { maxBytes: 1024 });
    const r = await spool.append(range(0, 50));
    assert.ok(r.appended > 0 && r.appended < 50, `appended ${r.appended}`);
    assert.equal(r.appended + r.droppedFull, 50);
    assert.ok(spool.bytes <= 1024);
    assert.deepEqual(texts((await spool.read(100)).payloads), range(0, r.appended));
    await spool.close();
  });

  test('ackIfAt acknowledges a range only when nothing before it is pending', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    const a = await spool.append(range(0, 2));
    const b = await spool.append(range(2, 4));
    assert.equal(await spool.ackIfAt(b.from, b.to), false, 'a is still pending before b');
    assert.equal(await spool.ackIfAt(a.from, a.to), true);
    assert.deepEqual(texts((await spool.read(10)).payloads), range(2, 4));
    await spool.close();
  });

  test('one process per directory; a second open is refused with SP_ERR_TELEMETRY', async () => {
    const dir = await tempDir();
    const spool = await openSpool(dir);
    await assert.rejects(openSpool(dir), (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_TELEMETRY');
    await spool.close();
    const again = await openSpool(dir);
    await again.close();
  });

  test('bad options are SP_ERR_CONFIG_INVALID; use after close is SP_ERR_CLOSED', async () => {
    await assert.rejects(Spool.open({ dir: '' }), (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID');
    const spool = await openSpool(await tempDir());
    await spool.close();
    await spool.close();
    await assert.rejects(spool.append(range(0, 1)), (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CLOSED');
  });
});

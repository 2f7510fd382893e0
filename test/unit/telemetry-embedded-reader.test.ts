import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { EmbeddedLogSink, listSegments, readEmbeddedLog, segmentFileName, tailEmbeddedLog } from '../../src/telemetry/index.ts';
import type { EmbeddedLogEntry } from '../../src/telemetry/index.ts';
import { conformanceEvent as ev } from '../../src/testing/telemetry-sink-conformance.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sp-telemetry-reader-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function entriesOf(reader: AsyncIterable<EmbeddedLogEntry>): Promise<EmbeddedLogEntry[]> {
  const out: EmbeddedLogEntry[] = [];
  for await (const e of reader) out.push(e);
  return out;
}

describe('readEmbeddedLog / tailEmbeddedLog', () => {
  test('an empty or missing directory reads as no events', async () => {
    const dir = await tempDir();
    assert.deepEqual(await readEmbeddedLog(dir).toArray(), []);
    assert.deepEqual(await readEmbeddedLog(join(dir, 'nope')).toArray(), []);
  });

  test('from a position: inclusive at `position`, resuming at `next`, across segments', async () => {
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, segmentBytes: 1024, logger: silentLogger });
    for (let i = 0; i < 30; i++) sink.emit(ev(i));
    await sink.close();
    const all = await entriesOf(readEmbeddedLog(dir));
    assert.equal(all.length, 30);
    assert.ok(new Set(all.map((e) => e.position.segment)).size > 2);
    for (const k of [0, 7, 13, 29]) {
      const at = all[k];
      assert.ok(at !== undefined);
      const from = await readEmbeddedLog(dir, { from: at.position }).toArray();
      assert.deepEqual(
        from.map((e) => e.data['i']),
        all.slice(k).map((e) => e.event.data['i']),
      );
      const resumed = await readEmbeddedLog(dir, { from: at.next }).toArray();
      assert.deepEqual(
        resumed.map((e) => e.data['i']),
        all.slice(k + 1).map((e) => e.event.data['i']),
      );
    }
  });

  test('a start segment that no longer exists starts at the next one, with a warning', async () => {
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, segmentBytes: 1024, logger: silentLogger });
    for (let i = 0; i < 20; i++) sink.emit(ev(i));
    await sink.close();
    const segs = await listSegments(dir);
    await rm(join(dir, segmentFileName(segs[0] ?? 1)));
    const reader = readEmbeddedLog(dir, { from: { segment: 1, offset: 0 } });
    const got = await reader.toArray();
    assert.equal(got.length, 20 - ((segs[1] ?? 0) - 1));
    assert.equal(reader.report().warnings[0]?.kind, 'missing-segment');
  });

  test('a checksummed record that is not an event is skipped with a warning', async () => {
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    sink.emit(ev(0));
    sink.emit({ type: 'x', id: 'y', time: 'not a number', key: 'k', data: {} } as never);
    sink.emit(ev(2));
    await sink.close();
    const reader = readEmbeddedLog(dir);
    assert.deepEqual(
      (await reader.toArray()).map((e) => e.data['i']),
      [0, 2],
    );
    assert.equal(reader.report().warnings[0]?.kind, 'invalid-record');
  });

  test('tail follows appends and rotation until aborted', async () => {
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, segmentBytes: 1024, flushIntervalMs: 2, logger: silentLogger });
    const ac = new AbortController();
    const seen: unknown[] = [];
    const tailing = (async () => {
      for await (const e of tailEmbeddedLog(dir, { pollIntervalMs: 5, signal: ac.signal })) {
        seen.push(e.event.data['i']);
        if (seen.length === 40) ac.abort();
      }
    })();
    for (let i = 0; i < 40; i++) {
      sink.emit(ev(i));
      if (i % 5 === 4) await sink.flush();
    }
    await sink.close();
    const timeout = setTimeout(() => ac.abort(), 10_000);
    await tailing;
    clearTimeout(timeout);
    assert.deepEqual(
      seen,
      Array.from({ length: 40 }, (_, i) => i),
    );
    assert.ok((await listSegments(dir)).length > 3, 'the tail crossed several segments');
  });

  test('tail waits on a half-written record instead of skipping it', async () => {
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    sink.emit(ev(0));
    sink.emit(ev(1));
    await sink.close();
    const path = join(dir, segmentFileName(1));
    const whole = await readFile(path);
    const entries = await entriesOf(readEmbeddedLog(dir));
    const cut = (entries[1]?.position.offset ?? 0) + 13;
    await writeFile(path, whole.subarray(0, cut));

    const ac = new AbortController();
    const seen: unknown[] = [];
    const tailing = (async () => {
      for await (const e of tailEmbeddedLog(dir, { pollIntervalMs: 5, signal: ac.signal })) {
        seen.push(e.event.data['i']);
        if (seen.length === 2) ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, [0]);
    await appendFile(path, whole.subarray(cut));
    const timeout = setTimeout(() => ac.abort(), 10_000);
    await tailing;
    clearTimeout(timeout);
    assert.deepEqual(seen, [0, 1]);
  });
});

import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { EmbeddedLogSink, listSegments, readEmbeddedLog, segmentFileName } from '../../src/telemetry/index.ts';
import type { EmbeddedLogEntry } from '../../src/telemetry/index.ts';
import { conformanceEvent as ev } from '../../src/testing/telemetry-sink-conformance.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sp-telemetry-recovery-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function writeLog(dir: string, from: number, to: number, segmentBytes?: number): Promise<void> {
  const sink = await EmbeddedLogSink.open(
    segmentBytes === undefined ? { dir, logger: silentLogger } : { dir, segmentBytes, logger: silentLogger },
  );
  for (let i = from; i < to; i++) sink.emit(ev(i));
  await sink.close();
}
const indexes = async (dir: string): Promise<unknown[]> => (await readEmbeddedLog(dir).toArray()).map((e) => e.data['i']);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('embedded log recovery', () => {
  test('a torn last record, cut at every byte offset, is skipped by readers and truncated on open', async () => {
    const dir = await tempDir();
    await writeLog(dir, 0, 4);
    const path = join(dir, segmentFileName(1));
    const whole = await readFile(path);
    const entries: EmbeddedLogEntry[] = [];
    for await (const e of readEmbeddedLog(dir)) entries.push(e);
    const lastStart = entries.at(-1)?.position.offset ?? 0;
    assert.ok(lastStart > 0 && lastStart < whole.length);

    for (let cut = lastStart; cut < whole.length; cut++) {
      await writeFile(path, whole.subarray(0, cut));
      const reader = readEmbeddedLog(dir);
      assert.deepEqual(await reader.toArray().then((es) => es.map((e) => e.data['i'])), [0, 1, 2], `cut at ${cut}`);
      const r = reader.report();
      assert.equal(r.warnings.length, 0, `a torn tail is not a warning (cut at ${cut})`);
      assert.equal(r.tornTail?.bytes ?? 0, cut - lastStart);

      const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
      assert.equal(sink.recovery.truncatedBytes, cut - lastStart, `cut at ${cut}`);
      sink.emit(ev(9));
      await sink.close();
      assert.deepEqual(await indexes(dir), [0, 1, 2, 9], `append after recovery, cut at ${cut}`);
    }
  });

  test('a bad checksum on the last record is a torn tail too', async () => {
    const dir = await tempDir();
    await writeLog(dir, 0, 3);
    const path = join(dir, segmentFileName(1));
    const bytes = await readFile(path);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    const reader = readEmbeddedLog(dir);
    assert.deepEqual(
      (await reader.toArray()).map((e) => e.data['i']),
      [0, 1],
    );
    assert.match(reader.report().tornTail?.reason ?? '', /checksum/);
    const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    assert.ok(sink.recovery.truncatedBytes > 0);
    await sink.close();
  });

  test('zero fill after the last record (a crash after the size grew) is truncated', async () => {
    const dir = await tempDir();
    await writeLog(dir, 0, 3);
    const path = join(dir, segmentFileName(1));
    const size = (await stat(path)).size;
    await appendFile(path, Buffer.alloc(300));
    assert.deepEqual(await indexes(dir), [0, 1, 2]);
    const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    assert.equal(sink.recovery.truncatedBytes, 300);
    await sink.close();
    assert.equal((await stat(path)).size, size);
  });

  test('corruption mid-segment skips to the next segment with a warning', async () => {
    const dir = await tempDir();
    await writeLog(dir, 0, 30, 1024);
    const segs = await listSegments(dir);
    assert.ok(segs.length >= 3);
    const entries: EmbeddedLogEntry[] = [];
    for await (const e of readEmbeddedLog(dir)) entries.push(e);
    const inFirst = entries.filter((e) => e.position.segment === segs[0]);
    assert.ok(inFirst.length >= 3, 'need a record in the middle of the first segment');
    const victim = inFirst[1];
    assert.ok(victim !== undefined);
    const path = join(dir, segmentFileName(victim.position.segment));
    const bytes = await readFile(path);
    const at = victim.position.offset + 20; // inside the payload
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(path, bytes);

    const reader = readEmbeddedLog(dir);
    const got = (await reader.toArray()).map((e) => e.data['i']);
    const lostCount = inFirst.length - 1;
    assert.deepEqual(got, [0, ...range(inFirst.length, 30)]);
    assert.equal(got.length, 30 - lostCount);
    const { warnings, tornTail } = reader.report();
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.kind, 'corrupt-segment');
    assert.deepEqual(warnings[0]?.position, victim.position);
    assert.equal(tornTail, undefined);
  });

  test('mid-segment damage in the last segment is preserved; appends go to a new segment', async () => {
    const dir = await tempDir();
    await writeLog(dir, 0, 5);
    const path = join(dir, segmentFileName(1));
    const before = await readFile(path);
    const entries: EmbeddedLogEntry[] = [];
    for await (const e of readEmbeddedLog(dir)) entries.push(e);
    const at = (entries[2]?.position.offset ?? 0) + 12;
    before[at] = (before[at] ?? 0) ^ 0x01;
    await writeFile(path, before);

    const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    assert.equal(sink.recovery.abandonedSegment, 1);
    assert.equal(sink.recovery.truncatedBytes, 0);
    sink.emit(ev(7));
    await sink.close();
    assert.deepEqual(await readFile(path), before, 'the damaged segment is left as it was');
    const segs = await listSegments(dir);
    assert.equal(segs.length, 2);
    assert.ok((segs[1] ?? 0) > 1);
    const reader = readEmbeddedLog(dir);
    assert.deepEqual(
      (await reader.toArray()).map((e) => e.data['i']),
      [0, 1, 7],
    );
    assert.equal(reader.report().warnings.length, 1);
  });

  test('a header cut short in a sealed (non-last) segment is a warning, and reading goes on', async () => {
    const dir = await tempDir();
    await writeLog(dir, 0, 20, 1024);
    const segs = await listSegments(dir);
    const first = join(dir, segmentFileName(segs[0] ?? 1));
    await appendFile(first, Buffer.from([0x30, 0x00, 0x00]));
    const reader = readEmbeddedLog(dir);
    assert.deepEqual(
      (await reader.toArray()).map((e) => e.data['i']),
      range(0, 20),
    );
    assert.equal(reader.report().warnings.length, 1);
    assert.equal(reader.report().tornTail, undefined);
  });

  test('an empty last segment (crash right after rotation) is reused', async () => {
    const dir = await tempDir();
    await writeLog(dir, 0, 3);
    await writeFile(join(dir, segmentFileName(4)), '');
    await truncate(join(dir, segmentFileName(4)), 0);
    await writeLog(dir, 3, 5);
    assert.deepEqual(await listSegments(dir), [1, 4]);
    assert.deepEqual(await indexes(dir), range(0, 5));
  });
});

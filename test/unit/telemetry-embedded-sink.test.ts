import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { Logger } from '../../src/core/logger.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { EmbeddedLogSink, listSegments, readEmbeddedLog, segmentFileName } from '../../src/telemetry/index.ts';
import type { EmbeddedLogEntry } from '../../src/telemetry/index.ts';
import { RECORD_HEADER_BYTES } from '../../src/telemetry/log-format.ts';
import { conformanceEvent as ev } from '../../src/testing/telemetry-sink-conformance.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sp-telemetry-sink-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function capturingLogger(): { logger: Logger; lines: { level: string; msg: string }[] } {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (msg: string) => void lines.push({ level, msg });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

const bytesOf = (e: TelemetryEvent): number => RECORD_HEADER_BYTES + Buffer.byteLength(JSON.stringify(e));

describe('EmbeddedLogSink', () => {
  test('rotates segments before they exceed segmentBytes; names are first sequence numbers', async () => {
    const dir = await tempDir();
    const segmentBytes = 1024;
    const sink = await EmbeddedLogSink.open({ dir, segmentBytes, logger: silentLogger });
    const events = Array.from({ length: 60 }, (_, i) => ev(i));
    const big: TelemetryEvent = { ...ev(60), data: { blob: 'x'.repeat(3000) } };
    for (const e of events) sink.emit(e);
    sink.emit(big);
    sink.emit(ev(61));
    await sink.close();

    const all = [...events, big, ev(61)];
    const segs = await listSegments(dir);
    assert.ok(segs.length >= 5, `expected several segments, got ${segs.length}`);
    assert.equal(segs[0], 1);
    assert.equal(segmentFileName(1), '00000000000000000001.log');
    // Each segment's name is the previous name plus the previous segment's record count.
    const read = readEmbeddedLog(dir);
    const entries: EmbeddedLogEntry[] = [];
    for await (const e of read) entries.push(e);
    assert.deepEqual(
      entries.map((e) => e.event.data),
      all.map((e) => e.data),
    );
    let seq = 1;
    for (const s of segs) {
      assert.equal(s, seq);
      const inSeg = entries.filter((e) => e.position.segment === s);
      seq += inSeg.length;
      const size = (await stat(join(dir, segmentFileName(s)))).size;
      if (inSeg.some((e) => e.event.data['blob'] !== undefined)) {
        assert.equal(inSeg.length, 1, 'an oversized record must sit alone in its segment');
        assert.equal(size, bytesOf(big));
      } else {
        assert.ok(size <= segmentBytes, `segment ${s} is ${size} bytes`);
      }
    }
    assert.equal(read.report().warnings.length, 0);
  });

  test('reopening continues the sequence in the last segment', async () => {
    const dir = await tempDir();
    const first = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    for (let i = 0; i < 5; i++) first.emit(ev(i));
    await first.close();
    const second = await EmbeddedLogSink.open({ dir, segmentBytes: 2048, logger: silentLogger });
    assert.deepEqual(second.recovery, { truncatedBytes: 0, abandonedSegment: undefined });
    for (let i = 5; i < 30; i++) second.emit(ev(i));
    await second.close();
    const got = await readEmbeddedLog(dir).toArray();
    assert.deepEqual(
      got.map((e) => e.data['i']),
      Array.from({ length: 30 }, (_, i) => i),
    );
    const segs = await listSegments(dir);
    assert.equal(segs[0], 1);
    assert.ok(segs.length > 1);
    assert.ok((segs[1] ?? 0) > 5, 'the second segment starts after the first five records');
  });

  test('a full buffer drops and counts instead of blocking', async () => {
    const dir = await tempDir();
    const { logger, lines } = capturingLogger();
    const sink = await EmbeddedLogSink.open({ dir, maxBufferedEvents: 10, logger });
    for (let i = 0; i < 25; i++) sink.emit(ev(i));
    assert.equal(sink.detailedStats().buffered, 10);
    await sink.flush();
    const s = sink.detailedStats();
    assert.equal(s.emitted, 25);
    assert.equal(s.written, 10);
    assert.equal(s.dropped, 15);
    assert.equal(s.droppedBufferFull, 15);
    assert.equal(lines.filter((l) => l.level === 'warn').length, 1, 'buffer-full is logged once');
    // Room again after the flush.
    sink.emit(ev(99));
    await sink.close();
    assert.equal((await readEmbeddedLog(dir).toArray()).length, 11);
  });

  test('events that cannot be serialised are dropped and counted, the rest written', async () => {
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    sink.emit(ev(1));
    sink.emit({ ...ev(2), data: { n: 10n } });
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    sink.emit({ ...ev(3), data: circular });
    sink.emit(ev(4));
    await sink.close();
    assert.equal(sink.detailedStats().droppedUnencodable, 2);
    assert.deepEqual(sink.stats(), { emitted: 4, written: 2, dropped: 2 });
    assert.deepEqual(
      (await readEmbeddedLog(dir).toArray()).map((e) => e.data['i']),
      [1, 4],
    );
  });

  test('write errors reject the next flush once, are logged once, and never reach emit', async () => {
    const dir = await tempDir();
    const { logger, lines } = capturingLogger();
    const sink = await EmbeddedLogSink.open({ dir, segmentBytes: 512, logger });
    sink.emit(ev(0));
    await sink.flush();
    // A directory squatting on the next segment's name makes the rotation's open() fail.
    const segs = await listSegments(dir);
    for (let seq = (segs[0] ?? 1) + 1; seq < 20; seq++) await mkdir(join(dir, segmentFileName(seq)));
    for (let i = 1; i < 10; i++) assert.doesNotThrow(() => sink.emit(ev(i)));
    await assert.rejects(sink.flush(), (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_TELEMETRY' && err.retryable);
    await sink.flush(); // the failure was reported; nothing new failed
    for (let i = 10; i < 15; i++) sink.emit(ev(i));
    await assert.rejects(sink.flush());
    const s = sink.detailedStats();
    assert.ok(s.writeErrors >= 2);
    assert.equal(s.written + s.dropped, s.emitted);
    assert.ok(s.droppedWriteFailed >= 13, `dropped ${s.droppedWriteFailed}`);
    assert.equal(lines.filter((l) => l.level === 'error').length, 1, 'write errors are logged once');
    await sink.close();
    // What was written before the failure is intact.
    assert.deepEqual(
      (await readEmbeddedLog(dir).toArray()).slice(0, 1).map((e) => e.data['i']),
      [0],
    );
  });

  test('one writer per directory: a second open is refused until the first closes', async () => {
    const dir = await tempDir();
    const a = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    await assert.rejects(
      EmbeddedLogSink.open({ dir, logger: silentLogger }),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_TELEMETRY',
    );
    await a.close();
    const b = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    await b.close();
  });

  test('a lock held by a live process is respected; one left by a dead process is taken over', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), `${process.ppid}\n`);
    await assert.rejects(EmbeddedLogSink.open({ dir, logger: silentLogger }), /locked by live process/);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    await writeFile(join(dir, 'LOCK'), `${dead.stdout}\n`);
    const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    assert.equal((await readFile(join(dir, 'LOCK'), 'utf8')).trim(), String(process.pid));
    await sink.close();
  });

  test('bad options fail with SP_ERR_CONFIG_INVALID', async () => {
    const dir = await tempDir();
    for (const bad of [{ dir, segmentBytes: 10 }, { dir, maxBufferedEvents: 0 }, { dir, flushIntervalMs: -1 }, { dir: '' }]) {
      await assert.rejects(EmbeddedLogSink.open(bad), (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID');
    }
  });

  test('the timer writes buffered events without an explicit flush', async () => {
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, flushIntervalMs: 5, logger: silentLogger });
    sink.emit(ev(1));
    const deadline = Date.now() + 5_000;
    while (sink.stats().written === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(sink.stats().written, 1);
    assert.equal((await readEmbeddedLog(dir).toArray()).length, 1);
    await sink.close();
  });

  test('hot path: 100k emits are synchronous, do no I/O, and are all written after flush', async () => {
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
    const n = 100_000;
    const events = Array.from({ length: n }, (_, i) => ev(i));
    const block = 1_000;
    const perEmitNs: number[] = [];
    for (let i = 0; i < n; i += block) {
      const t0 = process.hrtime.bigint();
      for (let k = i; k < i + block; k++) sink.emit(events[k] as TelemetryEvent);
      perEmitNs.push(Number(process.hrtime.bigint() - t0) / block);
    }
    // Nothing can have been written: the loop never yielded to the event loop.
    assert.equal(sink.stats().written, 0);
    assert.equal(sink.detailedStats().buffered, n);
    perEmitNs.sort((a, b) => a - b);
    const median = perEmitNs[perEmitNs.length >> 1] ?? Infinity;
    // A sanity bound only (the real figure, ~tens of ns, is in bench/telemetry/embedded.ts).
    assert.ok(median < 20_000, `median emit ${median} ns`);
    await sink.close();
    assert.deepEqual(sink.stats(), { emitted: n, written: n, dropped: 0 });
  });
});

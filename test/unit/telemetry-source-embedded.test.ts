import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { EmbeddedLogSink } from '../../src/telemetry/embedded-log-sink.ts';
import { EmbeddedTelemetrySource } from '../../src/telemetry/source/embedded-telemetry-source.ts';
import type { SourcedEvent } from '../../src/telemetry/source/telemetry-source.ts';
import { accessEvent, runTelemetrySourceConformance } from '../../src/testing/telemetry-source-conformance.ts';

async function embeddedFixture(segmentBytes?: number) {
  const dir = await mkdtemp(join(tmpdir(), 'sp-source-'));
  const sink = await EmbeddedLogSink.open({
    dir,
    logger: silentLogger,
    flushIntervalMs: 1,
    ...(segmentBytes === undefined ? {} : { segmentBytes }),
  });
  return {
    dir,
    sink,
    open: async (name: string, o: { maxBatchEvents: number }) =>
      new EmbeddedTelemetrySource({ dir, name, fromBeginning: true, pollIntervalMs: 10, logger: silentLogger, ...o }),
    append: async (events: readonly TelemetryEvent[]) => {
      for (const e of events) sink.emit(e);
      await sink.flush();
    },
    teardown: async () => {
      await sink.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

runTelemetrySourceConformance('EmbeddedTelemetrySource', () => embeddedFixture(), { timeoutMs: 20_000 });
// Small segments: batches and restarts cross segment rotations.
runTelemetrySourceConformance('EmbeddedTelemetrySource (1 KiB segments)', () => embeddedFixture(1024), { timeoutMs: 20_000 });

/** Runs `source` until `n` events were handled (or `ms` passed once they were), returning them. */
async function take(source: EmbeddedTelemetrySource, n: number, quietMs = 300): Promise<SourcedEvent[]> {
  const got: SourcedEvent[] = [];
  const ctrl = new AbortController();
  const timeout = setTimeout(() => ctrl.abort(), 15_000);
  let quiet: NodeJS.Timeout | undefined;
  try {
    await source.run(
      async (batch) => {
        got.push(...batch);
        if (got.length >= n && quiet === undefined) quiet = setTimeout(() => ctrl.abort(), quietMs);
      },
      { signal: ctrl.signal },
    );
  } finally {
    clearTimeout(timeout);
    clearTimeout(quiet);
  }
  return got;
}

describe('EmbeddedTelemetrySource', () => {
  test('commits to <dir>/consumers/<name>.json atomically, leaving no temporary file', async () => {
    const f = await embeddedFixture();
    try {
      await f.append(Array.from({ length: 12 }, (_, i) => accessEvent(i)));
      const source = await f.open('pipeline-a', { maxBatchEvents: 5 });
      assert.equal((await take(source, 12)).length, 12);
      const file = join(f.dir, 'consumers', 'pipeline-a.json');
      const saved = JSON.parse(await readFile(file, 'utf8')) as { version: number; segment: number; offset: number };
      assert.equal(saved.version, 1);
      assert.equal(`${saved.segment}:${saved.offset}`, source.position);
      assert.ok(saved.offset > 0);
      assert.deepEqual(await readdir(join(f.dir, 'consumers')), ['pipeline-a.json']);
      assert.equal(source.stats().committed, 12);
    } finally {
      await f.teardown();
    }
  });

  test('a damaged position file is an error, not a silent restart from the beginning', async () => {
    const f = await embeddedFixture();
    try {
      await f.append([accessEvent(0)]);
      await take(await f.open('c', { maxBatchEvents: 5 }), 1);
      await writeFile(join(f.dir, 'consumers', 'c.json'), '{"version":1,"segm');
      await assert.rejects(
        take(await f.open('c', { maxBatchEvents: 5 }), 1),
        (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_STORE_CORRUPT',
      );
    } finally {
      await f.teardown();
    }
  });

  test('without fromBeginning a new consumer starts at the end of the log', async () => {
    const f = await embeddedFixture();
    try {
      await f.append(Array.from({ length: 5 }, (_, i) => accessEvent(i)));
      const source = new EmbeddedTelemetrySource({ dir: f.dir, name: 'latest', pollIntervalMs: 10, logger: silentLogger });
      const later = Array.from({ length: 3 }, (_, i) => accessEvent(10 + i));
      const ctrl = new AbortController();
      const got: string[] = [];
      const running = source.run(
        async (b) => {
          got.push(...b.map((e) => e.event.id));
          if (got.length >= 3) setTimeout(() => ctrl.abort(), 200);
        },
        { signal: ctrl.signal },
      );
      await new Promise((r) => setTimeout(r, 100));
      await f.append(later);
      await running;
      assert.deepEqual(
        got,
        later.map((e) => e.id),
      );
    } finally {
      await f.teardown();
    }
  });

  test('an unnamed source persists nothing, and its next run resumes where the last one committed', async () => {
    const f = await embeddedFixture();
    try {
      await f.append(Array.from({ length: 4 }, (_, i) => accessEvent(i)));
      const source = new EmbeddedTelemetrySource({ dir: f.dir, fromBeginning: true, pollIntervalMs: 10, logger: silentLogger });
      assert.equal((await take(source, 4)).length, 4);
      await f.append([accessEvent(9)]);
      const again = await take(source, 1);
      assert.equal(again.length, 1);
      assert.equal(existsSync(join(f.dir, 'consumers')), false);
    } finally {
      await f.teardown();
    }
  });

  test('records that are not events at all are counted as invalid; other families are skipped, not counted', async () => {
    const f = await embeddedFixture();
    try {
      f.sink.emit({ not: 'an event' } as unknown as TelemetryEvent);
      const latency: TelemetryEvent = {
        ...accessEvent(1),
        type: 'syncpilot.sync-latency.v1',
        data: { doc: 'd', peer: 'p', changes: 1, applied: 1, bytes: 1, applyMicros: 1, queuedMicros: 1 },
      };
      await f.append([accessEvent(0), latency, accessEvent(2)]);
      const source = await f.open('mixed', { maxBatchEvents: 10 });
      const got: SourcedEvent[] = [];
      const ctrl = new AbortController();
      await source.run(
        async (b) => {
          got.push(...b);
          if (got.length >= 2) setTimeout(() => ctrl.abort(), 200);
        },
        { signal: ctrl.signal, families: ['access'] },
      );
      assert.deepEqual(
        got.map((e) => e.event.type),
        ['syncpilot.access.v1', 'syncpilot.access.v1'],
      );
      assert.equal(source.stats().invalid, 1);
      assert.equal(source.stats().received, 3);
    } finally {
      await f.teardown();
    }
  });

  test('invalid consumer names and options are refused with SP_ERR_CONFIG_INVALID', () => {
    for (const name of ['../x', '', '.hidden', 'a/b']) {
      assert.throws(
        () => new EmbeddedTelemetrySource({ dir: '/tmp/x', name }),
        (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID',
        name,
      );
    }
    assert.throws(() => new EmbeddedTelemetrySource({ dir: '/tmp/x', maxBatchEvents: 0 }), /SP_ERR_CONFIG_INVALID|invalid/);
  });
});

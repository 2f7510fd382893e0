import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { EmbeddedLogSink } from '../../src/telemetry/embedded-log-sink.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import { EmbeddedTelemetrySource } from '../../src/telemetry/source/embedded-telemetry-source.ts';
import { readTelemetryDataset, type TelemetryRow } from '../../training/dataset/readers.ts';

let n = 0;
function compression(
  peer: string,
  rawBytes: number,
  encodedBytes: number,
  decision: 'raw' | 'compress' = 'compress',
  id?: string,
): TelemetryEvent {
  n++;
  return {
    type: 'syncpilot.compression.v1',
    id: id ?? `c-${n}`,
    time: 1_700_000_000_000 + n,
    tenant: 'default',
    key: peer,
    data: { peer, decision, codec: decision === 'raw' ? 'raw' : 'brotli', level: 4, rawBytes, encodedBytes, encodeMicros: 10 },
  };
}

function access(doc: string): TelemetryEvent {
  n++;
  return {
    type: 'syncpilot.access.v1',
    id: `a-${n}`,
    time: 1_700_000_000_000 + n,
    tenant: 'default',
    key: doc,
    data: { doc, peer: 'p1', action: 'open' },
  };
}

/** Compressed outcomes only: log2 size → ratio, grouped by peer. */
function toRow(e: SyncPilotEvent): TelemetryRow | undefined {
  if (e.type !== 'syncpilot.compression.v1' || e.data.decision !== 'compress' || e.data.rawBytes === 0) return undefined;
  return { x: [Math.log2(e.data.rawBytes)], y: [e.data.encodedBytes / e.data.rawBytes], group: e.data.peer };
}

const columns = { featureNames: ['log2Raw'], targetNames: ['ratio'] };

describe('readTelemetryDataset over the embedded log', () => {
  let dir = '';
  let sink: EmbeddedLogSink;
  const source = (name?: string) =>
    new EmbeddedTelemetrySource({
      dir,
      fromBeginning: true,
      pollIntervalMs: 10,
      logger: silentLogger,
      ...(name === undefined ? {} : { name }),
    });
  const append = async (events: readonly TelemetryEvent[]) => {
    for (const e of events) sink.emit(e);
    await sink.flush();
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-training-telemetry-'));
    sink = await EmbeddedLogSink.open({ dir, logger: silentLogger, flushIntervalMs: 1 });
  });
  afterEach(async () => {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('turns compression events into rows, skips what toRow skips and other families, stops when idle', async () => {
    await append([
      compression('p1', 1024, 300),
      access('d1'),
      compression('p2', 64, 70),
      compression('p1', 20, 20, 'raw'),
      compression('p3', 4096, 1000),
    ]);
    const s = source();
    try {
      const r = await readTelemetryDataset(s, { ...columns, families: ['compression'], toRow, stopAfter: { idleMs: 300 } });
      assert.equal(r.stoppedBy, 'idle');
      assert.equal(r.events, 4, 'the access event is filtered out by family');
      assert.equal(r.skipped, 1, 'the raw decision has no ratio to learn');
      assert.equal(r.dataset.rows, 3);
      assert.deepEqual([...r.dataset.x], [10, 6, 12]);
      assert.deepEqual([...r.dataset.y], [300 / 1024, 70 / 64, 1000 / 4096].map(Math.fround));
      assert.deepEqual(r.dataset.groups, ['p1', 'p2', 'p3']);
      assert.deepEqual(r.dataset.featureNames, ['log2Raw']);
    } finally {
      await s.close();
    }
  });

  test('stops after the requested number of rows', async () => {
    await append(Array.from({ length: 20 }, (_, i) => compression(`p${i}`, 100 + i, 50)));
    const s = source();
    try {
      const r = await readTelemetryDataset(s, { ...columns, toRow, stopAfter: { rows: 7 } });
      assert.equal(r.stoppedBy, 'rows');
      assert.equal(r.dataset.rows, 7);
      assert.deepEqual(r.dataset.groups, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    } finally {
      await s.close();
    }
  });

  test('re-delivered events (same id) count once', async () => {
    await append([
      compression('p1', 1000, 100, 'compress', 'dup'),
      compression('p1', 1000, 100, 'compress', 'dup'),
      compression('p2', 2000, 100),
    ]);
    const s = source();
    try {
      const r = await readTelemetryDataset(s, { ...columns, toRow, stopAfter: { idleMs: 200 } });
      assert.equal(r.dataset.rows, 2);
      assert.equal(r.duplicates, 1);
    } finally {
      await s.close();
    }
  });

  test('a named source resumes after the rows already read', async () => {
    await append([compression('p1', 1000, 100), compression('p2', 2000, 100)]);
    const first = source('trainer');
    try {
      assert.equal((await readTelemetryDataset(first, { ...columns, toRow, stopAfter: { idleMs: 200 } })).dataset.rows, 2);
    } finally {
      await first.close();
    }
    await append([compression('p3', 3000, 100)]);
    const second = source('trainer');
    try {
      const r = await readTelemetryDataset(second, { ...columns, toRow, stopAfter: { idleMs: 200 } });
      assert.deepEqual(r.dataset.groups, ['p3']);
    } finally {
      await second.close();
    }
  });

  test('bad rows, a throwing toRow and no rows at all fail with SP_ERR_DATASET_INVALID (without hanging)', async () => {
    await append([compression('p1', 1000, 100), compression('p2', 2000, 100)]);
    const isInvalid = (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_DATASET_INVALID';
    for (const bad of [
      () => ({ x: [1, 2], y: [3] }),
      () => {
        throw new Error('boom');
      },
      () => ({ x: [NaN], y: [1] }),
      () => undefined,
    ]) {
      const s = source();
      try {
        await assert.rejects(readTelemetryDataset(s, { ...columns, toRow: bad, stopAfter: { idleMs: 200 } }), isInvalid);
      } finally {
        await s.close();
      }
    }
  });

  test('an external signal stops the read', async () => {
    await append([compression('p1', 1000, 100)]);
    const ctrl = new AbortController();
    const s = source();
    try {
      const reading = readTelemetryDataset(s, { ...columns, toRow: (e) => (ctrl.abort(), toRow(e)), stopAfter: { signal: ctrl.signal } });
      const r = await reading;
      assert.equal(r.stoppedBy, 'signal');
      assert.equal(r.dataset.rows, 1);
    } finally {
      await s.close();
    }
  });
});

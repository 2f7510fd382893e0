// KafkaTelemetrySource's batch handling without a broker (a fake kafkajs batch and admin): event
// batches unpacked in order, handler calls of at most maxBatchEvents, a call ending inside a batch
// committed as that message's offset with `syncpilot.handled-entries=N`, the next consumer skipping
// those N, bad lines counted one by one, single-event messages alongside.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Admin, EachBatchPayload, IHeaders } from 'kafkajs';
import { silentLogger } from '../../src/core/logger.ts';
import type { Logger } from '../../src/core/logger.ts';
import { EVENT_BATCH_V1, TELEMETRY_FORMAT_HEADER } from '../../src/telemetry/kafka/event-batch-format.ts';
import { EventChecker } from '../../src/telemetry/source/event-checker.ts';
import { KafkaBatchHandler } from '../../src/telemetry/source/kafka-batch-handler.ts';
import type { SourcedEvent } from '../../src/telemetry/source/telemetry-source.ts';
import { accessEvent } from '../../src/testing/telemetry-source-conformance.ts';

const TOPIC = 'syncpilot.access.v1';
const BATCH: IHeaders = { [TELEMETRY_FORMAT_HEADER]: Buffer.from(EVENT_BATCH_V1) };

interface Commit {
  readonly offset: string;
  readonly metadata?: string;
}

function batchMessage(offset: number, lines: readonly string[]) {
  return { offset: String(offset), value: Buffer.from(lines.join('\n')), headers: BATCH };
}
function singleMessage(offset: number, line: string) {
  return { offset: String(offset), value: Buffer.from(line), headers: {} };
}

/** A fetched batch of partition 0 that records commits; `committed` is what the fake admin reports. */
function setup(
  messages: readonly { offset: string; value: Buffer; headers: IHeaders }[],
  opts: { maxBatchEvents: number; committed?: Commit; onCall?: (call: number) => void; logger?: Logger },
) {
  const commits: Commit[] = [];
  const calls: SourcedEvent[][] = [];
  const ctrl = new AbortController();
  const counters = { received: 0, committed: 0 };
  const checker = new EventChecker(opts.logger ?? silentLogger, 'test');
  const admin = {
    fetchOffsets: async () => [
      { topic: TOPIC, partitions: [{ partition: 0, offset: opts.committed?.offset ?? '-1', metadata: opts.committed?.metadata ?? null }] },
    ],
  };
  const handler = new KafkaBatchHandler({
    admin: admin as unknown as Admin,
    groupId: 'g',
    maxBatchEvents: opts.maxBatchEvents,
    heartbeatIntervalMs: 60_000,
    families: undefined,
    checker,
    counters,
    logger: silentLogger,
    handle: async (b) => {
      calls.push([...b]);
      opts.onCall?.(calls.length);
    },
    signal: ctrl.signal,
  });
  const payload = {
    batch: { topic: TOPIC, partition: 0, messages },
    resolveOffset: () => undefined,
    heartbeat: async () => undefined,
    isRunning: () => true,
    isStale: () => false,
    commitOffsetsIfNecessary: async (o: { topics: { partitions: Commit[] }[] }) => {
      for (const t of o.topics)
        for (const p of t.partitions)
          commits.push(p.metadata === undefined ? { offset: p.offset } : { offset: p.offset, metadata: p.metadata });
    },
  } as unknown as EachBatchPayload;
  return { handler, payload, commits, calls, ctrl, counters, checker };
}

describe('KafkaBatchHandler', () => {
  const events = Array.from({ length: 7 }, (_, i) => accessEvent(i));
  const lines = events.map((e) => JSON.stringify(e));

  test('unpacks batches and single messages in order, in calls of at most maxBatchEvents, committing inside a batch with metadata', async () => {
    const messages = [batchMessage(10, lines.slice(0, 5)), singleMessage(11, lines[5] ?? ''), batchMessage(12, [lines[6] ?? ''])];
    const s = setup(messages, { maxBatchEvents: 2 });
    await s.handler.handleBatch(s.payload);
    assert.deepEqual(
      s.calls.map((c) => c.map((e) => e.event.id)),
      [[events[0]?.id, events[1]?.id], [events[2]?.id, events[3]?.id], [events[4]?.id, events[5]?.id], [events[6]?.id]],
    );
    assert.deepEqual(
      s.calls.flat().map((e) => e.position),
      [0, 1, 2, 3, 4].map((i) => `${TOPIC}/0/10#${i}`).concat([`${TOPIC}/0/11`, `${TOPIC}/0/12#0`]),
    );
    assert.deepEqual(s.commits, [
      { offset: '10', metadata: 'syncpilot.handled-entries=2' },
      { offset: '10', metadata: 'syncpilot.handled-entries=4' },
      { offset: '12' },
      { offset: '13' },
    ]);
    assert.deepEqual(s.counters, { received: 7, committed: 7 });
  });

  test('the next consumer skips the entries a committed position inside a batch says were handled', async () => {
    const s = setup([batchMessage(10, lines.slice(0, 5)), batchMessage(11, lines.slice(5))], {
      maxBatchEvents: 10,
      committed: { offset: '10', metadata: 'syncpilot.handled-entries=4' },
    });
    await s.handler.handleBatch(s.payload);
    assert.deepEqual(
      s.calls.flat().map((e) => e.event.id),
      events.slice(4).map((e) => e.id),
    );
    assert.deepEqual(s.commits, [{ offset: '12' }]);
    assert.equal(s.counters.received, 3, 'skipped entries were received by the earlier consumer');

    // Metadata of another offset, or not ours, skips nothing.
    for (const committed of [
      { offset: '9', metadata: 'syncpilot.handled-entries=4' },
      { offset: '10', metadata: 'something else' },
    ]) {
      const t = setup([batchMessage(10, lines.slice(0, 5))], { maxBatchEvents: 10, committed });
      await t.handler.handleBatch(t.payload);
      assert.equal(t.calls.flat().length, 5);
    }
  });

  test('bad lines are counted one by one with their positions; a stop mid-batch commits only what was handled', async () => {
    const warned: unknown[] = [];
    const logger: Logger = { ...silentLogger, warn: (_m, f) => void warned.push(f?.['position']) };
    const bad = [lines[0] ?? '', '{oops', JSON.stringify({ ...events[1], data: {} }), lines[1] ?? '', '', lines[2] ?? '', lines[3] ?? ''];
    const s = setup([batchMessage(0, bad)], {
      maxBatchEvents: 2,
      logger,
      onCall: (call) => {
        if (call === 2) s.ctrl.abort();
      },
    });
    await s.handler.handleBatch(s.payload);
    assert.equal(s.checker.invalid, 3);
    assert.deepEqual(warned, [`${TOPIC}/0/0#1`, `${TOPIC}/0/0#2`], 'logged once per kind');
    assert.deepEqual(
      s.calls.map((c) => c.map((e) => e.position)),
      [
        [`${TOPIC}/0/0#0`, `${TOPIC}/0/0#3`],
        [`${TOPIC}/0/0#5`, `${TOPIC}/0/0#6`],
      ],
    );
    // The second call ended the batch, so it is committed whole even though the run was stopping.
    assert.deepEqual(s.commits, [{ offset: '0', metadata: 'syncpilot.handled-entries=4' }, { offset: '1' }]);
  });
});

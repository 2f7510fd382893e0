import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../core/errors.ts';
import { newEventId } from '../core/telemetry.ts';
import type { TelemetryEvent } from '../core/telemetry.ts';
import { dedupe } from '../telemetry/source/deduper.ts';
import type { SourcedEvent, TelemetrySource } from '../telemetry/source/telemetry-source.ts';

/** What a source under test provides to {@link runTelemetrySourceConformance}. */
export interface TelemetrySourceFixture {
  /**
   * A source reading what {@link append} wrote. The same `name` is the same consumer: a new source
   * of that name resumes from what the earlier one committed. A consumer with nothing committed
   * starts at the oldest event.
   */
  readonly open: (name: string, options: { readonly maxBatchEvents: number }) => Promise<TelemetrySource>;
  /** Makes `events` (valid or not) durably readable by sources, e.g. through a sink and its flush. */
  readonly append: (events: readonly TelemetryEvent[]) => Promise<void>;
  /** Releases whatever setup made; the suite closes its sources itself first. */
  readonly teardown?: () => Promise<void>;
}

const BASE_TIME = 1_700_000_000_000;

/** A valid event of each known type (`syncpilot.<family>.v1`), keyed by `key`. */
export function sampleEvents(i: number, key = `doc-${i % 3}`): TelemetryEvent[] {
  const head = (type: string) => ({ type, id: newEventId(), time: BASE_TIME + i, tenant: 'default', key });
  const model = { id: 'baseline', version: '1' };
  return [
    { ...head('syncpilot.access.v1'), data: { doc: key, peer: `peer-${i}`, action: 'open' } },
    {
      ...head('syncpilot.conflict.v1'),
      data: { caseId: `case-${i}`, doc: key, obj: 'root', field: 'título ✓', status: 'created', siblings: 2 },
    },
    {
      ...head('syncpilot.review-decision.v1'),
      data: { caseId: `case-${i}`, doc: key, reviewer: 'ana', decision: 'accept', latencyMs: 1200 },
    },
    {
      ...head('syncpilot.compression.v1'),
      data: { peer: `peer-${i}`, decision: 'compress', codec: 'gzip', level: 6, rawBytes: 4096, encodedBytes: 900, encodeMicros: 52.5 },
    },
    { ...head('syncpilot.anomaly.v1'), data: { peer: `peer-${i}`, score: 0.25, threshold: 0.9, action: 'none', model } },
    {
      ...head('syncpilot.sync-latency.v1'),
      data: { doc: key, peer: `peer-${i}`, changes: 3, applied: 3, bytes: 120, applyMicros: 40, queuedMicros: 7 },
    },
    {
      ...head('syncpilot.prediction.v1'),
      data: { policy: 'prefetch', model, inputsDigest: '0123456789abcdef', output: [0.5, 0.25], latencyMicros: 80, shadow: false },
    },
    { ...head('syncpilot.model-lifecycle.v1'), data: { policy: 'anomaly', model, event: 'trained', metrics: { auc: 0.91 } } },
    {
      ...head('syncpilot.stage-error.v1'),
      data: { stage: 'compression', kind: 'optimizing', code: 'SP_ERR_STAGE_TIMEOUT', phase: 'inbound' },
    },
  ];
}

/** A valid access event. */
export function accessEvent(i: number, key = `doc-${i % 3}`): TelemetryEvent {
  return {
    type: 'syncpilot.access.v1',
    id: newEventId(),
    time: BASE_TIME + i,
    tenant: 'default',
    key,
    data: { doc: key, peer: `peer-${i}`, action: i % 2 === 0 ? 'open' : 'sync' },
  };
}

/** An access event that fails its schema (unknown action, missing doc): a source must count and skip it. */
export function invalidAccessEvent(i: number): TelemetryEvent {
  return {
    type: 'syncpilot.access.v1',
    id: newEventId(),
    time: BASE_TIME + i,
    tenant: 'default',
    key: 'doc-bad',
    data: { peer: 'p', action: 'teleport' },
  };
}

interface Call {
  readonly batch: readonly SourcedEvent[];
  readonly threw: boolean;
}

interface Consumed {
  /** Every handler call in order, including ones that threw. */
  readonly calls: readonly Call[];
  /** Events of calls that resolved, in order. */
  readonly handled: readonly SourcedEvent[];
}

interface ConsumeOptions {
  readonly families?: readonly string[];
  /** Checked after each call and every 25 ms; the run is stopped when it holds. */
  readonly until: (c: Consumed, source: TelemetrySource) => boolean;
  /** Called before a batch is recorded as handled; throwing makes the handler throw. */
  readonly onBatch?: (batch: readonly SourcedEvent[], call: number, stop: () => void) => void;
  readonly timeoutMs?: number;
}

/** Runs `source` until `until` holds (then stops it) and returns what the handler saw. */
async function consume(source: TelemetrySource, o: ConsumeOptions): Promise<Consumed> {
  const calls: Call[] = [];
  const handled: SourcedEvent[] = [];
  const seen: Consumed = { calls, handled };
  const ctrl = new AbortController();
  const stop = (): void => ctrl.abort();
  const check = (): void => {
    if (!ctrl.signal.aborted && o.until(seen, source)) stop();
  };
  const poll = setInterval(check, 25);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stop();
  }, o.timeoutMs ?? 60_000);
  try {
    await source.run(
      async (batch) => {
        try {
          o.onBatch?.(batch, calls.length, stop);
        } catch (err) {
          calls.push({ batch, threw: true });
          throw err;
        }
        calls.push({ batch, threw: false });
        handled.push(...batch);
        check();
      },
      { signal: ctrl.signal, ...(o.families === undefined ? {} : { families: o.families }) },
    );
  } finally {
    clearInterval(poll);
    clearTimeout(timer);
  }
  assert.ok(!timedOut, `timed out: handled ${handled.length} events in ${calls.length} calls; stats ${JSON.stringify(source.stats())}`);
  return seen;
}

const ids = (events: readonly SourcedEvent[]): string[] => events.map((e) => e.event.id);

/** Holds once `want` events were handled and `ms` more passed: time for anything extra to show up. */
function settled(want: number, ms = 750): (c: Consumed) => boolean {
  let at = 0;
  return (c) => {
    if (c.handled.length < want) return false;
    if (at === 0) at = Date.now() + ms;
    return Date.now() >= at;
  };
}

/**
 * Registers node:test tests every {@link TelemetrySource} must pass: every valid event handled
 * (per-key order, unique positions, batch limits), invalid ones counted; a round trip of every
 * family and the families filter; stop mid-stream and restart resuming after the last committed
 * batch with only the uncommitted batch delivered again; a throwing handler getting its batch
 * again; `dedupe`; `close` and misuse. Each test gets its own fixture from `setup`.
 *
 * @example
 * runTelemetrySourceConformance('EmbeddedTelemetrySource', async () => {
 *   const dir = await mkdtemp(join(tmpdir(), 'src-'));
 *   const sink = await EmbeddedLogSink.open({ dir });
 *   return {
 *     open: async (name, o) => new EmbeddedTelemetrySource({ dir, name, fromBeginning: true, ...o }),
 *     append: async (events) => { for (const e of events) sink.emit(e); await sink.flush(); },
 *     teardown: async () => { await sink.close(); await rm(dir, { recursive: true }); },
 *   };
 * });
 */
export function runTelemetrySourceConformance(
  name: string,
  setup: () => Promise<TelemetrySourceFixture>,
  options: { timeoutMs?: number } = {},
): void {
  const timeoutMs = options.timeoutMs ?? 60_000;
  async function withFixture(fn: (f: TelemetrySourceFixture, open: TelemetrySourceFixture['open']) => Promise<void>): Promise<void> {
    const f = await setup();
    const opened: TelemetrySource[] = [];
    const open: TelemetrySourceFixture['open'] = async (n, o) => {
      const s = await f.open(n, o);
      opened.push(s);
      return s;
    };
    try {
      await fn(f, open);
    } finally {
      for (const s of opened) await s.close().catch(() => undefined);
      await f.teardown?.();
    }
  }
  const t = { timeout: timeoutMs * 3 };

  describe(`TelemetrySource conformance: ${name}`, () => {
    test('every appended valid event is handled, in order per key; invalid ones are counted and skipped', t, () =>
      withFixture(async (f, open) => {
        const valid = Array.from({ length: 60 }, (_, i) => accessEvent(i));
        const all = [...valid];
        for (let k = 0; k < 4; k++) all.splice(k * 15 + 7, 0, invalidAccessEvent(k));
        await f.append(all);
        const source = await open('all', { maxBatchEvents: 16 });
        const c = await consume(source, { until: (c, s) => c.handled.length >= 60 && s.stats().invalid >= 4, timeoutMs });
        assert.deepEqual(new Set(ids(c.handled)), new Set(valid.map((e) => e.id)));
        assert.equal(c.handled.length, 60, 'no duplicates without a restart');
        for (const key of ['doc-0', 'doc-1', 'doc-2']) {
          const want = valid.filter((e) => e.key === key).map((e) => e.id);
          assert.deepEqual(ids(c.handled.filter((e) => e.event.key === key)), want, `order of key ${key}`);
        }
        for (const call of c.calls) assert.ok(call.batch.length >= 1 && call.batch.length <= 16, `batch of ${call.batch.length}`);
        assert.equal(new Set(c.handled.map((e) => e.position)).size, 60, 'positions are unique');
        for (const e of c.handled) assert.ok(e.position.length > 0);
        const s = source.stats();
        assert.equal(s.invalid, 4);
        assert.equal(s.committed, 60);
        assert.equal(s.duplicates, 0);
        assert.ok(s.received >= 64, `received ${s.received}`);
      }),
    );

    test('every family round-trips unchanged; a families filter hands on only those families', t, () =>
      withFixture(async (f, open) => {
        const events = [...sampleEvents(1), ...sampleEvents(2, 'peer-2')];
        await f.append(events);
        const c = await consume(await open('every', { maxBatchEvents: 100 }), {
          until: (c) => c.handled.length >= events.length,
          timeoutMs,
        });
        const byId = new Map(c.handled.map((e) => [e.event.id, e.event]));
        for (const e of events) assert.deepEqual(byId.get(e.id), e, `${e.type} round trip`);
        const wanted = events.filter((e) => e.type === 'syncpilot.access.v1' || e.type === 'syncpilot.anomaly.v1');
        const some = await consume(await open('some', { maxBatchEvents: 100 }), {
          families: ['access', 'anomaly'],
          until: settled(wanted.length),
          timeoutMs,
        });
        assert.deepEqual(new Set(ids(some.handled)), new Set(wanted.map((e) => e.id)));
        assert.equal(some.handled.length, wanted.length);
      }),
    );

    test('stop mid-stream and restart: resumes after the last committed batch; only the uncommitted batch comes again', t, () =>
      withFixture(async (f, open) => {
        const events = Array.from({ length: 100 }, (_, i) => accessEvent(i));
        await f.append(events);
        // Third call: stop the run and fail, so that batch is not committed.
        const first = await open('resume', { maxBatchEvents: 10 });
        const c1 = await consume(first, {
          until: () => false,
          onBatch: (_b, call, stop) => {
            if (call === 2) {
              stop();
              throw new Error('stopping mid-batch');
            }
          },
          timeoutMs,
        });
        assert.equal(c1.calls.length, 3, 'no call after the stop');
        const committed = new Set(ids(c1.handled));
        assert.equal(first.stats().committed, committed.size);
        const failed = ids(c1.calls[2]?.batch ?? []);
        await first.close();

        const second = await open('resume', { maxBatchEvents: 10 });
        const c2 = await consume(second, { until: settled(100 - committed.size), timeoutMs });
        const again = ids(c2.handled);
        assert.equal(again.filter((id) => committed.has(id)).length, 0, 'a committed batch was delivered again');
        assert.equal(again.length, 100 - committed.size, 'each uncommitted event exactly once');
        assert.deepEqual(new Set([...committed, ...again]), new Set(events.map((e) => e.id)));
        for (const id of failed) assert.ok(again.includes(id), 'the uncommitted batch is delivered again');
        await second.close();

        // A run stopped after its handler resolved committed everything: only new events come next.
        const more = Array.from({ length: 5 }, (_, i) => accessEvent(1000 + i));
        await f.append(more);
        const c3 = await consume(await open('resume', { maxBatchEvents: 10 }), { until: settled(5), timeoutMs });
        assert.deepEqual(ids(c3.handled).sort(), more.map((e) => e.id).sort());
      }),
    );

    test('a handler that throws gets its batch again, and it is committed only once it resolved', t, () =>
      withFixture(async (f, open) => {
        const events = Array.from({ length: 30 }, (_, i) => accessEvent(i));
        await f.append(events);
        const source = await open('retry', { maxBatchEvents: 10 });
        let committedAtFailure = -1;
        const c = await consume(source, {
          until: (c) => new Set(ids(c.handled)).size >= 30,
          onBatch: (_b, call) => {
            if (call === 1) {
              committedAtFailure = source.stats().committed;
              throw new Error('transient handler failure');
            }
          },
          timeoutMs,
        });
        const failed = c.calls[1];
        assert.ok(failed?.threw === true);
        const retried = c.calls.slice(2).find((call) => ids(call.batch).includes(ids(failed.batch)[0] ?? ''));
        assert.deepEqual(ids(retried?.batch ?? []), ids(failed.batch), 'the same batch is handed again');
        assert.equal(committedAtFailure, c.calls[0]?.batch.length);
        assert.equal(c.handled.length, 30, 'each event handled (resolved) once');
        assert.equal(source.stats().committed, 30);
        await source.close();

        const tail = [accessEvent(99)];
        await f.append(tail);
        const c2 = await consume(await open('retry', { maxBatchEvents: 10 }), { until: settled(1), timeoutMs });
        assert.deepEqual(ids(c2.handled), [tail[0]?.id]);
      }),
    );

    test('dedupe(source) hands each event id on once and counts the duplicates', t, () =>
      withFixture(async (f, open) => {
        const events = Array.from({ length: 20 }, (_, i) => accessEvent(i));
        const extra = Array.from({ length: 5 }, (_, i) => accessEvent(100 + i));
        await f.append(events);
        await f.append([...events, ...extra]);
        const source = dedupe(await open('dedupe', { maxBatchEvents: 8 }));
        const c = await consume(source, { until: (c, s) => c.handled.length >= 25 && s.stats().duplicates >= 20, timeoutMs });
        assert.deepEqual(ids(c.handled).sort(), [...events, ...extra].map((e) => e.id).sort());
        const s = source.stats();
        assert.equal(s.duplicates, 20);
        assert.ok(s.received >= 45);
      }),
    );

    test('close() stops a waiting run; misuse gets coded errors', t, () =>
      withFixture(async (f, open) => {
        await f.append([accessEvent(0)]);
        const source = await open('close', { maxBatchEvents: 10 });
        await assert.rejects(
          source.run(async () => {}, { signal: new AbortController().signal, families: ['no-such-family'] }),
          (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID',
        );
        let handled = 0;
        const running = source.run(
          async (b) => {
            handled += b.length;
          },
          { signal: new AbortController().signal },
        );
        await assert.rejects(
          source.run(async () => {}, { signal: new AbortController().signal }),
          (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID',
          'a second concurrent run',
        );
        const deadline = Date.now() + timeoutMs;
        while (handled < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        assert.equal(handled, 1);
        await source.close();
        await running;
        await assert.rejects(
          source.run(async () => {}, { signal: new AbortController().signal }),
          (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CLOSED',
        );
        await source.close();
      }),
    );
  });
}

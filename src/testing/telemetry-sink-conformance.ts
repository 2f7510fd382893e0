import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newEventId } from '../core/telemetry.ts';
import type { TelemetryEvent, TelemetrySink } from '../core/telemetry.ts';

/** What a sink under test provides to {@link runTelemetrySinkConformance}. */
export interface TelemetrySinkFixture {
  /** A fresh, empty sink. */
  readonly sink: TelemetrySink;
  /** Every event durable in the sink's backing store, in order (may be called before or after close). */
  readonly readAll: () => Promise<TelemetryEvent[]>;
  /** Releases whatever setup made (directories, topics); the suite closes the sink itself first. */
  readonly teardown?: () => Promise<void>;
}

/**
 * A JSON-safe event with varied, non-ASCII content, so encodings are exercised. One key by
 * default: a partitioned sink (Kafka) only promises order per key, and the ordered tests rely on it.
 */
export function conformanceEvent(i: number, key = 'doc-conformance'): TelemetryEvent {
  return {
    type: 'syncpilot.conformance.v1',
    id: newEventId(),
    time: 1_700_000_000_000 + i,
    tenant: 'default',
    key,
    data: {
      i,
      text: i % 3 === 0 ? `héllo wörld ✓ 🚀 ${i}` : `plain ${i}`,
      nested: { list: [i, -i - 1, i / 2], flag: i % 2 === 0, none: null },
      quote: 'a "quoted"\nline\\',
    },
  };
}

/**
 * Registers node:test tests every {@link TelemetrySink} must pass: round trip in order, stats,
 * emit after close dropped and not thrown, idempotent flush and close, many events, and flush
 * covering exactly what was emitted before it. Each test gets its own fixture from `setup`.
 *
 * @example
 * runTelemetrySinkConformance('EmbeddedLogSink', async () => {
 *   const dir = await mkdtemp(join(tmpdir(), 'sink-'));
 *   const sink = await EmbeddedLogSink.open({ dir });
 *   return { sink, readAll: () => readEmbeddedLog(dir).toArray(), teardown: () => rm(dir, { recursive: true }) };
 * });
 */
export function runTelemetrySinkConformance(name: string, setup: () => Promise<TelemetrySinkFixture>): void {
  async function withSink(fn: (f: TelemetrySinkFixture) => Promise<void>): Promise<void> {
    const f = await setup();
    try {
      await fn(f);
    } finally {
      await f.sink.close().catch(() => undefined);
      await f.teardown?.();
    }
  }

  // node:test tracks these promises itself.
  void describe(`TelemetrySink conformance: ${name}`, () => {
    void test('emit, flush, readAll round-trips events in order', () =>
      withSink(async ({ sink, readAll }) => {
        const events = Array.from({ length: 50 }, (_, i) => conformanceEvent(i));
        for (const e of events) sink.emit(e);
        await sink.flush();
        assert.deepEqual(await readAll(), events);
      }));

    void test('emit returns synchronously and does not write before yielding', () =>
      withSink(async ({ sink }) => {
        const r: unknown = sink.emit(conformanceEvent(0));
        assert.equal(r, undefined, 'emit must not return a promise');
        assert.equal(sink.stats().emitted, 1);
        await sink.flush();
        assert.equal(sink.stats().written, 1);
      }));

    void test('stats count emitted, written and dropped', () =>
      withSink(async ({ sink }) => {
        assert.deepEqual(sink.stats(), { emitted: 0, written: 0, dropped: 0 });
        for (let i = 0; i < 25; i++) sink.emit(conformanceEvent(i));
        await sink.flush();
        assert.deepEqual(sink.stats(), { emitted: 25, written: 25, dropped: 0 });
      }));

    void test('emit after close is dropped, counted, and does not throw', () =>
      withSink(async ({ sink, readAll }) => {
        sink.emit(conformanceEvent(1));
        await sink.close();
        const late = conformanceEvent(2);
        assert.doesNotThrow(() => sink.emit(late));
        const s = sink.stats();
        assert.equal(s.dropped, 1);
        assert.equal(s.written, 1);
        const all = await readAll();
        assert.equal(all.length, 1);
        assert.ok(!all.some((e) => e.id === late.id), 'an event emitted after close must not be stored');
      }));

    void test('close flushes what was emitted, and is idempotent', () =>
      withSink(async ({ sink, readAll }) => {
        const events = Array.from({ length: 10 }, (_, i) => conformanceEvent(i));
        for (const e of events) sink.emit(e);
        await Promise.all([sink.close(), sink.close()]);
        await sink.close();
        assert.deepEqual(await readAll(), events);
      }));

    void test('flush is idempotent: repeated, concurrent and empty flushes store nothing twice', () =>
      withSink(async ({ sink, readAll }) => {
        await sink.flush();
        const events = Array.from({ length: 20 }, (_, i) => conformanceEvent(i));
        for (const e of events) sink.emit(e);
        await Promise.all([sink.flush(), sink.flush(), sink.flush()]);
        await sink.flush();
        assert.deepEqual(await readAll(), events);
        assert.deepEqual(sink.stats(), { emitted: 20, written: 20, dropped: 0 });
      }));

    void test('flush covers every event emitted before it, even with emits racing after', () =>
      withSink(async ({ sink, readAll }) => {
        const before = Array.from({ length: 100 }, (_, i) => conformanceEvent(i));
        for (const e of before) sink.emit(e);
        const flushed = sink.flush();
        for (let i = 100; i < 150; i++) sink.emit(conformanceEvent(i));
        await flushed;
        const stored = await readAll();
        assert.ok(stored.length >= before.length, `only ${stored.length} of ${before.length} durable after flush`);
        assert.deepEqual(stored.slice(0, before.length), before);
      }));

    void test('many events with several keys keep per-key order and lose nothing', () =>
      withSink(async ({ sink, readAll }) => {
        const n = 20_000;
        const events = Array.from({ length: n }, (_, i) => conformanceEvent(i, `doc-${i % 13}`));
        for (let i = 0; i < n; i++) {
          sink.emit(events[i] as TelemetryEvent);
          // Yield now and then, as a server does between messages.
          if (i % 2_000 === 1_999) await new Promise<void>((r) => setImmediate(r));
        }
        await sink.flush();
        const stored = await readAll();
        assert.equal(stored.length, n);
        assert.equal(new Set(stored.map((e) => e.id)).size, n, 'duplicate ids stored');
        const lastByKey = new Map<string, number>();
        for (const e of stored) {
          const i = e.data['i'] as number;
          assert.ok((lastByKey.get(e.key) ?? -1) < i, `key ${e.key} out of order at ${i}`);
          lastByKey.set(e.key, i);
        }
        assert.deepEqual(sink.stats(), { emitted: n, written: n, dropped: 0 });
      }));
  });
}

// The Kafka sink's failover logic (direct sends, spilling to the spool, in-order replay, skipping
// a copy that reached the broker anyway, replay after a restart) against a fake transport that
// fails or stalls on demand. The same sink against the real broker: test/integration/telemetry-kafka-sink*.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { Logger } from '../../src/core/logger.ts';
import { newEventId } from '../../src/core/telemetry.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { KAFKAJS_INSTALL_HINT, KafkaSink, loadKafkaJs } from '../../src/telemetry/kafka/index.ts';
import type { KafkaSinkOptions, KafkaTransport, OutboundRecord } from '../../src/telemetry/kafka/index.ts';

/** A broker stand-in: delivers, fails, or holds sends until released. */
class FakeTransport implements KafkaTransport {
  delivered: OutboundRecord[] = [];
  mode: 'ok' | 'fail' | 'hold' = 'ok';
  sends = 0;
  resets = 0;
  closed = false;
  readonly held: { records: readonly OutboundRecord[]; settle: (ok: boolean) => void }[] = [];

  async send(records: readonly OutboundRecord[]): Promise<void> {
    this.sends++;
    if (this.mode === 'fail') throw new Error('ECONNREFUSED (fake)');
    if (this.mode === 'hold') {
      const ok = await new Promise<boolean>((settle) => this.held.push({ records, settle }));
      if (!ok) throw new Error('request timed out (fake)');
    }
    this.delivered.push(...records);
  }
  reset(): Promise<void> {
    this.resets++;
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  ids(): string[] {
    return this.delivered.map((r) => (JSON.parse(r.value.toString()) as TelemetryEvent).id);
  }
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function spoolDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sp-kafka-unit-'));
  dirs.push(d);
  return d;
}

function event(i: number, key = `doc-${i % 5}`): TelemetryEvent {
  return {
    type: 'syncpilot.sync-latency.v1',
    id: newEventId(),
    time: 1_764_000_000_000 + i,
    tenant: i % 2 === 0 ? 'acme' : 'globex',
    key,
    data: { doc: key, peer: 'p1', changes: i, applied: 1, bytes: 40, applyMicros: 12.5, queuedMicros: 0.4 },
  };
}

async function open(transport: KafkaTransport, extra: Partial<KafkaSinkOptions> = {}): Promise<KafkaSink> {
  return KafkaSink.openWithTransport(transport, {
    brokers: ['fake:9092'],
    spoolDir: extra.spoolDir ?? (await spoolDir()),
    logger: silentLogger,
    ...extra,
  });
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const segments = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.endsWith('.log'));

describe('KafkaSink failover (fake transport)', () => {
  test('direct: records carry topic = type, key, JSON value, type and tenant; stats are exact', async () => {
    const t = new FakeTransport();
    const sink = await open(t);
    const events = Array.from({ length: 30 }, (_, i) => event(i));
    for (const e of events) sink.emit(e);
    await sink.flush();
    assert.equal(t.delivered.length, 30);
    t.delivered.forEach((r, i) => {
      const e = events[i] as TelemetryEvent;
      assert.equal(r.topic, 'syncpilot.sync-latency.v1');
      assert.equal(r.key, e.key);
      assert.equal(r.type, e.type);
      assert.equal(r.tenant, e.tenant);
      assert.equal(r.time, e.time);
      assert.deepEqual(JSON.parse(r.value.toString()), e);
    });
    assert.deepEqual(sink.stats(), { emitted: 30, written: 30, dropped: 0 });
    assert.equal(sink.detailedStats().spooled, 0);
    await sink.close();
    assert.equal(t.closed, true);
  });

  test('an unreachable broker: flush is durable in the spool, and after recovery everything arrives once, in emit order', async () => {
    const t = new FakeTransport();
    t.mode = 'fail';
    const dir = await spoolDir();
    const sink = await open(t, { spoolDir: dir, maxBatchEvents: 50 });
    const events = Array.from({ length: 500 }, (_, i) => event(i));
    for (const e of events.slice(0, 300)) sink.emit(e);
    await sink.flush();
    let s = sink.detailedStats();
    assert.equal(s.mode, 'spool');
    assert.equal(s.spooled, 300);
    assert.equal(s.written, 0);
    assert.ok(s.sendFailures >= 1);
    assert.ok(t.resets >= 1, 'the producer session is reset after a failed send');
    // Still down: new events queue behind the spooled ones.
    for (const e of events.slice(300, 400)) sink.emit(e);
    await sink.flush();
    t.mode = 'ok';
    for (const e of events.slice(400)) sink.emit(e);
    await sink.flush();
    await until(() => sink.detailedStats().mode === 'direct', 'the replay to finish');
    assert.deepEqual(
      t.ids(),
      events.map((e) => e.id),
      'every event once, in emit order',
    );
    s = sink.detailedStats();
    assert.equal(s.written, 500);
    assert.equal(s.replayed, s.spooled);
    assert.equal(s.dropped, 0);
    await until(() => sink.detailedStats().spoolPendingBytes === 0, 'spool emptied');
    await sink.close();
    assert.deepEqual(await segments(dir), [], 'replayed segments are deleted');
  });

  test('a slow send moves the backlog to the spool; when the slow send then succeeds, its spooled copy is skipped', async () => {
    const t = new FakeTransport();
    t.mode = 'hold';
    const sink = await open(t, { spillAfterMs: 50, maxBatchEvents: 10, lingerMs: 1 });
    const events = Array.from({ length: 100 }, (_, i) => event(i));
    for (const e of events.slice(0, 10)) sink.emit(e);
    await until(() => t.held.length === 1, 'the first send');
    for (const e of events.slice(10)) sink.emit(e);
    // flush resolves without the broker: the held batch and the rest are fsync'd in the spool.
    await sink.flush();
    assert.equal(sink.detailedStats().mode, 'spool');
    assert.equal(sink.detailedStats().spooled, 100);
    t.mode = 'ok';
    t.held[0]?.settle(true);
    await until(() => sink.detailedStats().mode === 'direct', 'the replay to finish');
    assert.deepEqual(
      t.ids(),
      events.map((e) => e.id),
      'no duplicate of the slow batch',
    );
    assert.deepEqual(sink.stats(), { emitted: 100, written: 100, dropped: 0 });
    await sink.close();
  });

  test('a slow send that finally fails is replayed from the spool before newer events', async () => {
    const t = new FakeTransport();
    t.mode = 'hold';
    const sink = await open(t, { spillAfterMs: 50, maxBatchEvents: 10, lingerMs: 1 });
    const events = Array.from({ length: 60 }, (_, i) => event(i, 'one-key'));
    for (const e of events.slice(0, 10)) sink.emit(e);
    await until(() => t.held.length === 1, 'the first send');
    for (const e of events.slice(10)) sink.emit(e);
    await sink.flush();
    t.mode = 'ok';
    t.held[0]?.settle(false);
    await until(() => sink.detailedStats().mode === 'direct', 'the replay to finish');
    assert.deepEqual(
      t.ids(),
      events.map((e) => e.id),
    );
    assert.equal(sink.detailedStats().sendFailures, 1);
    await sink.close();
  });

  test('events spooled by a sink that closed while the broker was down are replayed by the next sink on the directory', async () => {
    const dir = await spoolDir();
    const down = new FakeTransport();
    down.mode = 'fail';
    const first = await open(down, { spoolDir: dir, closeTimeoutMs: 2000 });
    const events = Array.from({ length: 200 }, (_, i) => event(i));
    for (const e of events) first.emit(e);
    await first.close();
    assert.equal(first.detailedStats().spooled, 200);
    assert.ok((await segments(dir)).length > 0);

    const up = new FakeTransport();
    const second = await open(up, { spoolDir: dir });
    const later = event(1000);
    second.emit(later);
    await until(() => second.detailedStats().mode === 'direct' && up.delivered.length === 201, 'the replay');
    assert.deepEqual(up.ids(), [...events.map((e) => e.id), later.id], 'old events first, then the new one');
    assert.equal(second.detailedStats().replayed, 200);
    await second.close();
    assert.deepEqual(await segments(dir), []);
  });

  test('close with a reachable broker empties the spool before returning', async () => {
    const t = new FakeTransport();
    t.mode = 'fail';
    const dir = await spoolDir();
    const sink = await open(t, { spoolDir: dir });
    for (let i = 0; i < 50; i++) sink.emit(event(i));
    await sink.flush();
    t.mode = 'ok';
    await sink.close();
    assert.equal(t.delivered.length, 50);
    assert.deepEqual(await segments(dir), []);
  });

  test('schema-invalid events are counted, logged once per type with SP_ERR_EVENT_INVALID, and never sent or spooled', async () => {
    const warnings: { msg: string; fields: Readonly<Record<string, unknown>> | undefined }[] = [];
    const logger: Logger = { ...silentLogger, warn: (msg, fields) => void warnings.push({ msg, fields }) };
    for (const mode of ['ok', 'fail'] as const) {
      warnings.length = 0;
      const t = new FakeTransport();
      t.mode = mode;
      const sink = await open(t, { logger });
      const good = event(1);
      const badData = { ...event(2), data: { doc: 'd' } };
      const unknownType = { ...event(3), type: 'syncpilot.nope.v1' };
      sink.emit(badData);
      sink.emit(good);
      sink.emit({ ...badData, id: newEventId() });
      sink.emit(unknownType);
      await sink.flush();
      const s = sink.detailedStats();
      assert.equal(s.invalid, 3, mode);
      assert.equal(s.dropped, 3, mode);
      assert.equal(mode === 'ok' ? s.written : s.spooled, 1, mode);
      const invalid = warnings.filter((w) => w.fields?.['code'] === 'SP_ERR_EVENT_INVALID');
      assert.deepEqual(invalid.map((w) => w.fields?.['type']).sort(), ['syncpilot.nope.v1', 'syncpilot.sync-latency.v1'], mode);
      t.mode = 'ok';
      await sink.close();
      assert.deepEqual(t.ids(), [good.id], mode);
    }
  });

  test('topicFor maps types to topics; an illegal topic name counts the event invalid', async () => {
    const t = new FakeTransport();
    const sink = await open(t, { topicFor: (type) => (type.includes('access') ? 'bad topic!' : `prod.${type}`) });
    sink.emit(event(1));
    sink.emit({ ...event(2), type: 'syncpilot.access.v1', data: { doc: 'd', peer: 'p', action: 'open' } });
    await sink.flush();
    assert.deepEqual(
      t.delivered.map((r) => r.topic),
      ['prod.syncpilot.sync-latency.v1'],
    );
    assert.equal(sink.detailedStats().invalid, 1);
    await sink.close();
  });

  test('emit stays bounded: beyond maxBufferedEvents in one burst, events are dropped and counted, never thrown', async () => {
    const t = new FakeTransport();
    t.mode = 'hold';
    const sink = await open(t, { maxBufferedEvents: 100, maxBatchEvents: 10 });
    for (let i = 0; i < 150; i++) sink.emit(event(i));
    const s = sink.detailedStats();
    assert.equal(s.droppedBufferFull, 50);
    assert.equal(s.dropped, 50);
    for (const h of t.held) h.settle(true);
    t.mode = 'ok';
    await sink.close();
    for (const h of t.held) h.settle(true);
    assert.equal(sink.stats().written, 100);
  });

  test('bad options are SP_ERR_CONFIG_INVALID', async () => {
    const t = new FakeTransport();
    const bads: Record<string, unknown>[] = [
      { brokers: [] },
      { brokers: ['no-port'] },
      { lingerMs: 5000 },
      { compression: 'zstd' },
      { partitions: 0 },
    ];
    for (const bad of bads) {
      await assert.rejects(
        KafkaSink.openWithTransport(t, { brokers: ['x:1'], spoolDir: '/nonexistent-never-created', ...bad }),
        (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID',
        JSON.stringify(bad),
      );
    }
  });
});

describe('kafkajs is optional and loaded lazily', () => {
  test('a missing kafkajs fails with SP_ERR_CONFIG_INVALID and an install hint', async () => {
    const missing = Object.assign(new Error("Cannot find package 'kafkajs'"), { code: 'ERR_MODULE_NOT_FOUND' });
    await assert.rejects(
      loadKafkaJs(() => Promise.reject(missing)),
      (err: unknown) =>
        err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID' && err.message.includes('npm install kafkajs'),
    );
    assert.match(KAFKAJS_INSTALL_HINT, /npm install kafkajs/);
    await assert.rejects(
      loadKafkaJs(() => Promise.resolve({ default: {} })),
      (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID',
    );
  });

  test('importing the core, the telemetry index and the Kafka sink module loads no kafkajs; open does', async () => {
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/kafkajs/'));
      await import('./src/core/telemetry.ts');
      await import('./src/telemetry/index.ts');
      const { loadKafkaJs } = await import('./src/telemetry/kafka/index.ts');
      const before = loaded();
      await loadKafkaJs();
      console.log(JSON.stringify({ before, after: loaded() }));
    `;
    const root = new URL('../../', import.meta.url).pathname;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      );
    });
    assert.deepEqual(JSON.parse(out.trim()), { before: false, after: true });
  });
});

// The Kafka sink through broker outages, on a private broker of its own (stopping the shared one
// would disturb other test files):
// 1. the broker stops in the middle of sustained emitting and comes back: every event arrives
//    (deduped by id), per-key order holds, nothing is dropped, and emit() stays fast throughout;
// 2. a producer process is killed (SIGKILL) while its events sit in the spool with the broker
//    down; a new process on the same spool directory, with the broker up, delivers them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/core/logger.ts';
import type { Logger } from '../../src/core/logger.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { KafkaSink } from '../../src/telemetry/kafka/index.ts';
import type { KafkaSinkStats } from '../../src/telemetry/kafka/index.ts';
import { servicesSkip, startPrivateKafka } from '../helpers/services.ts';
import type { PrivateKafka } from '../helpers/services.ts';
import { consumeTopics } from '../fixtures/telemetry-kafka-read.ts';
import { crashEvent, tempSpoolDir, uniquePrefix } from '../fixtures/telemetry-kafka-env.ts';

const RATE = Number(process.env.SP_TEST_KAFKA_RATE ?? 20_000);
const PRODUCER = fileURLToPath(new URL('../fixtures/telemetry-kafka-producer.ts', import.meta.url));

let broker: PrivateKafka | undefined;
let skip: string | false = servicesSkip;
if (skip === false) {
  try {
    broker = await startPrivateKafka();
  } catch (err) {
    skip = `no private Kafka broker could be started: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

async function until(cond: () => boolean, what: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

describe('KafkaSink through broker outages (private broker)', { skip }, () => {
  before(() => assert.ok(broker !== undefined));
  after(async () => {
    await broker?.close();
  });

  test(`broker stopped and restarted during ${RATE} events/s: every event arrives, emit stays fast`, { timeout: 300_000 }, async (t) => {
    const b = broker as PrivateKafka;
    const prefix = uniquePrefix('outage');
    const topic = `${prefix}.syncpilot.sync-latency.v1`;
    const spoolDir = await tempSpoolDir();
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => void warnings.push(m) };
    const sink = await KafkaSink.open({ brokers: b.brokers, spoolDir, topicFor: (x) => `${prefix}.${x}`, requestTimeoutMs: 3000, logger });
    const runId = prefix;
    const latencies = new Float64Array(RATE * 120);
    let n = 0;
    let emitting = true;
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const emitter = (async () => {
      const t0 = performance.now();
      let i = 0;
      while (emitting) {
        const target = Math.floor(((performance.now() - t0) * RATE) / 1000);
        const batch: TelemetryEvent[] = [];
        for (; i < target; i++) batch.push(crashEvent(runId, i));
        for (const e of batch) {
          const s = process.hrtime.bigint();
          sink.emit(e);
          if (n < latencies.length) latencies[n++] = Number(process.hrtime.bigint() - s);
        }
        await sleep(5);
      }
      return i;
    })();
    const phases: Record<string, number> = {};
    const mark = (name: string): void => void (phases[name] = sink.stats().emitted);
    let maxQueued = 0;
    const watch = setInterval(() => (maxQueued = Math.max(maxQueued, sink.detailedStats().queued)), 50);
    try {
      await sleep(2000);
      mark('stop');
      await b.stop();
      mark('stopped');
      await sleep(2000);
      const during: KafkaSinkStats = sink.detailedStats();
      assert.equal(during.mode, 'spool', 'the sink spools while the broker is down');
      mark('start');
      await b.start();
      mark('started');
      await sleep(2000);
    } finally {
      emitting = false;
    }
    const total = await emitter;
    await sink.flush();
    await until(
      () => sink.detailedStats().mode === 'direct' && sink.detailedStats().spoolPendingBytes === 0,
      'the spool to be replayed',
      180_000,
    );
    clearInterval(watch);
    loopDelay.disable();
    await sink.close();
    const stats = sink.detailedStats();

    const got = await consumeTopics(b.brokers, [topic], 180_000);
    const seen = new Set<string>();
    const lastByKey = new Map<string, number>();
    for (const c of got) {
      if (seen.has(c.event.id)) continue; // at-least-once: duplicates are allowed, first copies count
      seen.add(c.event.id);
      const i = c.event.data['changes'] as number;
      assert.ok((lastByKey.get(c.event.key) ?? -1) < i, `key ${c.event.key}: ${i} after ${lastByKey.get(c.event.key)}`);
      lastByKey.set(c.event.key, i);
    }
    const missing: number[] = [];
    for (let i = 0; i < total; i++) if (!seen.has(`${runId}-${i}`)) missing.push(i);
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${total} events missing`);
    assert.equal(seen.size, total);
    assert.equal(stats.emitted, total);
    assert.equal(stats.dropped, 0, JSON.stringify(stats));
    assert.ok(stats.spooled > 0 && stats.replayed > 0 && stats.sendFailures > 0, JSON.stringify(stats));
    assert.ok(
      warnings.some((w) => w.includes('spooling to disk')),
      'the outage is reported',
    );

    const sorted = latencies.slice(0, n).sort();
    const p50 = percentile(sorted, 0.5);
    const p99 = percentile(sorted, 0.99);
    const p999 = percentile(sorted, 0.999);
    t.diagnostic(
      `emitted ${total} at ${RATE}/s (emitted at stop ${phases['stop']}, restart ${phases['start']}); ` +
        `consumed ${got.length} messages, ${got.length - seen.size} duplicates; spooled ${stats.spooled}, replayed ${stats.replayed}, ` +
        `send failures ${stats.sendFailures}; max queued ${maxQueued}`,
    );
    t.diagnostic(
      `emit latency over ${n} calls: p50 ${p50} ns, p99 ${p99} ns, p99.9 ${p999} ns, max ${sorted.at(-1)} ns; ` +
        `event loop delay p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms`,
    );
    // emit only pushes onto an array: generous bounds for a shared 2-core machine.
    assert.ok(p99 < 20_000, `emit p99 ${p99} ns`);
    await rm(spoolDir, { recursive: true, force: true });
  });

  test('kill -9 while events are spooled (broker down); a new process on the same spool delivers them', { timeout: 300_000 }, async (t) => {
    const b = broker as PrivateKafka;
    const prefix = uniquePrefix('crash');
    const topic = `${prefix}.syncpilot.sync-latency.v1`;
    const spoolDir = await tempSpoolDir();
    const runId = prefix;
    const config = (mode: 'spool' | 'drain'): string => JSON.stringify({ mode, brokers: b.brokers, spoolDir, prefix, runId });

    await b.stop();
    const child = spawn(process.execPath, ['--import', 'tsx', PRODUCER, config('spool')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let durable = 0;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const l of lines) if (l.startsWith('durable ')) durable = Number(l.slice(8));
        // Killed mid-stream: it keeps emitting and appending after this flush.
        if (durable >= 20_000) resolve();
      });
      void exited.then(() => reject(new Error(`producer exited early (durable ${durable}): ${stderr}`)));
    });
    // A moment later, so the kill lands among appends made after that flush.
    await sleep(30);
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    const segments = (await readdir(spoolDir)).filter((f) => f.endsWith('.log'));
    assert.ok(segments.length > 0, 'the killed process left spool segments');

    await b.start();
    const drain = spawn(process.execPath, ['--import', 'tsx', PRODUCER, config('drain')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    drain.stdout.on('data', (d: Buffer) => (out += d.toString()));
    drain.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => drain.on('exit', resolve));
    assert.equal(code, 0, err);
    const drained = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as KafkaSinkStats;

    const got = await consumeTopics(b.brokers, [topic], 120_000);
    const ids = got.map((c) => c.event.id);
    const unique = new Set(ids);
    assert.equal(unique.size, ids.length, 'nothing was sent before the crash, so nothing is duplicated');
    for (let i = 0; i < durable; i++) assert.ok(unique.has(`${runId}-${i}`), `durable event ${i} missing`);
    // The spool is append-only and replayed in order: what arrived is a gap-free prefix.
    for (let i = 0; i < unique.size; i++) assert.ok(unique.has(`${runId}-${i}`), `event ${i} missing inside the delivered prefix`);
    assert.equal(drained.replayed, unique.size);
    t.diagnostic(
      `killed after ${durable} durable events; ${unique.size} delivered by the next process (${unique.size - durable} beyond the last flush)`,
    );
    await rm(spoolDir, { recursive: true, force: true });
  });
});

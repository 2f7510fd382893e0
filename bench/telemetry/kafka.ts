/**
 * Kafka telemetry sink benchmark (never part of `npm test`). Needs a broker: KAFKA_BROKERS, else
 * `scripts/services/up.sh kafka` is run.
 *   node --import tsx bench/telemetry/kafka.ts [--runs 3] [--events 200000] [--json]
 *
 * 1. ns per emit (hot path): 100k pre-built events emitted in a synchronous loop, timed in blocks
 *    of 1000; median block, median over runs. Side by side: NullTelemetrySink (the floor).
 * 2. Sustained delivery: `--events` sync-latency events (~250 B of JSON) built and emitted in chunks
 *    of 1000, yielding between chunks as a server would; events/s until every one is acknowledged
 *    (acks=all, idempotent, gzip), with CPU per event. The sink is sized so it never spills, to
 *    measure the broker path alone. Side by side: bare kafkajs (`sendBatch` of the same messages in
 *    batches of 1000, same producer settings, no validation, no sink).
 * 3. Spool write rate: the same events emitted with the broker unreachable (a transport that
 *    always fails), until `flush` (fsync'd in the spool).
 * 4. Replay rate: a new sink on that spool, with the broker up, until the spool is delivered.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../../src/core/logger.ts';
import { newEventId, NullTelemetrySink } from '../../src/core/telemetry.ts';
import type { TelemetryEvent, TelemetrySink } from '../../src/core/telemetry.ts';
import { KafkaSink, loadKafkaJs } from '../../src/telemetry/kafka/index.ts';
import type { KafkaTransport } from '../../src/telemetry/kafka/index.ts';

/** Every figure of one benchmark run (medians over runs). */
export interface KafkaBenchResult {
  readonly brokers: readonly string[];
  readonly runs: number;
  readonly events: number;
  readonly nsPerEmit: { readonly kafkaSink: number; readonly nullSink: number };
  readonly sustained: { readonly eventsPerSec: number; readonly cpuMicrosPerEvent: number; readonly spilled: number };
  readonly bareKafkajs: { readonly eventsPerSec: number; readonly cpuMicrosPerEvent: number };
  readonly spoolWrite: { readonly eventsPerSec: number };
  readonly replay: { readonly eventsPerSec: number };
}

const HOT_EVENTS = 100_000;
const BLOCK = 1_000;
const CHUNK = 1_000;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
};
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A typical event: a sync-latency measurement (~250 bytes of JSON), valid against its schema. */
function makeEvent(i: number): TelemetryEvent {
  return {
    type: 'syncpilot.sync-latency.v1',
    id: newEventId(),
    time: Date.now(),
    tenant: 'default',
    key: `doc-${i % 512}`,
    data: {
      doc: `doc-${i % 512}`,
      peer: `peer-${i % 64}`,
      changes: 1,
      applied: 1,
      bytes: 512 + (i % 4096),
      applyMicros: (i % 250) / 10,
      queuedMicros: 1,
    },
  };
}

/**
 * A fresh copy of the timing loop per sink class: one shared loop would see two receiver classes
 * and go megamorphic, charging the second sink for the first.
 */
function makeNsPerEmit(): (sink: TelemetrySink, events: readonly TelemetryEvent[]) => number {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- a new closure is a new call site for the JIT
  return new Function(
    'sink',
    'events',
    `const blocks = [];
     for (let i = 0; i < events.length; i += ${BLOCK}) {
       const t0 = process.hrtime.bigint();
       for (let k = i; k < i + ${BLOCK}; k++) sink.emit(events[k]);
       blocks.push(Number(process.hrtime.bigint() - t0) / ${BLOCK});
     }
     blocks.sort((a, b) => a - b);
     return blocks[blocks.length >> 1];`,
  ) as (sink: TelemetrySink, events: readonly TelemetryEvent[]) => number;
}
const nsPerEmitKafka = makeNsPerEmit();
const nsPerEmitNull = makeNsPerEmit();

const cpuSeconds = (since: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1e6;
};

class DownTransport implements KafkaTransport {
  send(): Promise<void> {
    return Promise.reject(new Error('broker unreachable (benchmark)'));
  }
  reset(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function waitFor(cond: () => boolean, what: string, ms = 600_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Runs every section against `brokers`; topics get a unique prefix and are deleted afterwards. */
export async function runKafkaBench(
  brokers: readonly string[],
  runs: number,
  events: number,
  log: (line: string) => void,
): Promise<KafkaBenchResult> {
  const prefix = `sp-bench-${Date.now().toString(36)}`;
  const topics = new Set<string>();
  const topicFor =
    (run: number) =>
    (type: string): string => {
      const t = `${prefix}-${run}.${type}`;
      topics.add(t);
      return t;
    };
  const kafkajs = await loadKafkaJs();
  const kafka = new kafkajs.Kafka({ clientId: 'sp-bench', brokers: [...brokers], logLevel: kafkajs.logLevel.NOTHING });
  const tmp = await mkdtemp(join(tmpdir(), 'sp-bench-kafka-'));
  const hot: number[] = [];
  const hotNull: number[] = [];
  const sustained: number[] = [];
  const sustainedCpu: number[] = [];
  let spilled = 0;
  const bare: number[] = [];
  const bareCpu: number[] = [];
  const spoolWrite: number[] = [];
  const replay: number[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      log(`run ${r + 1}/${runs}: hot path`);
      const hotEvents = Array.from({ length: HOT_EVENTS }, (_, i) => makeEvent(i));
      const hotSink = await KafkaSink.openWithTransport(new DownTransport(), {
        brokers: brokers.slice(),
        spoolDir: join(tmp, `hot-${r}`),
        maxBufferedEvents: 2 * HOT_EVENTS,
        logger: silentLogger,
      });
      hotNull.push(nsPerEmitNull(new NullTelemetrySink(), hotEvents));
      hot.push(nsPerEmitKafka(hotSink, hotEvents));
      await hotSink.close();

      log(`run ${r + 1}/${runs}: sustained delivery of ${events} events`);
      const sink = await KafkaSink.open({
        brokers: brokers.slice(),
        spoolDir: join(tmp, `direct-${r}`),
        topicFor: topicFor(r),
        // Above twice the run, so the backlog never reaches the spill threshold (half of it).
        maxBufferedEvents: 2 * events + 2,
        spillAfterMs: 600_000,
        logger: silentLogger,
      });
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < events; i += CHUNK) {
        for (let k = i; k < i + CHUNK && k < events; k++) sink.emit(makeEvent(k));
        await yieldLoop();
      }
      await sink.flush();
      // flush also counts the spool as durable; this section measures delivery, so wait for every ack.
      await waitFor(() => sink.stats().written >= events, 'every event to be acknowledged');
      const secs = (performance.now() - t0) / 1000;
      const s = sink.detailedStats();
      spilled += s.spooled;
      if (s.written + s.spooled < events || s.dropped !== 0) throw new Error(`bench: accounting ${JSON.stringify(s)}`);
      sustained.push(events / secs);
      sustainedCpu.push((cpuSeconds(cpu0) * 1e6) / events);
      await sink.close();

      log(`run ${r + 1}/${runs}: bare kafkajs`);
      const b = await bareKafkajs(kafkajs, kafka, `${prefix}-bare-${r}`, events);
      topics.add(`${prefix}-bare-${r}`);
      bare.push(b.perSec);
      bareCpu.push(b.cpuMicros);

      log(`run ${r + 1}/${runs}: spool write, then replay`);
      const spoolDir = join(tmp, `spool-${r}`);
      const down = await KafkaSink.openWithTransport(new DownTransport(), {
        brokers: brokers.slice(),
        spoolDir,
        topicFor: topicFor(r),
        maxBufferedEvents: events + 1,
        logger: silentLogger,
      });
      const w0 = performance.now();
      for (let i = 0; i < events; i += CHUNK) {
        for (let k = i; k < i + CHUNK && k < events; k++) down.emit(makeEvent(k));
        await yieldLoop();
      }
      await down.flush();
      spoolWrite.push(events / ((performance.now() - w0) / 1000));
      if (down.detailedStats().spooled !== events) throw new Error(`bench: spooled ${JSON.stringify(down.detailedStats())}`);
      await down.close();

      const r0 = performance.now();
      const up = await KafkaSink.open({ brokers: brokers.slice(), spoolDir, topicFor: topicFor(r), logger: silentLogger });
      await waitFor(() => up.detailedStats().mode === 'direct', 'the replay');
      replay.push(up.detailedStats().replayed / ((performance.now() - r0) / 1000));
      await up.close();
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
    const admin = kafka.admin();
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const doomed = [...topics].filter((t) => existing.has(t));
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed }).catch(() => undefined);
    await admin.disconnect();
  }
  return {
    brokers,
    runs,
    events,
    nsPerEmit: { kafkaSink: median(hot), nullSink: median(hotNull) },
    sustained: { eventsPerSec: median(sustained), cpuMicrosPerEvent: median(sustainedCpu), spilled },
    bareKafkajs: { eventsPerSec: median(bare), cpuMicrosPerEvent: median(bareCpu) },
    spoolWrite: { eventsPerSec: median(spoolWrite) },
    replay: { eventsPerSec: median(replay) },
  };
}

/** kafkajs alone: the same events as JSON messages, sendBatch of 1000, idempotent, acks=all, gzip. */
async function bareKafkajs(
  k: Awaited<ReturnType<typeof loadKafkaJs>>,
  kafka: InstanceType<Awaited<ReturnType<typeof loadKafkaJs>>['Kafka']>,
  topic: string,
  events: number,
): Promise<{ perSec: number; cpuMicros: number }> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: k.Partitioners.DefaultPartitioner });
  await producer.connect();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < events; i += CHUNK) {
    const messages = [];
    for (let j = i; j < i + CHUNK && j < events; j++) {
      const e = makeEvent(j);
      messages.push({ key: e.key, value: JSON.stringify(e), headers: { type: e.type, tenant: e.tenant }, timestamp: String(e.time) });
    }
    await producer.sendBatch({ acks: -1, compression: k.CompressionTypes.GZIP, topicMessages: [{ topic, messages }] });
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(cpu0);
  await producer.disconnect();
  return { perSec: events / secs, cpuMicros: (cpu * 1e6) / events };
}

/** Brokers from KAFKA_BROKERS, else the local one (`up.sh kafka`). */
export async function benchBrokers(): Promise<string[]> {
  const { ensureKafka } = await import('../../test/helpers/services.ts');
  return (await ensureKafka()).brokers;
}

/** Human-readable lines for a result. */
export function formatKafkaBench(r: KafkaBenchResult): string[] {
  const n = (x: number): string => Math.round(x).toLocaleString('en');
  return [
    `Kafka sink (${r.brokers.join(',')}; ${r.events.toLocaleString('en')} events per section; median of ${r.runs} runs):`,
    `  hot path: KafkaSink.emit ${r.nsPerEmit.kafkaSink.toFixed(1)} ns, NullTelemetrySink.emit ${r.nsPerEmit.nullSink.toFixed(1)} ns (ratio ${(r.nsPerEmit.kafkaSink / r.nsPerEmit.nullSink).toFixed(2)}x)`,
    `  sustained to broker (acks=all, idempotent, gzip): ${n(r.sustained.eventsPerSec)} events/s, ${r.sustained.cpuMicrosPerEvent.toFixed(1)} µs CPU per event${r.sustained.spilled > 0 ? ` (spilled ${r.sustained.spilled})` : ''}`,
    `  bare kafkajs sendBatch(1000):                    ${n(r.bareKafkajs.eventsPerSec)} events/s, ${r.bareKafkajs.cpuMicrosPerEvent.toFixed(1)} µs CPU per event   (sink/bare ${(r.sustained.eventsPerSec / r.bareKafkajs.eventsPerSec).toFixed(2)})`,
    `  spool write (broker down, until fsync):         ${n(r.spoolWrite.eventsPerSec)} events/s`,
    `  replay (spool to broker, new sink):               ${n(r.replay.eventsPerSec)} events/s`,
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      events: { type: 'string', default: '200000' },
      json: { type: 'boolean', default: false },
    },
  });
  const result = await runKafkaBench(await benchBrokers(), Number(values.runs), Number(values.events), (l) =>
    process.stderr.write(`${l}\n`),
  );
  if (values.json) console.log(JSON.stringify(result));
  else for (const l of formatKafkaBench(result)) console.log(l);
}

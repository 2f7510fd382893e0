/**
 * Kafka telemetry sink benchmark (never part of `npm test`). Needs a broker: KAFKA_BROKERS, else
 * `scripts/services/up.sh kafka` is run.
 *   node --import tsx bench/telemetry/kafka.ts [--runs 3] [--events 200000] [--compression gzip|none] [--json]
 *
 * 1. ns per emit (hot path): 100k pre-built events emitted in a synchronous loop, timed in blocks
 *    of 1000; median block, median over runs. Side by side: NullTelemetrySink (the floor).
 * 2. Sustained delivery: `--events` sync-latency events (~250 B of JSON) built and emitted in chunks
 *    of 1000, yielding between chunks as a server would; events/s until every one is acknowledged
 *    (acks=all, idempotent, `--compression`, default gzip), with CPU per event (this process only;
 *    the broker's CPU is not counted). The sink is sized so it never spills, to measure the broker
 *    path alone. Once with the default event-batch format, once with `messageFormat: 'single'`.
 *    Side by side, bare kafkajs with the same producer settings, no validation, no sink, batches of
 *    1000 events per `sendBatch`: one message per event (what the sink used to send), and packed
 *    (the events of each partition joined into one message, as the batch format does).
 * 3. Spool write rate: the same events emitted with the broker unreachable (a transport that
 *    always fails), until `flush` (fsync'd in the spool).
 * 4. Replay rate: a new sink on that spool, with the broker up, until the spool is delivered.
 * The 1-minute load average is reported before and after: the machine is usually shared.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../../src/core/logger.ts';
import { NullTelemetrySink } from '../../src/core/telemetry.ts';
import type { TelemetryEvent, TelemetrySink } from '../../src/core/telemetry.ts';
import { KafkaSink, loadKafkaJs } from '../../src/telemetry/kafka/index.ts';
import type { KafkaTransport } from '../../src/telemetry/kafka/index.ts';
import { bareKafkajs } from './kafka-bare.ts';
import { BLOCK, CHUNK, HOT_EVENTS, makeEvent, median, yieldLoop } from './bench-common.ts';

/** Events/s until acknowledged and this process's CPU per event (medians over runs). */
export interface DeliveryFigures {
  readonly eventsPerSec: number;
  readonly cpuMicrosPerEvent: number;
}

/** Every figure of one benchmark run (medians over runs). */
export interface KafkaBenchResult {
  readonly brokers: readonly string[];
  readonly runs: number;
  readonly events: number;
  readonly compression: 'gzip' | 'none';
  /** 1-minute load average when the benchmark started and when it ended. */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly nsPerEmit: { readonly kafkaSink: number; readonly nullSink: number };
  /** The sink with its defaults (event-batch messages). */
  readonly sustained: DeliveryFigures & { readonly spilled: number };
  /** The sink with `messageFormat: 'single'` (one message per event). */
  readonly sustainedSingle: DeliveryFigures & { readonly spilled: number };
  /** kafkajs alone, one message per event. */
  readonly bareKafkajs: DeliveryFigures;
  /** kafkajs alone, each partition's events of a request packed into one message. */
  readonly bareKafkajsPacked: DeliveryFigures;
  readonly spoolWrite: { readonly eventsPerSec: number };
  readonly replay: { readonly eventsPerSec: number };
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

/** What {@link runKafkaBench} measures with. */
export interface KafkaBenchOptions {
  readonly brokers: readonly string[];
  /** Runs; every figure is the median over them (default 3). */
  readonly runs?: number;
  /** Events per section (default 200 000). */
  readonly events?: number;
  /** Compression of the sink and of bare kafkajs (default gzip, the sink's default). */
  readonly compression?: 'gzip' | 'none';
  readonly log?: (line: string) => void;
}

/** Runs every section; topics get a unique prefix and are deleted afterwards. */
export async function runKafkaBench(options: KafkaBenchOptions): Promise<KafkaBenchResult> {
  const { brokers, runs = 3, events = 200_000, compression = 'gzip', log = () => undefined } = options;
  const loadStart = loadavg()[0] ?? NaN;
  const prefix = `sp-bench-${Date.now().toString(36)}`;
  const topics = new Set<string>();
  const topicFor =
    (label: string) =>
    (type: string): string => {
      const t = `${prefix}-${label}.${type}`;
      topics.add(t);
      return t;
    };
  const kafkajs = await loadKafkaJs();
  const kafka = new kafkajs.Kafka({ clientId: 'sp-bench', brokers: [...brokers], logLevel: kafkajs.logLevel.NOTHING });
  const tmp = await mkdtemp(join(tmpdir(), 'sp-bench-kafka-'));
  const hot: number[] = [];
  const hotNull: number[] = [];
  const batch = new Figures();
  const single = new Figures();
  const bare = new Figures();
  const barePacked = new Figures();
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

      for (const format of ['batch', 'single'] as const) {
        log(`run ${r + 1}/${runs}: sustained delivery of ${events} events (${format} format)`);
        const sink = await KafkaSink.open({
          brokers: brokers.slice(),
          spoolDir: join(tmp, `direct-${format}-${r}`),
          topicFor: topicFor(`${format}-${r}`),
          compression,
          messageFormat: format,
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
        if (s.written + s.spooled < events || s.dropped !== 0) throw new Error(`bench: accounting ${JSON.stringify(s)}`);
        (format === 'batch' ? batch : single).add(events / secs, (cpuSeconds(cpu0) * 1e6) / events, s.spooled);
        await sink.close();
      }

      for (const packed of [false, true]) {
        log(`run ${r + 1}/${runs}: bare kafkajs${packed ? ', packed' : ''}`);
        const topic = `${prefix}-bare-${packed ? 'packed-' : ''}${r}`;
        topics.add(topic);
        const b = await bareKafkajs({ k: kafkajs, kafka, topic, events, compression, packed, makeEvent });
        (packed ? barePacked : bare).add(b.perSec, b.cpuMicros, 0);
      }

      log(`run ${r + 1}/${runs}: spool write, then replay`);
      const spoolDir = join(tmp, `spool-${r}`);
      const down = await KafkaSink.openWithTransport(new DownTransport(), {
        brokers: brokers.slice(),
        spoolDir,
        topicFor: topicFor(`replay-${r}`),
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
      const up = await KafkaSink.open({
        brokers: brokers.slice(),
        spoolDir,
        topicFor: topicFor(`replay-${r}`),
        compression,
        logger: silentLogger,
      });
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
    compression,
    loadAverage: { start: loadStart, end: loadavg()[0] ?? NaN },
    nsPerEmit: { kafkaSink: median(hot), nullSink: median(hotNull) },
    sustained: batch.withSpilled(),
    sustainedSingle: single.withSpilled(),
    bareKafkajs: bare.figures(),
    bareKafkajsPacked: barePacked.figures(),
    spoolWrite: { eventsPerSec: median(spoolWrite) },
    replay: { eventsPerSec: median(replay) },
  };
}

/** Delivery figures of several runs. */
class Figures {
  readonly #perSec: number[] = [];
  readonly #cpu: number[] = [];
  #spilled = 0;

  add(perSec: number, cpuMicros: number, spilled: number): void {
    this.#perSec.push(perSec);
    this.#cpu.push(cpuMicros);
    this.#spilled += spilled;
  }

  figures(): DeliveryFigures {
    return { eventsPerSec: median(this.#perSec), cpuMicrosPerEvent: median(this.#cpu) };
  }

  withSpilled(): DeliveryFigures & { readonly spilled: number } {
    return { ...this.figures(), spilled: this.#spilled };
  }
}

/** `--compression`: gzip or none. */
export function parseCompression(value: string | undefined): 'gzip' | 'none' {
  if (value === undefined || value === 'gzip' || value === 'none') return value ?? 'gzip';
  throw new Error(`--compression must be gzip or none, not ${JSON.stringify(value)}`);
}

/** Brokers from KAFKA_BROKERS, else the local one (`up.sh kafka`). */
export async function benchBrokers(): Promise<string[]> {
  const { ensureKafka } = await import('../../test/helpers/services.ts');
  return (await ensureKafka()).brokers;
}

/** Human-readable lines for a result. */
export function formatKafkaBench(r: KafkaBenchResult): string[] {
  const n = (x: number): string => Math.round(x).toLocaleString('en').padStart(9);
  const line = (label: string, f: DeliveryFigures, extra = ''): string =>
    `  ${label.padEnd(48)} ${n(f.eventsPerSec)} events/s  ${f.cpuMicrosPerEvent.toFixed(1).padStart(5)} µs CPU/event${extra}`;
  const spilled = (s: number): string => (s > 0 ? ` (spilled ${s})` : '');
  const ratio = (a: DeliveryFigures, b: DeliveryFigures): string => (a.eventsPerSec / b.eventsPerSec).toFixed(2);
  return [
    `Kafka sink (${r.brokers.join(',')}; ${r.events.toLocaleString('en')} events per section; median of ${r.runs} runs; ` +
      `load average ${r.loadAverage.start.toFixed(2)} at start, ${r.loadAverage.end.toFixed(2)} at end):`,
    `  hot path: KafkaSink.emit ${r.nsPerEmit.kafkaSink.toFixed(1)} ns, NullTelemetrySink.emit ${r.nsPerEmit.nullSink.toFixed(1)} ns (ratio ${(r.nsPerEmit.kafkaSink / r.nsPerEmit.nullSink).toFixed(2)}x)`,
    `  sustained to the broker, acks=all, idempotent, ${r.compression}, until every event is acknowledged:`,
    line('KafkaSink (event batches, the default)', r.sustained, spilled(r.sustained.spilled)),
    line("KafkaSink (messageFormat: 'single')", r.sustainedSingle, spilled(r.sustainedSingle.spilled)),
    line('bare kafkajs sendBatch(1000), message per event', r.bareKafkajs),
    line('bare kafkajs sendBatch(1000), packed', r.bareKafkajsPacked),
    `  ratios: sink/bare ${ratio(r.sustained, r.bareKafkajs)}, sink/bare packed ${ratio(r.sustained, r.bareKafkajsPacked)}, ` +
      `single-format sink/bare ${ratio(r.sustainedSingle, r.bareKafkajs)}`,
    `  spool write (broker down, until fsync):          ${n(r.spoolWrite.eventsPerSec)} events/s`,
    `  replay (spool to broker, new sink):              ${n(r.replay.eventsPerSec)} events/s`,
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      events: { type: 'string', default: '200000' },
      compression: { type: 'string', default: 'gzip' },
      json: { type: 'boolean', default: false },
    },
  });
  const result = await runKafkaBench({
    brokers: await benchBrokers(),
    runs: Number(values.runs),
    events: Number(values.events),
    compression: parseCompression(values.compression),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  if (values.json) console.log(JSON.stringify(result));
  else for (const l of formatKafkaBench(result)) console.log(l);
}

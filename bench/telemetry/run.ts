/**
 * Telemetry benchmarks in one run (never part of `npm test`):
 *   npm run bench:telemetry [-- --runs 3] [--events 200000] [--only embedded|kafka] [--compression gzip|none] [--json]
 *
 * - the embedded sink (`embedded.ts`, run as a child process and its report parsed),
 * - the Kafka sink (`kafka.ts`): hot path, sustained delivery with acks=all (event batches and
 *   single-event messages) against bare kafkajs (a message per event, and packed), spool write and
 *   replay rates, with the load average before and after. Needs a broker (KAFKA_BROKERS, else `up.sh kafka`); without one
 *   the Kafka section is reported as skipped, with the reason.
 * `--json` prints one JSON object `{ embedded, kafka }` on stdout; progress goes to stderr.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchBrokers, formatKafkaBench, parseCompression, runKafkaBench } from './kafka.ts';
import type { KafkaBenchResult } from './kafka.ts';

/** The embedded sink's figures, read from its report. */
export interface EmbeddedBenchResult {
  readonly nsPerEmit: number | undefined;
  readonly nullNsPerEmit: number | undefined;
  readonly stringifyNsPerEvent: number | undefined;
  readonly eventsPerSec: number | undefined;
  readonly bareWriterEventsPerSec: number | undefined;
  readonly dropped: number | undefined;
  /** The report as printed, for whatever the parser does not pick up. */
  readonly report: string;
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    events: { type: 'string', default: '200000' },
    only: { type: 'string' },
    compression: { type: 'string', default: 'gzip' },
    json: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

function num(report: string, re: RegExp): number | undefined {
  const m = re.exec(report);
  return m?.[1] === undefined ? undefined : Number(m[1].replace(/,/g, ''));
}

async function embedded(): Promise<EmbeddedBenchResult> {
  const script = fileURLToPath(new URL('./embedded.ts', import.meta.url));
  const report = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, '--runs', String(runs)], { maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`embedded.ts failed: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
  return {
    nsPerEmit: num(report, /EmbeddedLogSink\.emit\s+([\d.]+) ns/),
    nullNsPerEmit: num(report, /NullTelemetrySink\.emit\s+([\d.]+) ns/),
    stringifyNsPerEvent: num(report, /JSON\.stringify per event\s+([\d.]+) ns/),
    eventsPerSec: num(report, /EmbeddedLogSink\s+([\d,]+) events\/s/),
    dropped: num(report, /dropped (\d+) in all runs/),
    bareWriterEventsPerSec: num(report, /bare JSON-lines writer\s+([\d,]+) events\/s/),
    report: report.trim(),
  };
}

async function kafka(): Promise<KafkaBenchResult | { skipped: string }> {
  let brokers: string[];
  try {
    brokers = await benchBrokers();
  } catch (err) {
    return { skipped: `no Kafka broker: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
  return runKafkaBench({ brokers, runs, events: Number(values.events), compression: parseCompression(values.compression), log });
}

const out: { embedded?: EmbeddedBenchResult; kafka?: KafkaBenchResult | { skipped: string } } = {};
if (values.only === undefined || values.only === 'embedded') {
  log('embedded sink…');
  out.embedded = await embedded();
  if (!values.json) console.log(`${out.embedded.report}\n`);
}
if (values.only === undefined || values.only === 'kafka') {
  log('Kafka sink…');
  out.kafka = await kafka();
  if (!values.json) {
    if ('skipped' in out.kafka) console.log(`Kafka sink: skipped (${out.kafka.skipped})`);
    else for (const l of formatKafkaBench(out.kafka)) console.log(l);
  }
}
if (values.json) console.log(JSON.stringify(out));

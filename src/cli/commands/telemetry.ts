import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import type { SyncPilotEvent } from '../../telemetry/events/schemas.ts';
import { EmbeddedTelemetrySource } from '../../telemetry/source/embedded-telemetry-source.ts';
import { KNOWN_FAMILIES, resolveFamilies } from '../../telemetry/source/families.ts';
import { KafkaTelemetrySource } from '../../telemetry/source/kafka-telemetry-source.ts';
import type { SourcedEvent, TelemetrySource } from '../../telemetry/source/telemetry-source.ts';
import { intFlag } from '../args.ts';
import { commandFlags } from '../command-flags.ts';
import { kafkaBrokersFrom } from '../embedded-stack.ts';

const USAGE = `Usage: syncpilot telemetry tail [options]
  Prints telemetry events as they arrive, from the embedded log or from Kafka.
  --kafka BROKERS    read the Kafka topics (host:port[,...], env SYNCPILOT_KAFKA_BROKERS)
  --data-dir DIR     else read the embedded log in DIR/telemetry (default .syncpilot, env SYNCPILOT_DATA_DIR)
  --family F         only this family; repeatable or comma-separated (${KNOWN_FAMILIES.join(', ')})
  --count N          stop after N events
  --json             one JSON event per line (default: time, type, key and the main fields)
  --from-beginning   start at the oldest event (default: events from now on)
  --group NAME       resume as this consumer and commit what was printed (a Kafka consumer group, or
                     DIR/telemetry/consumers/NAME.json); default a throw-away consumer
`;

/** `syncpilot telemetry <subcommand>`: only `tail` so far. */
export async function runTelemetry(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'tail':
      return runTail(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `unknown telemetry subcommand "${sub}"\n\n${USAGE}`);
  }
}

async function runTail(argv: readonly string[]): Promise<number> {
  const flags = commandFlags(
    argv,
    {
      kafka: { type: 'string' },
      'data-dir': { type: 'string' },
      family: { type: 'string', multiple: true },
      count: { type: 'string' },
      json: { type: 'boolean' },
      'from-beginning': { type: 'boolean' },
      group: { type: 'string' },
    },
    USAGE,
  );
  if (flags === undefined) return 0;
  const families = (flags.family ?? [])
    .flatMap((f) => f.split(','))
    .map((f) => f.trim())
    .filter((f) => f !== '');
  resolveFamilies(families); // unknown families fail here, before anything connects
  const count = flags.count === undefined ? undefined : intFlag(flags.count, 'count', 1);
  const json = flags.json === true;
  const fromBeginning = flags['from-beginning'] === true;
  const brokers = kafkaBrokersFrom(flags.kafka, process.env);
  const logger = createLogger('warn');
  let source: TelemetrySource;
  if (brokers !== undefined) {
    source = new KafkaTelemetrySource({
      brokers,
      groupId: flags.group ?? `syncpilot-tail-${randomUUID().slice(0, 8)}`,
      clientId: 'syncpilot-tail',
      fromBeginning,
      deleteGroupOnClose: flags.group === undefined,
      logger,
    });
  } else {
    const dir = join(flags['data-dir'] ?? process.env.SYNCPILOT_DATA_DIR ?? '.syncpilot', 'telemetry');
    if (!existsSync(dir)) process.stderr.write(`syncpilot telemetry tail: no telemetry log in ${dir} yet; waiting for one\n`);
    source = new EmbeddedTelemetrySource({ dir, fromBeginning, logger, ...(flags.group === undefined ? {} : { name: flags.group }) });
  }

  const ctrl = new AbortController();
  const stop = (): void => ctrl.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A closed pipe (`| head`) ends the tail quietly.
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') stop();
  };
  process.stdout.on('error', onStdoutError);
  let printed = 0;
  try {
    await source.run(
      async (batch) => {
        const take = count === undefined ? batch.length : Math.min(batch.length, count - printed);
        const lines = batch.slice(0, take).map((e) => (json ? JSON.stringify(e.event) : formatEvent(e)));
        if (lines.length > 0 && !process.stdout.write(`${lines.join('\n')}\n`)) await drained(ctrl.signal);
        printed += take;
        if (count !== undefined && printed >= count) {
          stop();
          // Events of this batch past the count were not printed: leave the batch uncommitted.
          if (take < batch.length) throw new SyncPilotError('SP_ERR_CLOSED', 'count reached mid-batch');
        }
      },
      { signal: ctrl.signal, families },
    );
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.stdout.off('error', onStdoutError);
    await source.close();
  }
  return 0;
}

function drained(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.stdout.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    process.stdout.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

const MAX_VALUE_CHARS = 60;

/** One readable line: ISO time, the type without its `syncpilot.` prefix, the key, then the data fields. */
export function formatEvent({ event }: SourcedEvent): string {
  const head = [new Date(event.time).toISOString(), event.type.replace(/^syncpilot\./, ''), event.key];
  if (event.tenant !== 'default') head.push(`tenant=${event.tenant}`);
  return [...head, ...fields(event)].join('  ');
}

function fields(event: SyncPilotEvent): string[] {
  return Object.entries(event.data as Readonly<Record<string, unknown>>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      let text: string;
      if (typeof v === 'string') text = /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
      else if (typeof v === 'number' && !Number.isInteger(v)) text = String(Number(v.toFixed(3)));
      else text = JSON.stringify(v);
      if (text.length > MAX_VALUE_CHARS) text = `${text.slice(0, MAX_VALUE_CHARS - 1)}…`;
      return `${k}=${text}`;
    });
}

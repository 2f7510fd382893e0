import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { WebSocket } from 'ws';
import { parseServerConfig } from '../../core/config.ts';
import { SyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import type { WebSocketConstructor } from '../../engine/client/sync-client.ts';
import { convertTrace, defaultTracesDir, loadTrace, syntheticWorkload } from '../../workload/index.ts';
import type { ConvertedTrace } from '../../workload/types.ts';
import { intFlag, numberFlag } from '../args.ts';
import { commandFlags } from '../command-flags.ts';
import { kafkaBrokersFrom, startEmbeddedStack } from '../embedded-stack.ts';
import { formatDemoSummary, type DemoSummary } from '../demo/summary.ts';
import { replayWorkload, type ReplayProgress } from '../demo/replay-driver.ts';

const USAGE = `Usage: syncpilot demo [options]
  --clients N      simulated clients (default: 2 per concurrent user of the trace, at least 4)
  --duration S     stop replaying new edits after S seconds (default: replay the whole trace)
  --trace FILE     an editing trace (.json or .json.gz, josephg/editing-traces format);
                   default ../shared/data/traces/friendsforever.json.gz, or a synthetic workload when absent
  --window N       unacknowledged edits one writer may have in flight (default 16)
  --data-dir DIR   keep the store and telemetry here (default: a temporary directory, removed after)
  --json           print the summary as JSON on stdout
  --kafka BROKERS  send telemetry to Kafka (host:port[,...], env SYNCPILOT_KAFKA_BROKERS) instead of the
                   embedded log; the summary reports how many events the broker acknowledged
`;

const DEFAULT_TRACE = 'friendsforever.json.gz';

/** `syncpilot demo`: a server and simulated clients replaying real editing traces, on embedded defaults. */
export async function runDemo(argv: readonly string[]): Promise<number> {
  const flags = commandFlags(
    argv,
    {
      clients: { type: 'string' },
      duration: { type: 'string' },
      trace: { type: 'string' },
      window: { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
      kafka: { type: 'string' },
    },
    USAGE,
  );
  if (flags === undefined) return 0;
  const json = flags.json === true;
  const durationS = numberFlag(flags.duration, 'duration');
  const window = intFlag(flags.window, 'window', 16);
  const kafkaBrokers = kafkaBrokersFrom(flags.kafka, process.env);
  const note = (line: string): void => void process.stderr.write(`${line}\n`);

  const { workload, source, kind } = await pickWorkload(flags.trace, note);
  const agents = workload.agents.length;
  const clients = intFlag(flags.clients, 'clients', Math.max(4, agents * 2));
  if (clients < agents)
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `--clients must be at least ${agents}: the trace has ${agents} concurrent users`);

  const tempDir = flags['data-dir'] === undefined ? mkdtempSync(join(tmpdir(), 'syncpilot-demo-')) : undefined;
  const dataDir = flags['data-dir'] ?? tempDir;
  const config = parseServerConfig({ dataDir, port: 0, logLevel: 'warn' });
  const stack = await startEmbeddedStack(config, createLogger('warn'), [], kafkaBrokers === undefined ? {} : { kafkaBrokers });
  const progress = createProgress(!json || process.stderr.isTTY, source);
  let result: Awaited<ReturnType<typeof replayWorkload>>;
  try {
    result = await replayWorkload({
      server: stack.server,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
      workload,
      clients,
      window,
      ...(durationS === undefined ? {} : { durationMs: durationS * 1000 }),
      onProgress: progress.update,
    });
  } finally {
    progress.done();
    // Closing flushes telemetry (for Kafka: until the broker acknowledged it or it is spooled), so
    // the counts below are final.
    try {
      await stack.close();
    } finally {
      if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
    }
  }
  const telemetry = stack.telemetry.stats();
  const summary: DemoSummary = {
    trace: source,
    traceKind: kind,
    converged: result.converged && result.matchesEndContent !== false,
    matchesEndContent: result.matchesEndContent ?? null,
    complete: result.complete,
    ops: result.ops,
    clients: result.clients,
    docs: result.docs,
    writers: result.writers,
    readers: result.readers,
    latencyMs: {
      p50: round(result.latencyMs.p50),
      p99: round(result.latencyMs.p99),
      max: round(result.latencyMs.max),
      samples: result.latencyMs.samples,
    },
    opsPerSec: Math.round(result.opsPerSec),
    elapsedMs: Math.round(result.elapsedMs),
    bytes: { sent: result.bytesSent, received: result.bytesReceived },
    telemetry: {
      sink: stack.telemetrySink,
      emitted: telemetry.emitted,
      written: telemetry.written,
      delivered: telemetry.written,
      dropped: telemetry.dropped,
    },
    endContentChars: workload.endContent === undefined ? null : [...workload.endContent].length,
    problems: result.problems,
  };
  process.stdout.write(json ? `${JSON.stringify(summary, null, 2)}\n` : formatDemoSummary(summary));
  return summary.converged ? 0 : 1;
}

async function pickWorkload(
  trace: string | undefined,
  note: (l: string) => void,
): Promise<{ workload: ConvertedTrace; source: string; kind: string }> {
  let path = trace;
  if (path === undefined) {
    const candidate = join(defaultTracesDir(), DEFAULT_TRACE);
    if (existsSync(candidate)) path = candidate;
    else note(`syncpilot demo: no traces at ${defaultTracesDir()} (set SYNCPILOT_DATA_DIR); using a built-in synthetic workload`);
  }
  if (path === undefined) {
    return {
      workload: syntheticWorkload({ agents: 3, changesPerAgent: 2000, seed: 42 }),
      source: 'synthetic (3 users × 2,000 edits, seed 42)',
      kind: 'synthetic',
    };
  }
  const loaded = await loadTrace(path);
  return { workload: convertTrace(loaded), source: basename(path), kind: loaded.kind };
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x;
}

function createProgress(enabled: boolean, label: string): { update: (p: ReplayProgress) => void; done: () => void } {
  const tty = process.stderr.isTTY;
  let last = 0;
  let shown = false;
  return {
    update: (p) => {
      if (!enabled) return;
      const now = performance.now();
      if (!tty && now - last < 2000 && p.submitted < p.total) return;
      last = now;
      const pct = p.total === 0 ? 100 : Math.floor((p.submitted / p.total) * 100);
      const rate = p.elapsedMs > 0 ? Math.round(p.submitted / (p.elapsedMs / 1000)) : 0;
      const line = `replaying ${label}: ${pct}% ${p.submitted.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} edits, ${rate.toLocaleString('en-US')} edits/s`;
      process.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
      shown = true;
    },
    done: () => {
      if (shown && tty) process.stderr.write('\n');
      shown = false;
    },
  };
}

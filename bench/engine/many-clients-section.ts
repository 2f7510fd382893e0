import {
  MANY_CLIENTS_P99_BUDGET_MS,
  manyClientsOurs,
  manyClientsYjs,
  type ManyClientsOptions,
  type ManyClientsRun,
} from './many-clients.ts';
import { median, medianLatency, ratio, round, type LatencySummary } from './stats.ts';

/** Medians over runs of one system under the many-clients load. */
export interface ManyClientsSummary {
  readonly clients: number;
  readonly edits: number;
  readonly deliveries: number;
  readonly latencyMs: LatencySummary;
  /** The first seconds against a fresh server process, not in `latencyMs`. */
  readonly warmupLatencyMs: LatencySummary;
  readonly clientLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly serverLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Every run delivered every edit to every other client and all replicas of a document ended equal. */
  readonly allConverged: boolean;
  readonly serverStats: unknown;
  readonly runs: readonly {
    readonly edits: number;
    readonly p50: number;
    readonly p99: number;
    readonly warmupP99: number;
    readonly converged: boolean;
  }[];
}

export interface ManyClientsSection {
  readonly options: ManyClientsOptions;
  readonly notes: readonly string[];
  readonly ours: ManyClientsSummary;
  readonly yjs: ManyClientsSummary;
  readonly ratios: { readonly latencyP50: number; readonly latencyP99: number };
  /** Passes when ours' median p99 is under the limit and every delivery arrived. */
  readonly budget: { readonly p99UnderMs: number; readonly measuredMs: number; readonly pass: boolean };
}

type Loop = ManyClientsSummary['clientLoopDelayMs'];
const loopOf = (xs: readonly Loop[]): Loop => ({
  p50: round(median(xs.map((l) => l.p50))),
  p99: round(median(xs.map((l) => l.p99))),
  max: round(median(xs.map((l) => l.max))),
});

function summarise(runs: readonly ManyClientsRun[]): ManyClientsSummary {
  const lat = medianLatency(runs.map((r) => r.latencyMs));
  const warm = medianLatency(runs.map((r) => r.warmupLatencyMs));
  return {
    clients: runs[0]?.clients ?? 0,
    edits: Math.round(median(runs.map((r) => r.edits))),
    deliveries: Math.round(median(runs.map((r) => r.deliveries))),
    latencyMs: { p50: round(lat.p50), p99: round(lat.p99), max: round(lat.max), samples: lat.samples },
    warmupLatencyMs: { p50: round(warm.p50), p99: round(warm.p99), max: round(warm.max), samples: warm.samples },
    clientLoopDelayMs: loopOf(runs.map((r) => r.clientLoopDelayMs)),
    serverLoopDelayMs: loopOf(runs.map((r) => r.serverLoopDelayMs)),
    allConverged: runs.every((r) => r.converged),
    serverStats: runs.at(-1)?.serverStats,
    runs: runs.map((r) => ({
      edits: r.edits,
      p50: round(r.latencyMs.p50),
      p99: round(r.latencyMs.p99),
      warmupP99: round(r.warmupLatencyMs.p99),
      converged: r.converged,
    })),
  };
}

/** Runs the many-clients load `runs` times per system (alternating which goes first). */
export async function runManyClientsSection(
  options: ManyClientsOptions,
  runs: number,
  progress: (line: string) => void,
): Promise<ManyClientsSection> {
  const ours: ManyClientsRun[] = [];
  const yjs: ManyClientsRun[] = [];
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? (['ours', 'yjs'] as const) : (['yjs', 'ours'] as const);
    for (const system of order) {
      const result = system === 'ours' ? await manyClientsOurs(options) : await manyClientsYjs(options);
      (system === 'ours' ? ours : yjs).push(result);
      progress(
        `many clients run ${r + 1}/${runs} ${system}: ${result.edits} edits, ${result.deliveries}/${result.expectedDeliveries} deliveries, ` +
          `p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms${result.converged ? '' : ', NOT CONVERGED'}`,
      );
    }
  }
  const o = summarise(ours);
  const y = summarise(yjs);
  return {
    options,
    notes: [
      `${options.docs * options.perDoc} clients (${options.perDoc} per document, ${options.docs} documents) in one client process; each inserts a letter (or, one time in ten, deletes one) at a random place every ${options.minIntervalMs}-${options.maxIntervalMs} ms; ${options.warmupMs / 1000} s of warm-up against the fresh server process, then ${options.durationMs / 1000} s measured`,
      'latencyMs covers the measured phase only; warmupLatencyMs (the fresh server JIT-compiling its hot paths) is reported apart',
      'latency = each other client of the document applies the edit − the typist starts it, over every delivery; ours against the SQLite server child, yjs against the relay child',
      'clientLoopDelayMs / serverLoopDelayMs: event-loop delay of the client process (100 clients share one thread, so part of every latency is waiting for it) and of the server process (synchronous SQLite commits and checkpoints, GC) in the measured phase',
    ],
    ours: o,
    yjs: y,
    ratios: { latencyP50: ratio(o.latencyMs.p50, y.latencyMs.p50), latencyP99: ratio(o.latencyMs.p99, y.latencyMs.p99) },
    budget: {
      p99UnderMs: MANY_CLIENTS_P99_BUDGET_MS,
      measuredMs: o.latencyMs.p99,
      pass: o.latencyMs.p99 < MANY_CLIENTS_P99_BUDGET_MS && o.allConverged,
    },
  };
}

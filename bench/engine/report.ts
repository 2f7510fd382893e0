import type { ClientMemoryFigures } from './client-memory.ts';
import type { ManyClientsSection } from './many-clients-section.ts';
import type { PipelineOverheadResult } from './pipeline-overhead.ts';
import { REPLAY_LABELS, REPLAY_SYSTEMS, type ReplaySection } from './replay-section.ts';
import type { MachineInfo } from './stats.ts';

/** A budget of the issue with its verdict. */
export interface Budget {
  readonly name: string;
  readonly limit: string;
  readonly measured: string;
  readonly pass: boolean;
}

/** Everything the benchmark measured: printed as JSON with `--json`, as tables otherwise. */
export interface EngineBenchReport {
  readonly benchmark: 'engine';
  readonly date: string;
  readonly command: string;
  readonly options: {
    readonly runs: number;
    readonly quick: boolean;
    readonly window: number;
    readonly trace: string;
    readonly sections: readonly string[];
  };
  readonly machine: MachineInfo;
  readonly workload: {
    readonly source: string;
    readonly synthetic: boolean;
    readonly edits: number;
    readonly sourceEdits: number;
    readonly endContentChars: number;
    readonly notes: readonly string[];
  };
  readonly replay?: ReplaySection;
  readonly pipeline?: PipelineOverheadResult;
  readonly manyClients?: ManyClientsSection;
  readonly clientMemory?: {
    readonly ours: ClientMemoryFigures;
    readonly yjs: ClientMemoryFigures;
    readonly ratioRuntime: number;
    readonly notes: readonly string[];
    readonly budget: { readonly runtimeUnderKiB: number; readonly measuredKiB: number; readonly pass: boolean };
  };
  readonly budgets: readonly Budget[];
  readonly elapsedSec: number;
}

/** Left-aligns the first column and right-aligns the others. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

const n = (x: number, digits = 0): string =>
  Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
const x = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(2)}x` : 'n/a');

function replayText(r: ReplaySection): string {
  const rows = REPLAY_SYSTEMS.map((s) => {
    const v = r[s];
    const m = v.serverMemoryMiB;
    return [
      REPLAY_LABELS[s],
      n(v.opsPerSec),
      n(v.latencyMs.p50, 2),
      n(v.latencyMs.p99, 2),
      n(v.latencyMs.max, 1),
      n(m.idleRss, 1),
      n(m.peakRss, 1),
      n(m.afterRss, 1),
      n(m.heapGrowth, 1),
    ];
  });
  const ratioRows = (
    [
      ['ours / yjs', r.ratios.oursVsYjs],
      ['ours in-memory / yjs', r.ratios.oursMemoryStoreVsYjs],
      ['ours SQLite / ours in-memory', r.ratios.sqliteVsMemoryStore],
    ] as const
  ).map(([label, q]) => [label, x(q.opsPerSec), x(q.latencyP50), x(q.latencyP99), x(q.serverPeakRss)]);
  return [
    `1. Trace replay: ${n(r.edits)} edits, writer → server → reader over loopback WebSocket, window ${r.window} (medians; reader text === endContent checked for every run)`,
    table(['system', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'srv idle MiB', 'srv peak MiB', 'srv after MiB', 'heap +MiB'], rows),
    '',
    table(['ratio', 'ops/s', 'p50', 'p99', 'srv peak RSS'], ratioRows),
    ...r.notes.map((t) => `  - ${t}`),
  ].join('\n');
}

function pipelineText(p: PipelineOverheadResult): string {
  const ns = p.nsPerMessage;
  return [
    `2. Pipeline overhead per message (median of ${p.runs} runs of ${n(p.messagesPerRun)} messages)`,
    table(
      ['variant', 'ns/msg', 'added vs direct'],
      [
        ['direct function call', n(ns.directCall, 1), '-'],
        ['empty Pipeline.run', n(ns.emptyPipeline, 1), n(p.overheadNs.emptyPipeline, 1)],
        ['authz stage called directly', n(ns.authzStageDirect, 1), n(ns.authzStageDirect - ns.directCall, 1)],
        ['Pipeline.run with authz', n(ns.authzPipeline, 1), n(p.overheadNs.authzPipeline, 1)],
      ],
    ),
    `  - the runner itself adds ${n(p.overheadNs.authzRunnerOnly, 1)} ns around the authz stage (two clock reads, budget check, stats)`,
  ].join('\n');
}

function manyText(m: ManyClientsSection): string {
  const row = (label: string, v: ManyClientsSection['ours']): string[] => [
    label,
    n(v.edits),
    n(v.deliveries),
    n(v.latencyMs.p50, 2),
    n(v.latencyMs.p99, 2),
    n(v.latencyMs.max, 1),
    n(v.warmupLatencyMs.p99, 2),
    n(v.clientLoopDelayMs.p99, 2),
    n(v.serverLoopDelayMs.p99, 2),
    v.allConverged ? 'yes' : 'NO',
  ];
  return [
    `3. ${m.options.docs * m.options.perDoc} concurrent typists on ${m.options.docs} documents, ${m.options.durationMs / 1000} s measured after ${m.options.warmupMs / 1000} s of warm-up (medians over runs)`,
    table(
      ['system', 'edits', 'deliveries', 'p50 ms', 'p99 ms', 'max ms', 'warm-up p99 ms', 'client loop p99', 'server loop p99', 'converged'],
      [row('ours (SQLite server)', m.ours), row('Yjs + bare ws relay', m.yjs)],
    ),
    `  ratio ours / yjs: p50 ${x(m.ratios.latencyP50)}, p99 ${x(m.ratios.latencyP99)}`,
    ...m.notes.map((t) => `  - ${t}`),
  ].join('\n');
}

function memoryText(c: NonNullable<EngineBenchReport['clientMemory']>): string {
  const row = (label: string, v: ClientMemoryFigures): string[] => [
    label,
    n(v.runtimeKiB, 1),
    n(v.runtimeKiBNoDoubleCount, 1),
    n(v.runtimeParts.heapUsed, 1),
    n(v.runtimeParts.external, 1),
    n(v.runtimeParts.rss, 1),
    n(v.docContentKiB, 1),
  ];
  return [
    `4. Memory per connected client, document content excluded (${c.ours.clients} clients, median of ${c.ours.runs} runs)`,
    table(
      ['client', 'KiB (heap+ext+ab)', 'KiB (heap+ext)', 'heap KiB', 'external KiB', 'RSS KiB', 'doc content KiB'],
      [row('ours: SyncClient + ClientDoc', c.ours), row('Yjs: Y.Doc + ws socket', c.yjs)],
    ),
    `  ratio ours / yjs: ${x(c.ratioRuntime)}`,
    ...c.notes.map((t) => `  - ${t}`),
  ].join('\n');
}

/** The human-readable report. */
export function formatReport(r: EngineBenchReport): string {
  const m = r.machine;
  const parts = [
    `syncpilot engine benchmark — ${r.date}`,
    `${m.node} on ${m.platform}, ${m.cpus} × ${m.cpuModel}; load average ${m.loadavgAtStart.join(' ')} at start, ${m.loadavgAtEnd.join(' ')} at end`,
    `workload: ${r.workload.source}, ${n(r.workload.edits)} edits${r.workload.notes.length > 0 ? ` (${r.workload.notes.join('; ')})` : ''}; runs: ${r.options.runs}`,
  ];
  if (r.replay !== undefined) parts.push('', replayText(r.replay));
  if (r.pipeline !== undefined) parts.push('', pipelineText(r.pipeline));
  if (r.manyClients !== undefined) parts.push('', manyText(r.manyClients));
  if (r.clientMemory !== undefined) parts.push('', memoryText(r.clientMemory));
  parts.push(
    '',
    'Budgets',
    table(
      ['budget', 'limit', 'measured', 'verdict'],
      r.budgets.map((b) => [b.name, b.limit, b.measured, b.pass ? 'PASS' : 'FAIL']),
    ),
    '',
    `total ${n(r.elapsedSec)} s`,
  );
  return parts.join('\n');
}

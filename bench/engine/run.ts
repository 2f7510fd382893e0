/**
 * Engine benchmark (never part of `npm test`):
 *   npm run bench:engine -- [--json] [--runs N] [--quick] [--trace FILE] [--window W] [--sections LIST]
 *
 * 1. replay of an editing trace writer → server → reader: ours (SQLite), ours (in-memory store) and
 *    bare Yjs over a ws relay, side by side; ops/s, end-to-end latency, server memory;
 * 2. per-message pipeline overhead (empty, with the authz stage) against a direct call;
 * 3. 100 concurrent typists on 10 documents: end-to-end latency (ours and Yjs);
 * 4. memory per connected client, document content excluded (ours and Yjs).
 * Medians of several runs; budgets reported pass/fail. See bench/README.md.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CLIENT_MEMORY_BUDGET_BYTES, measureClientMemory } from './client-memory.ts';
import { runManyClientsSection } from './many-clients-section.ts';
import { DEFAULT_MANY_CLIENTS } from './many-clients.ts';
import { EMPTY_PIPELINE_BUDGET_NS, measurePipelineOverhead } from './pipeline-overhead.ts';
import { formatReport, type Budget, type EngineBenchReport } from './report.ts';
import { runReplaySection } from './replay-section.ts';
import { currentLoad, machineInfo, ratio } from './stats.ts';
import { loadBenchWorkload } from './workload.ts';

const SECTIONS = ['pipeline', 'replay', 'many', 'memory'] as const;
type Section = (typeof SECTIONS)[number];
const QUICK_EDITS = 30_000;
const QUICK_MANY_CLIENTS = { warmupMs: 1_000, durationMs: 3_000 };
const MEMORY_CLIENTS = 200;

const USAGE = `usage: npm run bench:engine -- [options]
  --json            print one JSON object with every figure (progress goes to stderr)
  --runs N          runs per measurement, medians reported (default 3)
  --quick           a ${QUICK_EDITS}-edit prefix of the trace, 1 run, many clients for 1 s + 3 s: a smoke check
  --trace FILE      a sequential editing trace (default ../shared/data/traces/automerge-paper.json.gz)
  --window W        edits the writer may be ahead of the reader (default 64)
  --sections LIST   comma-separated subset of ${SECTIONS.join(',')} (default all)`;

function parseOptions(): {
  json: boolean;
  runs: number;
  quick: boolean;
  trace: string | undefined;
  window: number;
  sections: Section[];
} {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      trace: { type: 'string' },
      window: { type: 'string', default: '64' },
      sections: { type: 'string', default: SECTIONS.join(',') },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const runs = values.runs === undefined ? (values.quick ? 1 : 3) : Number(values.runs);
  const window = Number(values.window);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer\n${USAGE}`);
  if (!Number.isInteger(window) || window < 1) throw new Error(`--window must be a positive integer\n${USAGE}`);
  const sections = values.sections.split(',').map((s) => s.trim());
  for (const s of sections)
    if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section "${s}" in --sections\n${USAGE}`);
  return {
    json: values.json,
    runs,
    quick: values.quick,
    trace: values.trace === undefined ? undefined : resolve(values.trace),
    window,
    sections: sections as Section[],
  };
}

async function main(): Promise<void> {
  const opts = parseOptions();
  const started = performance.now();
  const machine = machineInfo();
  const progress = (line: string): void => void process.stderr.write(`[bench:engine] ${line}\n`);
  const has = (s: Section): boolean => opts.sections.includes(s);
  const budgets: Budget[] = [];

  const workload = await loadBenchWorkload({
    ...(opts.trace === undefined ? {} : { tracePath: opts.trace }),
    ...(opts.quick ? { limit: QUICK_EDITS } : {}),
  });
  for (const note of workload.notes) progress(`workload: ${note}`);

  let pipeline: EngineBenchReport['pipeline'];
  if (has('pipeline')) {
    progress('pipeline overhead…');
    pipeline = measurePipelineOverhead(Math.max(5, opts.runs));
    budgets.push({
      name: 'empty pipeline adds per message',
      limit: `< ${EMPTY_PIPELINE_BUDGET_NS / 1000} µs`,
      measured: `${pipeline.overheadNs.emptyPipeline} ns`,
      pass: pipeline.budget.pass,
    });
  }

  let replay: EngineBenchReport['replay'];
  if (has('replay')) {
    progress(`replay of ${workload.edits.length} edits, ${opts.runs} run(s) per system…`);
    replay = await runReplaySection(workload, opts.window, opts.runs, progress);
  }

  let manyClients: EngineBenchReport['manyClients'];
  if (has('many')) {
    const options = opts.quick ? { ...DEFAULT_MANY_CLIENTS, ...QUICK_MANY_CLIENTS } : DEFAULT_MANY_CLIENTS;
    progress(`${options.docs * options.perDoc} concurrent clients for ${options.durationMs / 1000} s, ${opts.runs} run(s) per system…`);
    manyClients = await runManyClientsSection(options, opts.runs, progress);
    budgets.push({
      name: `p99 latency, ${options.docs * options.perDoc} typists`,
      limit: `< ${manyClients.budget.p99UnderMs} ms`,
      measured: `${manyClients.budget.measuredMs} ms${manyClients.ours.allConverged ? '' : ' (not every edit delivered)'}`,
      pass: manyClients.budget.pass,
    });
  }

  let clientMemory: EngineBenchReport['clientMemory'];
  if (has('memory')) {
    progress(`memory of ${MEMORY_CLIENTS} clients, ${opts.runs} run(s) per system…`);
    const ours = await measureClientMemory('ours', MEMORY_CLIENTS, opts.runs);
    const yjs = await measureClientMemory('yjs', MEMORY_CLIENTS, opts.runs);
    const limitKiB = CLIENT_MEMORY_BUDGET_BYTES / 1024;
    clientMemory = {
      ours,
      yjs,
      ratioRuntime: ratio(ours.runtimeKiB, yjs.runtimeKiB),
      notes: [
        'measured in a fresh client process after a full GC: (N connected clients with one small open document each − N bare documents with the same content) / N',
        'the issue counts heapUsed + external + arrayBuffers; Node already includes arrayBuffers in external, so that sum counts socket and frame buffers twice (the budget uses it, which is conservative)',
      ],
      budget: { runtimeUnderKiB: limitKiB, measuredKiB: ours.runtimeKiB, pass: ours.runtimeKiB < limitKiB },
    };
    budgets.push({
      name: 'memory per client, content excluded',
      limit: '< 1 MB (1024 KiB)',
      measured: `${ours.runtimeKiB} KiB`,
      pass: clientMemory.budget.pass,
    });
  }

  machine.loadavgAtEnd = currentLoad();
  const report: EngineBenchReport = {
    benchmark: 'engine',
    date: new Date().toISOString(),
    command: `npm run bench:engine -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: { runs: opts.runs, quick: opts.quick, window: opts.window, trace: workload.source, sections: opts.sections },
    machine,
    workload: {
      source: workload.source,
      synthetic: workload.synthetic,
      edits: workload.edits.length,
      sourceEdits: workload.sourceEdits,
      endContentChars: workload.endContent.length,
      notes: workload.notes,
    },
    ...(replay === undefined ? {} : { replay }),
    ...(pipeline === undefined ? {} : { pipeline }),
    ...(manyClients === undefined ? {} : { manyClients }),
    ...(clientMemory === undefined ? {} : { clientMemory }),
    budgets,
    elapsedSec: Math.round((performance.now() - started) / 1000),
  };
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`\nbench:engine FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

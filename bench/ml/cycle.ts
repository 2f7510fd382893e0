/**
 * The full retraining cycle, timed: N new labels appended to the embedded telemetry log → the
 * label trigger (reading the log through `EmbeddedTelemetrySource`) enqueues a cycle → the
 * in-process runner trains (TF.js), exports (ONNX + card, parity), registers, evaluates and
 * promotes → the registry's file-watch bus tells a `ModelHost` → its `Predictor` answers from the
 * new version. Each run starts from an empty data directory (no champion: the baseline serves).
 * Goal: under 60 s for a small model on this machine.
 *
 *   node --import tsx bench/ml/cycle.ts [--runs 3] [--labels 100] [--epochs N] [--json]
 *
 * `runCycleBench` is also called by `bench/ml/run.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { newEventId } from '../../src/core/telemetry.ts';
import { compressionSizeBaseline } from '../../src/ml/features/compression-size-baseline.ts';
import { compressionSizeFeatures } from '../../src/ml/features/compression-size.ts';
import { ModelHost } from '../../src/ml/model-host.ts';
import { createOnnxRuntime } from '../../src/ml/runtime/onnx-runtime.ts';
import { EmbeddedLogSink } from '../../src/telemetry/embedded-log-sink.ts';
import { EmbeddedTelemetrySource } from '../../src/telemetry/source/embedded-telemetry-source.ts';
import { createPipelineDeps } from '../../pipelines/default-deps.ts';
import type { PipelineDeps } from '../../pipelines/jobs/pipeline-deps.ts';
import { InProcessRunner } from '../../pipelines/runner/in-process.ts';
import { LabelTrigger } from '../../pipelines/triggers/label-trigger.ts';
import { runTelemetryTriggers } from '../../pipelines/triggers/telemetry-trigger.ts';

/** Options of {@link runCycleBench}. */
export interface CycleBenchOptions {
  /** Cycles measured, each from a fresh directory (default 3; `quick`: 1). */
  readonly runs?: number;
  /** New labels that trigger the retraining (default 100). */
  readonly labels?: number;
  /** Most training epochs (default the policy's: 120 with early stopping). */
  readonly epochs?: number;
  readonly quick?: boolean;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/** Milliseconds from the labels' first append to each step, in one cycle. */
export interface CycleRun {
  /** The label trigger enqueued the cycle (log flush + tail poll + counting). */
  readonly enqueuedMs: number;
  readonly trainStartMs: number;
  /** Training returned: dataset built, model fitted, exported with parity checked. */
  readonly trainedMs: number;
  /** Registered, evaluated (smoke-loaded), promoted through the gate. */
  readonly promotedMs: number;
  /** The first prediction tagged with the new version. */
  readonly servingMs: number;
  readonly version: number;
  readonly epochsRun: number;
  readonly backend: string;
  readonly mae: number;
  readonly baselineMae: number;
}

export interface CycleBenchResult {
  readonly labels: number;
  readonly runs: readonly CycleRun[];
  /** Medians over the runs, per phase and in all. */
  readonly median: {
    readonly labelsToTrigger: number;
    readonly triggerToTrainStart: number;
    readonly training: number;
    readonly registerEvaluatePromote: number;
    readonly promoteToServing: number;
    readonly total: number;
  };
  readonly goalMs: number;
  readonly withinGoal: boolean;
}

const GOAL_MS = 60_000;
const FEATURES = compressionSizeFeatures(new TextEncoder().encode('the quick brown fox jumps over the lazy dog '.repeat(40)));

/** Runs the cycle `runs` times and reports medians. */
export async function runCycleBench(options: CycleBenchOptions = {}): Promise<CycleBenchResult> {
  const runs = options.runs ?? (options.quick === true ? 1 : 3);
  const labels = options.labels ?? 100;
  const log = options.log ?? (() => undefined);
  const out: CycleRun[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await oneCycle(labels, options.epochs);
    log(
      `cycle ${i + 1}/${runs}: serving v${r.version} after ${(r.servingMs / 1000).toFixed(2)} s (training ${((r.trainedMs - r.trainStartMs) / 1000).toFixed(2)} s, ${r.epochsRun} epochs on ${r.backend})`,
    );
    out.push(r);
  }
  const med = (f: (r: CycleRun) => number): number => median(out.map(f));
  const total = med((r) => r.servingMs);
  return {
    labels,
    runs: out,
    median: {
      labelsToTrigger: med((r) => r.enqueuedMs),
      triggerToTrainStart: med((r) => r.trainStartMs - r.enqueuedMs),
      training: med((r) => r.trainedMs - r.trainStartMs),
      registerEvaluatePromote: med((r) => r.promotedMs - r.trainedMs),
      promoteToServing: med((r) => r.servingMs - r.promotedMs),
      total,
    },
    goalMs: GOAL_MS,
    withinGoal: total < GOAL_MS,
  };
}

async function oneCycle(labels: number, epochs: number | undefined): Promise<CycleRun> {
  const dataDir = await mkdtemp(join(tmpdir(), 'sp-bench-cycle-'));
  const marks: { enqueued?: number; trainStart?: number; trained?: number; promoted?: number } = {};
  let t0 = 0;
  const since = (): number => performance.now() - t0;
  const real = createPipelineDeps({ dataDir });
  const deps: PipelineDeps = {
    ...real,
    trainPolicy: async (policy, opts) => {
      marks.trainStart = since();
      const r = await real.trainPolicy(policy, opts);
      marks.trained = since();
      return r;
    },
    openRegistry: async () => {
      const reg = await real.openRegistry();
      return {
        ...reg,
        promote: async (policy, version, opts) => {
          await reg.promote(policy, version, opts);
          marks.promoted = since();
        },
      };
    },
  };
  const registry = await real.registry();
  const sink = await EmbeddedLogSink.open({ dir: join(dataDir, 'telemetry'), flushIntervalMs: 5 });
  const host = new ModelHost({ registry, runtime: createOnnxRuntime(), ...(registry.bus === null ? {} : { bus: registry.bus }) });
  const predictor = host.predictor('compression', { baseline: (f) => Float32Array.of(compressionSizeBaseline(f)), budgetMs: 50 });
  const runner = new InProcessRunner({ deps, retry: { attempts: 1 } });
  const source = new EmbeddedTelemetrySource({ dir: join(dataDir, 'telemetry'), fromBeginning: true, pollIntervalMs: 20, lingerMs: 5 });
  const trigger = new LabelTrigger({
    policy: 'compression',
    enqueuer: runner,
    threshold: labels,
    request: epochs === undefined ? {} : { epochs },
    onEnqueued: () => (marks.enqueued ??= since()),
  });
  const ctrl = new AbortController();
  const watching = runTelemetryTriggers(source, [trigger], ctrl.signal);
  try {
    await host.ready('compression');
    if ((await predictor.predict(FEATURES)).source !== 'baseline') throw new Error('a fresh directory should serve the baseline');
    t0 = performance.now();
    for (let i = 0; i < labels; i++) sink.emit(labelEvent(i));
    await sink.flush();
    let servingMs: number | undefined;
    let version = 0;
    while (servingMs === undefined) {
      const p = await predictor.predict(FEATURES);
      if (p.model !== null) {
        servingMs = since();
        version = p.model.version;
      } else {
        if (since() > 10 * GOAL_MS) throw new Error('no new model served after 10 minutes');
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const card = await registry.show('compression', version);
    return {
      enqueuedMs: marks.enqueued ?? NaN,
      trainStartMs: marks.trainStart ?? NaN,
      trainedMs: marks.trained ?? NaN,
      promotedMs: marks.promoted ?? NaN,
      servingMs,
      version,
      epochsRun: card.training.epochs,
      backend: card.training.backend,
      mae: card.metrics.test.mae ?? NaN,
      baselineMae: card.metrics.baseline?.mae ?? NaN,
    };
  } finally {
    ctrl.abort();
    await watching.catch(() => undefined);
    await source.close();
    await runner.close();
    await host.close();
    await sink.close();
    await real.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** A compression outcome: what a brotli-compressed message actually came to (a label of the size model). */
function labelEvent(i: number): Parameters<EmbeddedLogSink['emit']>[0] {
  const rawBytes = 512 + ((i * 7919) % 8192);
  return {
    type: 'syncpilot.compression.v1',
    id: newEventId(),
    time: Date.now(),
    tenant: 'default',
    key: `peer-${i % 8}`,
    data: {
      peer: `peer-${i % 8}`,
      decision: 'compress',
      codec: 'brotli',
      level: 4,
      rawBytes,
      encodedBytes: Math.round(rawBytes * 0.3),
      encodeMicros: 40,
    },
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The result as a small table. */
export function formatCycleBench(r: CycleBenchResult): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  const m = r.median;
  return [
    `Full cycle: ${r.labels} new labels in the embedded log → compression model serving (median of ${r.runs.length})`,
    `  labels → trigger enqueued       ${s(m.labelsToTrigger)}`,
    `  trigger → training starts       ${s(m.triggerToTrainStart)}`,
    `  training (data, fit, export)    ${s(m.training)}`,
    `  register, evaluate, promote     ${s(m.registerEvaluatePromote)}`,
    `  promotion → predictor serving   ${s(m.promoteToServing)}`,
    `  total                           ${s(m.total)}   goal < ${s(r.goalMs)}: ${r.withinGoal ? 'met' : 'MISSED'}`,
    `  model mae ${r.runs.map((x) => x.mae.toFixed(4)).join(', ')} vs baseline ${r.runs[0]?.baselineMae.toFixed(4) ?? '-'}; epochs ${r.runs.map((x) => x.epochsRun).join(', ')} on ${r.runs[0]?.backend ?? '-'}`,
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      labels: { type: 'string' },
      epochs: { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const result = await runCycleBench({
    ...(values.runs === undefined ? {} : { runs: Number(values.runs) }),
    ...(values.labels === undefined ? {} : { labels: Number(values.labels) }),
    ...(values.epochs === undefined ? {} : { epochs: Number(values.epochs) }),
    quick: values.quick === true,
    log: (l) => void process.stderr.write(`${l}\n`),
  });
  console.log(values.json === true ? JSON.stringify(result, null, 2) : formatCycleBench(result));
}

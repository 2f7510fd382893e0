/**
 * The full retraining cycle, timed: N new labels appended to the embedded telemetry log → the
 * label trigger (reading the log through `EmbeddedTelemetrySource`) enqueues a cycle → the
 * in-process runner reads the labels back as rows, trains (TF.js) on the Canterbury chunks plus
 * those rows, exports (ONNX + card, parity), registers, evaluates and promotes → the registry's
 * file-watch bus tells a `ModelHost` → its `Predictor` answers from the new version. Each run
 * starts from an empty data directory (no champion: the baseline serves).
 * Goal: under 60 s for a small model on this machine.
 *
 * The labels are real: chunks (64 B..16 KiB) of the text of the editing traces in
 * `../shared/data/traces` (a LaTeX paper, a blog, a shared story — content the corpus does not
 * hold), each with its `compression-size` features from the serving feature function and its
 * real brotli size at the model target's quality, as the compression stage would report them.
 * They are made before the clock starts.
 *
 *   node --import tsx bench/ml/cycle.ts [--runs 3] [--labels 100] [--epochs N] [--json]
 *
 * `runCycleBench` is also called by `bench/ml/run.ts`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { newEventId } from '../../src/core/telemetry.ts';
import { compressPayload } from '../../src/engine/protocol/compression.ts';
import { compressionSizeBaseline } from '../../src/ml/features/compression-size-baseline.ts';
import { compressionSizeFeatures, FEATURE_SCHEMA } from '../../src/ml/features/compression-size.ts';
import { ModelHost } from '../../src/ml/model-host.ts';
import { createOnnxRuntime } from '../../src/ml/runtime/onnx-runtime.ts';
import { EmbeddedLogSink } from '../../src/telemetry/embedded-log-sink.ts';
import { EmbeddedTelemetrySource } from '../../src/telemetry/source/embedded-telemetry-source.ts';
import { createPipelineDeps } from '../../pipelines/default-deps.ts';
import type { PipelineDeps } from '../../pipelines/jobs/pipeline-deps.ts';
import { InProcessRunner } from '../../pipelines/runner/in-process.ts';
import { LabelTrigger } from '../../pipelines/triggers/label-trigger.ts';
import { runTelemetryTriggers } from '../../pipelines/triggers/telemetry-trigger.ts';
import { DEFAULT_SIZE_TARGET } from '../../training/policies/compression/size-target.ts';

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
  /** Training rows the card says came from the telemetry labels. */
  readonly telemetryRows: number;
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
const TRACES_DIR = fileURLToPath(new URL('../../../shared/data/traces/', import.meta.url));
const TRACES = ['automerge-paper', 'seph-blog1', 'friendsforever'] as const;
const CHUNK_SIZES = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384] as const;

/** Runs the cycle `runs` times and reports medians. */
export async function runCycleBench(options: CycleBenchOptions = {}): Promise<CycleBenchResult> {
  const runs = options.runs ?? (options.quick === true ? 1 : 3);
  const labels = options.labels ?? 100;
  const log = options.log ?? (() => undefined);
  const texts = await loadTraceTexts();
  const out: CycleRun[] = [];
  for (let i = 0; i < runs; i++) {
    // The same chunks every run, with fresh event ids (an id is a label's identity).
    const events = realLabels(texts, labels);
    const r = await oneCycle(events, options.epochs, texts[0]?.bytes ?? new Uint8Array(1));
    log(
      `cycle ${i + 1}/${runs}: serving v${r.version} after ${(r.servingMs / 1000).toFixed(2)} s (training ${((r.trainedMs - r.trainStartMs) / 1000).toFixed(2)} s, ${r.epochsRun} epochs on ${r.backend}, ${r.telemetryRows} telemetry rows)`,
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

async function oneCycle(events: readonly LabelEvent[], epochs: number | undefined, probe: Uint8Array): Promise<CycleRun> {
  const labels = events.length;
  const FEATURES = compressionSizeFeatures(probe.subarray(0, 2048));
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
    for (const e of events) sink.emit(e);
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
      telemetryRows: Number(card.training.config['telemetryRows'] ?? 0),
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

type LabelEvent = Parameters<EmbeddedLogSink['emit']>[0];

interface TraceText {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** The final text of each editing trace (real documents people wrote). */
async function loadTraceTexts(): Promise<TraceText[]> {
  const out: TraceText[] = [];
  for (const name of TRACES) {
    let gz: Buffer;
    try {
      gz = await readFile(join(TRACES_DIR, `${name}.json.gz`));
    } catch (err) {
      throw new Error(`the cycle bench makes its labels from ../shared/data/traces/${name}.json.gz, which is absent`, { cause: err });
    }
    const { endContent } = JSON.parse(gunzipSync(gz).toString('utf8')) as { endContent: string };
    out.push({ name, bytes: new TextEncoder().encode(endContent) });
  }
  return out;
}

/**
 * `n` compression outcomes of real payloads: label `i` is a chunk of one trace's text (sizes and
 * traces taken in turn, offsets spread over the text), with its serving features and its brotli
 * size at the target's quality, measured now.
 */
function realLabels(texts: readonly TraceText[], n: number): LabelEvent[] {
  const level = DEFAULT_SIZE_TARGET.level;
  const out: LabelEvent[] = [];
  for (let i = 0; i < n; i++) {
    const text = texts[i % texts.length]!;
    const size = Math.min(CHUNK_SIZES[Math.floor(i / texts.length) % CHUNK_SIZES.length]!, text.bytes.byteLength);
    const offset = (i * 7919 * 31) % (text.bytes.byteLength - size + 1);
    const chunk = text.bytes.subarray(offset, offset + size);
    const t = performance.now();
    const encoded = compressPayload(DEFAULT_SIZE_TARGET.codec, chunk, level);
    const encodeMicros = (performance.now() - t) * 1000;
    const peer = `peer-${i % 8}`;
    out.push({
      type: 'syncpilot.compression.v1',
      id: newEventId(),
      time: Date.now(),
      tenant: 'default',
      key: text.name,
      data: {
        peer,
        doc: text.name,
        decision: 'compress',
        codec: DEFAULT_SIZE_TARGET.codec,
        ...(level === undefined ? {} : { level }),
        rawBytes: chunk.byteLength,
        encodedBytes: encoded.byteLength,
        encodeMicros,
        features: Array.from(compressionSizeFeatures(chunk)),
        featureSchema: { name: FEATURE_SCHEMA.name, version: FEATURE_SCHEMA.version },
      },
    });
  }
  return out;
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
    `Full cycle: ${r.labels} new real labels in the embedded log → compression model serving (median of ${r.runs.length})`,
    `  labels → trigger enqueued       ${s(m.labelsToTrigger)}`,
    `  trigger → training starts       ${s(m.triggerToTrainStart)}   (labels read back as rows)`,
    `  training (data, fit, export)    ${s(m.training)}`,
    `  register, evaluate, promote     ${s(m.registerEvaluatePromote)}`,
    `  promotion → predictor serving   ${s(m.promoteToServing)}`,
    `  total                           ${s(m.total)}   goal < ${s(r.goalMs)}: ${r.withinGoal ? 'met' : 'MISSED'}`,
    `  model mae ${r.runs.map((x) => x.mae.toFixed(4)).join(', ')} vs baseline ${r.runs[0]?.baselineMae.toFixed(4) ?? '-'}; epochs ${r.runs.map((x) => x.epochsRun).join(', ')} on ${r.runs[0]?.backend ?? '-'}`,
    `  telemetry rows in the training data ${r.runs.map((x) => x.telemetryRows).join(', ')} (of ${r.labels} labels)`,
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

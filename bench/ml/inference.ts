/**
 * Inference latency: onnxruntime-node vs the pure-JS forward pass (and `createAutoRuntime`, which
 * picks per call), side by side in one process, on the same models and inputs, at batches of 1,
 * 16, 64 and 256 rows. Each cell is timed as sequential awaited `run` calls for about `cellMs`; a
 * run visits every cell (alternating which runtime goes first), and the figure is the median over
 * runs. Also: the `Predictor` end to end on each runtime, loaded (64 concurrent single-row
 * callers, batches fill) and idle (one caller, `maxWaitMs: 0`, every batch one row).
 */
import { loadavg } from 'node:os';
import type { LoadedModel, ModelRuntime } from '../../src/ml/model-runtime.ts';
import { Predictor } from '../../src/ml/predictor.ts';
import { createAutoRuntime } from '../../src/ml/runtime/auto-runtime.ts';
import { createJsRuntime } from '../../src/ml/runtime/js-runtime.ts';
import { createOnnxRuntime } from '../../src/ml/runtime/onnx-runtime.ts';
import {
  testInputs,
  testModelBytes,
  testModelCard,
  testNetwork,
  type TestArchitecture,
} from '../../src/testing/model-runtime-conformance.ts';

/** A model shape to measure. */
export interface BenchModel {
  readonly label: string;
  readonly arch: TestArchitecture;
}

/** From tiny to medium, with the compression regressor's shape: where does JS stop winning? */
export const BENCH_MODELS: readonly BenchModel[] = [
  { label: 'tiny 8→16→1', arch: { widths: [8, 16, 1], activations: ['relu', 'linear'], normalize: true } },
  { label: 'compression 12→32→16→1', arch: { widths: [12, 32, 16, 1], activations: ['relu', 'relu', 'linear'], normalize: true } },
  { label: 'small 32→64→64→4', arch: { widths: [32, 64, 64, 4], activations: ['relu', 'relu', 'softmax'], normalize: true } },
  { label: 'medium 128→256→256→16', arch: { widths: [128, 256, 256, 16], activations: ['relu', 'relu', 'sigmoid'] } },
];

export interface InferenceBenchOptions {
  /** Runs per cell; the median is reported. Default 5. */
  readonly runs?: number;
  /** Default 1, 16, 64 (the Predictor's default batch) and 256. */
  readonly batches?: readonly number[];
  readonly models?: readonly BenchModel[];
  /** Time spent in one cell per run. Default 150 ms. */
  readonly cellMs?: number;
  /** Predictions per runtime in the Predictor section (0 skips it). Default 100 000. */
  readonly predictions?: number;
  readonly log?: (line: string) => void;
}

/** One model at one batch size. */
export interface InferenceRow {
  readonly model: string;
  readonly parameters: number;
  readonly batch: number;
  /** Median µs per `run` call. */
  readonly jsMicros: number;
  readonly onnxMicros: number;
  /** `createAutoRuntime()`: JS for small calls, onnxruntime for the rest. */
  readonly autoMicros: number;
  /** js ÷ onnx: below 1 the JS forward pass is faster. */
  readonly ratio: number;
  readonly jsRuns: readonly number[];
  readonly onnxRuns: readonly number[];
}

/** The Predictor end to end on one runtime. */
export interface PredictorRow {
  readonly runtime: 'js' | 'onnx' | 'auto';
  readonly model: string;
  readonly callers: number;
  readonly maxWaitMs: number;
  readonly predictions: number;
  readonly predictionsPerSec: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
  readonly meanBatch: number;
}

export interface InferenceBenchResult {
  readonly when: string;
  readonly node: string;
  readonly loadAverage: readonly number[];
  readonly runs: number;
  readonly rows: readonly InferenceRow[];
  readonly predictor: readonly PredictorRow[];
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function load(runtime: ModelRuntime, arch: TestArchitecture): Promise<LoadedModel> {
  const net = testNetwork(arch, 7);
  const bytes = testModelBytes(net);
  return runtime.load(bytes, testModelCard(net, bytes));
}

/** µs per call of `model.run(x, rows)`: sequential awaited calls for about `ms`. */
async function measureCell(model: LoadedModel, x: Float32Array, rows: number, ms: number): Promise<number> {
  const t0 = performance.now();
  let iters = 0;
  while (performance.now() - t0 < ms) {
    for (let k = 0; k < 16; k++) await model.run(x, rows);
    iters += 16;
  }
  return ((performance.now() - t0) * 1000) / iters;
}

async function predictorRow(
  label: 'js' | 'onnx' | 'auto',
  runtime: ModelRuntime,
  bench: BenchModel,
  total: number,
  callers: number,
  maxWaitMs: number,
): Promise<PredictorRow> {
  const p = new Predictor({ policy: 'compression', baseline: (f) => f.subarray(0, 1), budgetMs: 1000, maxBatch: 64, maxWaitMs });
  p.swap(await load(runtime, bench.arch));
  const inputs = bench.arch.widths[0]!;
  const pool = Array.from({ length: 256 }, (_, i) => testInputs(1, inputs, i));
  const lat: number[] = [];
  let issued = 0;
  const caller = async (): Promise<void> => {
    while (issued < total) {
      const r = await p.predict(pool[issued++ % pool.length]!);
      lat.push(r.latencyMicros);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: callers }, caller));
  const secs = (performance.now() - t0) / 1000;
  const s = p.stats();
  await p.close();
  if (s.baseline > 0) throw new Error(`predictor bench: ${s.baseline} baseline answers`);
  return {
    runtime: label,
    model: bench.label,
    callers,
    maxWaitMs,
    predictions: total,
    predictionsPerSec: total / secs,
    p50Micros: median(lat),
    p99Micros: [...lat].sort((a, b) => a - b)[Math.floor(lat.length * 0.99)]!,
    meanBatch: s.model / s.batches,
  };
}

/** Runs the inference benchmark (see the file comment). */
export async function runInferenceBench(opts: InferenceBenchOptions = {}): Promise<InferenceBenchResult> {
  const runs = opts.runs ?? 5;
  const batches = opts.batches ?? [1, 16, 64, 256];
  const models = opts.models ?? BENCH_MODELS;
  const cellMs = opts.cellMs ?? 150;
  const log = opts.log ?? (() => undefined);
  const runtimes = { js: createJsRuntime(), onnx: createOnnxRuntime(), auto: createAutoRuntime() };
  const loaded = await Promise.all(
    models.map(async (m) => ({
      bench: m,
      js: await load(runtimes.js, m.arch),
      onnx: await load(runtimes.onnx, m.arch),
      auto: await load(runtimes.auto, m.arch),
    })),
  );
  const samples = new Map<string, { js: number[]; onnx: number[]; auto: number[] }>();
  // Warm-up: JIT for the JS loops, onnxruntime's first-run allocations.
  for (const l of loaded)
    for (const b of batches) for (const m of [l.js, l.onnx, l.auto]) await measureCell(m, testInputs(b, m.inputs, b), b, cellMs / 3);
  for (let r = 0; r < runs; r++) {
    log(`inference run ${r + 1}/${runs}…`);
    for (const l of loaded) {
      for (const b of batches) {
        const x = testInputs(b, l.js.inputs, 31 * b + r);
        const key = `${l.bench.label}|${b}`;
        const s = samples.get(key) ?? { js: [], onnx: [], auto: [] };
        const order = r % 2 === 0 ? (['js', 'onnx', 'auto'] as const) : (['auto', 'onnx', 'js'] as const);
        for (const name of order) s[name].push(await measureCell(l[name], x, b, cellMs));
        samples.set(key, s);
      }
    }
  }
  const rows: InferenceRow[] = [];
  for (const l of loaded) {
    const net = testNetwork(l.bench.arch, 7);
    const parameters = net.layers.reduce((n, layer) => n + layer.weights.length + layer.bias.length, 0);
    for (const b of batches) {
      const s = samples.get(`${l.bench.label}|${b}`)!;
      const jsMicros = median(s.js);
      const onnxMicros = median(s.onnx);
      rows.push({
        model: l.bench.label,
        parameters,
        batch: b,
        jsMicros,
        onnxMicros,
        autoMicros: median(s.auto),
        ratio: jsMicros / onnxMicros,
        jsRuns: s.js,
        onnxRuns: s.onnx,
      });
    }
  }
  await Promise.all(loaded.flatMap((l) => [l.js.close(), l.onnx.close(), l.auto.close()]));

  const predictor: PredictorRow[] = [];
  const total = opts.predictions ?? 100_000;
  if (total > 0) {
    // The compression regressor's shape when it is measured, else the first model.
    const served = models.find((m) => m.label.startsWith('compression')) ?? models[0]!;
    // Loaded: many callers, batches fill. Idle: one caller at a time, every batch a single row.
    for (const [callers, maxWaitMs, n] of [
      [64, 1, total],
      [1, 0, Math.ceil(total / 4)],
    ] as const) {
      for (const name of ['js', 'onnx', 'auto'] as const) {
        log(`predictor, ${name}, ${callers} callers…`);
        await predictorRow(name, runtimes[name], served, Math.min(20_000, n), callers, maxWaitMs); // warm-up
        predictor.push(await predictorRow(name, runtimes[name], served, n, callers, maxWaitMs));
      }
    }
  }
  return {
    when: new Date().toISOString(),
    node: process.version,
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    runs,
    rows,
    predictor,
  };
}

const fmt = (x: number, digits = 1): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The result as text tables. */
export function formatInferenceBench(r: InferenceBenchResult): string {
  const lines = [
    `Inference latency, µs per run() call (median of ${r.runs} runs; ${r.node}; load average ${r.loadAverage.join(' / ')})`,
    '',
    '| model                   | params | batch | pure JS µs | onnxruntime µs | JS ÷ ORT | faster | auto µs |',
    '| ----------------------- | -----: | ----: | ---------: | -------------: | -------: | ------ | ------: |',
  ];
  for (const row of r.rows) {
    lines.push(
      `| ${row.model.padEnd(23)} | ${String(row.parameters).padStart(6)} | ${String(row.batch).padStart(5)} | ${fmt(row.jsMicros).padStart(10)} | ${fmt(row.onnxMicros).padStart(14)} | ${fmt(row.ratio, 2).padStart(8)} | ${(row.ratio < 1 ? 'JS' : 'ORT').padEnd(6)} | ${fmt(row.autoMicros).padStart(7)} |`,
    );
  }
  if (r.predictor.length > 0) {
    lines.push('', 'Predictor end to end (single-row predict() calls, maxBatch 64; latency = predict() call to answer)', '');
    lines.push('| runtime | model                   | callers | maxWaitMs | predictions/s | p50 µs | p99 µs | mean batch |');
    lines.push('| ------- | ----------------------- | ------: | --------: | ------------: | -----: | -----: | ---------: |');
    for (const p of r.predictor) {
      lines.push(
        `| ${p.runtime.padEnd(7)} | ${p.model.padEnd(23)} | ${String(p.callers).padStart(7)} | ${String(p.maxWaitMs).padStart(9)} | ${fmt(p.predictionsPerSec, 0).padStart(13)} | ${fmt(p.p50Micros, 0).padStart(6)} | ${fmt(p.p99Micros, 0).padStart(6)} | ${fmt(p.meanBatch).padStart(10)} |`,
      );
    }
  }
  return lines.join('\n');
}

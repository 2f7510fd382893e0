/**
 * ML benchmarks in one run (never part of `npm test`):
 *   npm run -s bench:ml -- [--json] [--runs 5] [--quick] [--only inference|cycle]
 *
 * - inference (`inference.ts`): onnxruntime-node vs the pure-JS forward pass at batches of 1, 16
 *   and 256, medians and ratios side by side, and the Predictor end to end on each runtime;
 * - cycle (`cycle.ts`, when present): new labels in telemetry → promoted model serving.
 * `--json` prints one JSON object `{ inference, cycle }` on stdout; progress goes to stderr.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatInferenceBench, runInferenceBench, type InferenceBenchResult } from './inference.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const quick = values.quick;
const out: { inference?: InferenceBenchResult; cycle?: unknown } = {};

if (values.only === undefined || values.only === 'inference') {
  log('inference…');
  out.inference = await runInferenceBench({
    runs: quick ? 1 : Number(values.runs),
    cellMs: quick ? 40 : 150,
    predictions: quick ? 5_000 : 100_000,
    log,
  });
  if (!values.json) console.log(`${formatInferenceBench(out.inference)}\n`);
}

if (values.only === undefined || values.only === 'cycle') {
  const cyclePath = fileURLToPath(new URL('./cycle.ts', import.meta.url));
  if (!existsSync(cyclePath)) {
    out.cycle = { skipped: 'bench/ml/cycle.ts is not there yet' };
    log('cycle: skipped (bench/ml/cycle.ts absent)');
  } else {
    log('cycle…');
    // Imported by a computed specifier: the file is another part's, and may be absent.
    const specifier = './cycle.ts';
    const mod: unknown = await import(specifier);
    const exported = typeof mod === 'object' && mod !== null ? (mod as Record<string, unknown>) : {};
    const run = exported.runCycleBench;
    const format = exported.formatCycleBench;
    if (typeof run !== 'function') {
      out.cycle = { skipped: 'bench/ml/cycle.ts exports no runCycleBench' };
    } else {
      out.cycle = (await (run as (opts: { log: (l: string) => void; quick: boolean }) => Promise<unknown>)({ log, quick })) ?? null;
      if (!values.json) {
        console.log(
          typeof format === 'function' ? String((format as (r: unknown) => unknown)(out.cycle)) : JSON.stringify(out.cycle, null, 2),
        );
      }
    }
  }
}

if (values.json) console.log(JSON.stringify(out, null, 2));

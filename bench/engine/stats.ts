import { cpus, freemem, loadavg, totalmem } from 'node:os';

/** Median of a non-empty list (the lower middle for even lengths); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[(s.length - 1) >> 1] as number;
}

/** Latency percentiles in milliseconds, as every section reports them. */
export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly samples: number;
}

/** The median of each field over several runs' summaries (samples: the median count). */
export function medianLatency(runs: readonly LatencySummary[]): LatencySummary {
  return {
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    max: median(runs.map((r) => r.max)),
    samples: median(runs.map((r) => r.samples)),
  };
}

/** `a / b`, rounded to 3 decimals (NaN stays NaN, so a missing figure never looks like a ratio). */
export function ratio(a: number, b: number): number {
  return Math.round((a / b) * 1000) / 1000;
}

/** Rounds for the JSON output: figures are noisy, more digits would only suggest false precision. */
export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** What the machine was doing: the host is shared, so load average belongs next to every figure. */
export interface MachineInfo {
  readonly node: string;
  readonly platform: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly totalMemMB: number;
  readonly freeMemMBAtStart: number;
  readonly loadavgAtStart: readonly number[];
  loadavgAtEnd: readonly number[];
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cpus: list.length,
    totalMemMB: Math.round(totalmem() / 2 ** 20),
    freeMemMBAtStart: Math.round(freemem() / 2 ** 20),
    loadavgAtStart: loadavg().map((l) => round(l, 2)),
    loadavgAtEnd: [],
  };
}

/** The current load average, rounded. */
export function currentLoad(): number[] {
  return loadavg().map((l) => round(l, 2));
}

/** Resolves on the next turn of the event loop, after pending I/O callbacks. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Full GC twice with a turn between (weak callbacks and finalizers run in between). Needs --expose-gc. */
export async function fullGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('start node with --expose-gc to measure memory');
  for (let i = 0; i < 3; i++) {
    gc();
    await nextTurn();
  }
}

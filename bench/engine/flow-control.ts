import { LatencyRecorder } from '../../src/cli/demo/latency-recorder.ts';
import type { LatencySummary } from './stats.ts';

const STALL_MS = 30_000;

/** What one replay measured, the same way for every system. */
export interface FlowResult {
  readonly edits: number;
  /** First edit made → last edit received by the reader. */
  readonly elapsedMs: number;
  readonly opsPerSec: number;
  readonly latencyMs: LatencySummary;
}

/**
 * The replay rule both systems follow: the writer makes edit i (one change per trace transaction)
 * only while it is fewer than `window` edits ahead of what the reader has received; each receipt
 * lets it go on. Latency of an edit = the reader's receipt time − the moment the writer started
 * making it (both in this process, on one monotonic clock).
 */
export class FlowControl {
  readonly #edit: (i: number) => boolean;
  readonly #total: number;
  readonly #window: number;
  readonly #sentAt: Float64Array;
  readonly #latency = new LatencyRecorder();
  #next = 0;
  #received = 0;
  #pumping = false;
  #t0 = 0;
  #done: (() => void) | undefined;

  /**
   * @param edit makes edit `i` on the writer and returns whether anything was sent (an edit that
   *   changes nothing, such as an empty patch, is counted as received at once, without a sample).
   */
  constructor(total: number, window: number, edit: (i: number) => boolean) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError('the window must be a positive integer');
    this.#total = total;
    this.#window = window;
    this.#edit = edit;
    this.#sentAt = new Float64Array(total);
  }

  /** Edits the reader has received so far. */
  get received(): number {
    return this.#received;
  }

  /**
   * Starts the writer; resolves once the reader has received every edit.
   * @throws Error when no edit arrived for `stallMs` (a lost change would otherwise hang the benchmark).
   */
  async run(system: string, stallMs = STALL_MS): Promise<FlowResult> {
    let watchdog: ReturnType<typeof setInterval> | undefined;
    const finished = new Promise<void>((resolve, reject) => {
      this.#done = resolve;
      let seen = -1;
      let since = performance.now();
      watchdog = setInterval(() => {
        if (this.#received !== seen) {
          seen = this.#received;
          since = performance.now();
        } else if (performance.now() - since > stallMs) {
          reject(
            new Error(`${system}: the replay stalled: the reader has ${this.#received} of ${this.#total} edits, none for ${stallMs} ms`),
          );
        }
      }, 250);
    });
    this.#t0 = performance.now();
    this.#pump();
    if (this.#received === this.#total) this.#done?.();
    try {
      await finished;
    } finally {
      clearInterval(watchdog);
    }
    const elapsedMs = performance.now() - this.#t0;
    const s = this.#latency.summary();
    return {
      edits: this.#total,
      elapsedMs,
      opsPerSec: this.#total / (elapsedMs / 1000),
      latencyMs: { p50: s.p50, p99: s.p99, max: s.max, samples: s.count },
    };
  }

  /** The reader received edit `i` (0-based); call once per edit, in any order. */
  delivered(i: number): void {
    this.#latency.record(performance.now() - (this.#sentAt[i] ?? Number.NaN));
    this.#received++;
    if (this.#received === this.#total) this.#done?.();
    else this.#pump();
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#next < this.#total && this.#next - this.#received < this.#window) {
        const i = this.#next++;
        this.#sentAt[i] = performance.now();
        if (!this.#edit(i)) this.#received++;
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#received === this.#total) this.#done?.();
  }
}

/** Throws a loud, specific error when the reader's text is not the trace's end content. */
export function assertText(system: string, actual: string, expected: string): void {
  if (actual === expected) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  const around = (s: string): string => JSON.stringify(s.slice(Math.max(0, at - 20), at + 20));
  throw new Error(
    `${system}: the reader's final text differs from the trace's endContent at UTF-16 index ${at} ` +
      `(lengths ${actual.length} vs ${expected.length}): got ${around(actual)}, expected ${around(expected)}`,
  );
}

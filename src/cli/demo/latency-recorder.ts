/** Collects latency samples (milliseconds) in a growable typed array and reports percentiles. */
export class LatencyRecorder {
  #samples = new Float64Array(1024);
  #n = 0;

  record(ms: number): void {
    if (this.#n === this.#samples.length) {
      const bigger = new Float64Array(this.#samples.length * 2);
      bigger.set(this.#samples);
      this.#samples = bigger;
    }
    this.#samples[this.#n++] = ms;
  }

  get count(): number {
    return this.#n;
  }

  /** Nearest-rank percentile, `p` in [0, 100]; NaN without samples. */
  percentile(p: number): number {
    if (this.#n === 0) return Number.NaN;
    const sorted = this.#samples.slice(0, this.#n).sort();
    const rank = Math.min(this.#n - 1, Math.max(0, Math.ceil((p / 100) * this.#n) - 1));
    return sorted[rank] as number;
  }

  summary(): { p50: number; p99: number; max: number; count: number } {
    if (this.#n === 0) return { p50: Number.NaN, p99: Number.NaN, max: Number.NaN, count: 0 };
    const sorted = this.#samples.slice(0, this.#n).sort();
    const at = (p: number): number => sorted[Math.min(this.#n - 1, Math.max(0, Math.ceil((p / 100) * this.#n) - 1))] as number;
    return { p50: at(50), p99: at(99), max: sorted[this.#n - 1] as number, count: this.#n };
  }
}

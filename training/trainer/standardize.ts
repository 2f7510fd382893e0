/** Per-feature standardisation `(x - mean) / std`, fitted on the training split only. */
export interface Standardization {
  readonly mean: Float32Array;
  readonly std: Float32Array;
}

/** Below this a feature counts as constant: its std is set to 1 so it maps to 0, not to ±∞. */
const MIN_STD = 1e-6;

/** Mean and (population) standard deviation of each of `inputs` columns of row-major `x`. */
export function fitStandardization(x: Float32Array, rows: number, inputs: number): Standardization {
  const sum = new Float64Array(inputs);
  const sumSq = new Float64Array(inputs);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < inputs; j++) {
      const v = x[r * inputs + j] as number;
      sum[j] = (sum[j] as number) + v;
      sumSq[j] = (sumSq[j] as number) + v * v;
    }
  }
  const mean = new Float32Array(inputs);
  const std = new Float32Array(inputs);
  for (let j = 0; j < inputs; j++) {
    const m = rows === 0 ? 0 : (sum[j] as number) / rows;
    const variance = rows === 0 ? 0 : Math.max(0, (sumSq[j] as number) / rows - m * m);
    const s = Math.sqrt(variance);
    mean[j] = m;
    std[j] = s < MIN_STD ? 1 : s;
  }
  return { mean, std };
}

/** A standardised copy of row-major `x` (same float32 arithmetic as the exported model's Sub + Div). */
export function applyStandardization(x: Float32Array, norm: Standardization): Float32Array {
  const inputs = norm.mean.length;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const j = i % inputs;
    out[i] = ((x[i] as number) - (norm.mean[j] as number)) / (norm.std[j] as number);
  }
  return out;
}

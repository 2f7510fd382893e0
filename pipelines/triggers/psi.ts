/** Share given to an empty bin, so that the logarithm stays finite. */
const EPSILON = 1e-4;

/**
 * The population stability index of `current` against `reference`: bins at the reference's
 * quantiles, then Σ (c − r) · ln(c / r) over the bins' shares. Conventionally below 0.1 means no
 * shift, 0.1–0.25 a moderate one, above 0.25 a major one.
 * @throws RangeError when either sample is empty or `bins` < 2
 */
export function populationStabilityIndex(reference: ArrayLike<number>, current: ArrayLike<number>, bins = 10): number {
  if (reference.length === 0 || current.length === 0) throw new RangeError('PSI needs two non-empty samples');
  if (!Number.isInteger(bins) || bins < 2) throw new RangeError(`PSI needs at least 2 bins, got ${bins}`);
  const sorted = Float64Array.from(reference).sort();
  const edges: number[] = [];
  for (let b = 1; b < bins; b++) {
    const edge = sorted[Math.min(sorted.length - 1, Math.floor((b * sorted.length) / bins))] ?? 0;
    // Ties in the reference collapse bins; duplicate edges would leave some always empty.
    if (edges.length === 0 || edge > (edges.at(-1) ?? -Infinity)) edges.push(edge);
  }
  const shares = (sample: ArrayLike<number>): Float64Array => {
    const counts = new Float64Array(edges.length + 1);
    for (let i = 0; i < sample.length; i++) counts[binOf(edges, sample[i] ?? 0)]! += 1;
    return counts.map((c) => Math.max(c / sample.length, EPSILON));
  };
  const r = shares(reference);
  const c = shares(current);
  let psi = 0;
  for (let i = 0; i < r.length; i++) psi += (c[i]! - r[i]!) * Math.log(c[i]! / r[i]!);
  return psi;
}

/** Index of the first edge above `x` (values equal to an edge go to the bin above it). */
function binOf(edges: readonly number[], x: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

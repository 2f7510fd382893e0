/**
 * For every actor, the op counter range `[start, end)` of each of its applied changes, indexed by
 * seq. It answers "which change made op `ctr@actor`?" so that references in remote ops can be
 * checked against the change's causal past, and it enforces the Lamport rule on new changes.
 */
export class OpRanges {
  private readonly byActor = new Map<string, { starts: number[]; ends: number[] }>();

  /** Number of changes recorded for `actor` (equals its clock entry). */
  count(actor: string): number {
    return this.byActor.get(actor)?.starts.length ?? 0;
  }

  /** Records change `seq` of `actor`; seqs must be added in order without gaps. */
  add(actor: string, seq: number, start: number, end: number): void {
    let r = this.byActor.get(actor);
    if (r === undefined) {
      r = { starts: [], ends: [] };
      this.byActor.set(actor, r);
    }
    if (seq !== r.starts.length + 1) throw new Error(`op range for ${actor} seq ${seq} out of order`);
    r.starts.push(start);
    r.ends.push(end);
  }

  /** First op counter of change `seq` of `actor`, or undefined if unknown. */
  start(actor: string, seq: number): number | undefined {
    return this.byActor.get(actor)?.starts[seq - 1];
  }

  /** One past the last op counter of change `seq` of `actor`, or 0 if unknown. */
  end(actor: string, seq: number): number {
    return this.byActor.get(actor)?.ends[seq - 1] ?? 0;
  }

  /** The seq of the change of `actor` that made op `ctr`, or 0 if no applied change did. */
  seqOf(actor: string, ctr: number): number {
    const r = this.byActor.get(actor);
    if (r === undefined) return 0;
    const { starts, ends } = r;
    // The last change whose start ≤ ctr; empty changes share a start with their successor and
    // come first, so taking the last one finds the change that holds the op.
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((starts[mid] ?? 0) <= ctr) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found >= 0 && ctr < (ends[found] ?? 0) ? found + 1 : 0;
  }

  /** Every actor with its ranges in seq order (for encoding). */
  entries(): IterableIterator<[string, { readonly starts: readonly number[]; readonly ends: readonly number[] }]> {
    return this.byActor.entries();
  }
}

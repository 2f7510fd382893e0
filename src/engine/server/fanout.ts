import type { Change, VersionVector } from '../crdt/types.ts';

/** The changes a holder of `sent` lacks, in order; `all` itself when it lacks every one (the common case). */
export function missingFrom(sent: VersionVector, all: readonly Change[]): readonly Change[] {
  let firstKnown = -1;
  for (let i = 0; i < all.length; i++) {
    const c = all[i] as Change;
    if ((sent[c.actor] ?? 0) >= c.seq) {
      firstKnown = i;
      break;
    }
  }
  if (firstKnown === -1) return all;
  return all.filter((c) => (sent[c.actor] ?? 0) < c.seq);
}

/** Records that a holder of `sent` now has `changes`. */
export function markSent(sent: Record<string, number>, changes: readonly Change[]): void {
  for (const c of changes) if ((sent[c.actor] ?? 0) < c.seq) sent[c.actor] = c.seq;
}

import type { VersionVector } from './types.ts';

/** How two version vectors relate: `before` means `a` happened before `b` (b covers a, a ≠ b). */
export type VvOrder = 'equal' | 'before' | 'after' | 'concurrent';

/**
 * The entry for `actor` (0 when absent). Own properties only: actor ids such as `constructor` are
 * valid, and must not read `Object.prototype`.
 */
export function vvGet(vv: VersionVector, actor: string): number {
  return Object.hasOwn(vv, actor) ? (vv[actor] ?? 0) : 0;
}

/** True if `a` includes every change that `b` includes (absent entries count as 0). */
export function vvCovers(a: VersionVector, b: VersionVector): boolean {
  for (const actor of Object.keys(b)) {
    if (vvGet(a, actor) < vvGet(b, actor)) return false;
  }
  return true;
}

/** The entry-wise maximum of two version vectors (a new object; zero entries are dropped). */
export function vvMerge(a: VersionVector, b: VersionVector): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of [a, b]) {
    for (const actor of Object.keys(v)) {
      const seq = vvGet(v, actor);
      if (seq > vvGet(out, actor)) out[actor] = seq;
    }
  }
  return out;
}

/** Compares two version vectors in the causal (partial) order. */
export function vvCompare(a: VersionVector, b: VersionVector): VvOrder {
  const ab = vvCovers(a, b);
  const ba = vvCovers(b, a);
  if (ab && ba) return 'equal';
  if (ba) return 'before';
  if (ab) return 'after';
  return 'concurrent';
}

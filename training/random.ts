import { mulberry32 } from '../src/core/random.ts';

/**
 * A small seeded PRNG (mulberry32) for everything in training that must be reproducible: splits,
 * shuffles, parity inputs. `Math.random` is never used where a seed is given.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
}

/** A deterministic generator: the same 32-bit `seed` always gives the same sequence. */
export function createRng(seed: number): Rng {
  const next = mulberry32(seed);
  return { next, int: (n) => Math.floor(next() * n) };
}

/** Shuffles `items` in place (Fisher–Yates) with `rng` and returns it. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}

/** A permutation of `0..n-1` drawn with `rng`. */
export function permutation(n: number, rng: Rng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const a = p[i] as number;
    p[i] = p[j] as number;
    p[j] = a;
  }
  return p;
}

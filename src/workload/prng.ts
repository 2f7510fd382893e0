import { mulberry32 } from '../core/random.ts';

/** A deterministic pseudo-random source; the same seed always gives the same sequence. */
export interface Prng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
}

/**
 * A seeded PRNG (mulberry32): tiny, fast and good enough for workloads. Not for anything
 * security-related. Workloads must not use `Math.random`, so that a seed reproduces a run.
 */
export function createPrng(seed: number): Prng {
  const next = mulberry32(seed);
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: <T>(items: readonly T[]): T => {
      const item = items[Math.floor(next() * items.length)];
      if (item === undefined) throw new RangeError('pick from an empty list');
      return item;
    },
  };
}

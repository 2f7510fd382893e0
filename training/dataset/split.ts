import { SyncPilotError } from '../../src/core/errors.ts';
import { createRng, permutation, shuffleInPlace } from '../random.ts';
import { selectRows, type Dataset } from './dataset.ts';

export const SPLIT_NAMES = ['train', 'validation', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

/** Options of {@link splitDataset}. */
export interface SplitOptions {
  /** Seeds the shuffle of rows (`random`) or groups (`grouped`). */
  readonly seed: number;
  /** `grouped`: every group's rows land in one split (no leakage of correlated rows). */
  readonly method: 'random' | 'grouped';
  /** Shares of rows for train, validation, test (normalised; train must be > 0). */
  readonly ratios: readonly [number, number, number];
  /**
   * `grouped` only: groups chosen deliberately for validation and test; every other group goes to
   * train and `ratios` are then ignored.
   */
  readonly holdout?: { readonly validation?: readonly string[]; readonly test?: readonly string[] };
}

/** The three splits (validation or test may have 0 rows) and the source row indices of each, ascending. */
export interface DatasetSplits {
  readonly train: Dataset;
  readonly validation: Dataset;
  readonly test: Dataset;
  readonly indices: Readonly<Record<SplitName, Uint32Array>>;
  /** `grouped`: the groups of each split, sorted. */
  readonly groups?: Readonly<Record<SplitName, readonly string[]>>;
}

/**
 * Splits a dataset into train / validation / test, deterministically: the same dataset, options
 * and seed always give the same splits. `random` shuffles rows; `grouped` shuffles the distinct
 * groups (sorted first, so row order does not matter) and gives one group to each split with a
 * non-zero share (test, then validation, then train), then each further group to the split
 * furthest below its share of rows.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad ratios or holdout; `SP_ERR_DATASET_INVALID`
 * for a grouped split of a dataset without groups, or a holdout group that does not occur
 */
export function splitDataset(ds: Dataset, options: SplitOptions): DatasetSplits {
  const ratios = normaliseRatios(options.ratios);
  const rng = createRng(options.seed);
  const which = new Uint8Array(ds.rows);
  let groupsBySplit: Record<SplitName, string[]> | undefined;
  if (options.method === 'random') {
    if (options.holdout !== undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'holdout groups need method "grouped"');
    const order = permutation(ds.rows, rng);
    const nTrain = Math.round(ratios[0] * ds.rows);
    const nValidation = Math.round(ratios[1] * ds.rows);
    order.forEach((row, k) => (which[row] = k < nTrain ? 0 : k < nTrain + nValidation ? 1 : 2));
  } else {
    const groups = ds.groups;
    if (groups === undefined) throw new SyncPilotError('SP_ERR_DATASET_INVALID', 'a grouped split needs a dataset with groups');
    const assignment = options.holdout === undefined ? assignByRatios(groups, ratios, rng) : assignHoldout(groups, options.holdout);
    groupsBySplit = { train: [], validation: [], test: [] };
    for (const [g, s] of assignment) groupsBySplit[SPLIT_NAMES[s] as SplitName].push(g);
    for (const name of SPLIT_NAMES) groupsBySplit[name].sort();
    groups.forEach((g, row) => (which[row] = assignment.get(g) ?? 0));
  }
  const indices = { train: rowsOf(which, 0), validation: rowsOf(which, 1), test: rowsOf(which, 2) };
  return {
    train: selectRows(ds, indices.train),
    validation: selectRows(ds, indices.validation),
    test: selectRows(ds, indices.test),
    indices,
    ...(groupsBySplit === undefined ? {} : { groups: groupsBySplit }),
  };
}

function assignByRatios(groups: readonly string[], ratios: readonly number[], rng: ReturnType<typeof createRng>): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const g of groups) sizes.set(g, (sizes.get(g) ?? 0) + 1);
  const order = shuffleInPlace([...sizes.keys()].sort(), rng);
  const target = ratios.map((r) => r * groups.length);
  const current = [0, 0, 0];
  const out = new Map<string, number>();
  const give = (g: string, s: number): void => {
    out.set(g, s);
    current[s] = (current[s] as number) + (sizes.get(g) ?? 0);
  };
  let next = 0;
  for (const s of [2, 1, 0]) {
    if ((ratios[s] as number) > 0 && next < order.length) give(order[next++] as string, s);
  }
  for (; next < order.length; next++) {
    let best = 0;
    let bestDeficit = -Infinity;
    for (let s = 0; s < 3; s++) {
      if ((ratios[s] as number) === 0) continue;
      const deficit = (target[s] as number) - (current[s] as number);
      if (deficit > bestDeficit) {
        best = s;
        bestDeficit = deficit;
      }
    }
    give(order[next] as string, best);
  }
  return out;
}

function assignHoldout(groups: readonly string[], holdout: NonNullable<SplitOptions['holdout']>): Map<string, number> {
  const present = new Set(groups);
  const out = new Map<string, number>();
  for (const g of present) out.set(g, 0);
  for (const [s, names] of [
    [1, holdout.validation ?? []],
    [2, holdout.test ?? []],
  ] as const) {
    for (const g of names) {
      if (!present.has(g)) throw new SyncPilotError('SP_ERR_DATASET_INVALID', `holdout group "${g}" does not occur in the dataset`);
      if (out.get(g) !== 0) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `holdout group "${g}" is in both validation and test`);
      out.set(g, s);
    }
  }
  return out;
}

function normaliseRatios(ratios: readonly number[]): [number, number, number] {
  const [a, b, c] = ratios;
  if (
    ratios.length !== 3 ||
    ratios.some((r) => !Number.isFinite(r) || r < 0) ||
    a === undefined ||
    b === undefined ||
    c === undefined ||
    a <= 0
  ) {
    throw new SyncPilotError(
      'SP_ERR_CONFIG_INVALID',
      `split ratios must be three finite shares >= 0 with train > 0, got [${ratios.join(', ')}]`,
    );
  }
  const sum = a + b + c;
  return [a / sum, b / sum, c / sum];
}

function rowsOf(which: Uint8Array, split: number): Uint32Array {
  let n = 0;
  for (const w of which) if (w === split) n++;
  const out = new Uint32Array(n);
  let k = 0;
  for (let r = 0; r < which.length; r++) if (which[r] === split) out[k++] = r;
  return out;
}

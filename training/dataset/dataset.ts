import { createHash } from 'node:crypto';
import { SyncPilotError } from '../../src/core/errors.ts';

/**
 * A numeric training dataset: `rows` rows of `inputs` features and `outputs` targets, row-major.
 * Every reader and builder produces one; splits, trainers and evaluation consume it.
 */
export interface Dataset {
  readonly inputs: number;
  readonly outputs: number;
  readonly rows: number;
  /** `rows * inputs` values, row-major. */
  readonly x: Float32Array;
  /** `rows * outputs` values, row-major. */
  readonly y: Float32Array;
  /** Per row, the group it belongs to (rows of one group are correlated: a grouped split keeps them together). */
  readonly groups?: readonly string[];
  /** `inputs` names, in vector order. */
  readonly featureNames: readonly string[];
  /** `outputs` names (default `y0`, `y1`, …). */
  readonly targetNames?: readonly string[];
}

/**
 * Checks a dataset's shapes and values: non-empty, consistent lengths, finite numbers.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` naming the first problem
 */
export function assertDataset(ds: Dataset, what = 'dataset'): void {
  const fail = (problem: string): never => {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `${what}: ${problem}`);
  };
  if (!Number.isInteger(ds.inputs) || ds.inputs < 1) fail(`inputs must be a positive integer, got ${ds.inputs}`);
  if (!Number.isInteger(ds.outputs) || ds.outputs < 1) fail(`outputs must be a positive integer, got ${ds.outputs}`);
  if (!Number.isInteger(ds.rows) || ds.rows < 1) fail('has no rows');
  if (ds.x.length !== ds.rows * ds.inputs) fail(`x has ${ds.x.length} values, expected ${ds.rows} × ${ds.inputs}`);
  if (ds.y.length !== ds.rows * ds.outputs) fail(`y has ${ds.y.length} values, expected ${ds.rows} × ${ds.outputs}`);
  if (ds.featureNames.length !== ds.inputs) fail(`${ds.featureNames.length} feature names for ${ds.inputs} inputs`);
  if (ds.targetNames !== undefined && ds.targetNames.length !== ds.outputs)
    fail(`${ds.targetNames.length} target names for ${ds.outputs} outputs`);
  if (ds.groups !== undefined && ds.groups.length !== ds.rows) fail(`${ds.groups.length} groups for ${ds.rows} rows`);
  const bad = firstNonFinite(ds.x);
  if (bad >= 0) fail(`x of row ${Math.floor(bad / ds.inputs)} is not finite`);
  const badY = firstNonFinite(ds.y);
  if (badY >= 0) fail(`y of row ${Math.floor(badY / ds.outputs)} is not finite`);
}

/** The rows at `indices` (in that order) as a new dataset; features, names and groups carried over. */
export function selectRows(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const n = indices.length;
  const x = new Float32Array(n * ds.inputs);
  const y = new Float32Array(n * ds.outputs);
  const groups: string[] | undefined = ds.groups === undefined ? undefined : new Array<string>(n);
  for (let r = 0; r < n; r++) {
    const src = indices[r] as number;
    x.set(ds.x.subarray(src * ds.inputs, (src + 1) * ds.inputs), r * ds.inputs);
    y.set(ds.y.subarray(src * ds.outputs, (src + 1) * ds.outputs), r * ds.outputs);
    if (groups !== undefined) groups[r] = ds.groups?.[src] ?? '';
  }
  return {
    inputs: ds.inputs,
    outputs: ds.outputs,
    rows: n,
    x,
    y,
    featureNames: ds.featureNames,
    ...(ds.targetNames === undefined ? {} : { targetNames: ds.targetNames }),
    ...(groups === undefined ? {} : { groups }),
  };
}

/**
 * SHA-256 (lowercase hex) identifying a dataset's content independently of its row order: each
 * row (its float32 bytes and group) is hashed, the row hashes are sorted, and the final hash covers
 * the shape, the feature and target names and the sorted row hashes. The same rows delivered in
 * another order (as telemetry may) give the same id; any changed value, name or group changes it.
 */
export function fingerprintDataset(ds: Dataset): string {
  const rowHashes: string[] = new Array<string>(ds.rows);
  const xBytes = new Uint8Array(ds.x.buffer, ds.x.byteOffset, ds.x.byteLength);
  const yBytes = new Uint8Array(ds.y.buffer, ds.y.byteOffset, ds.y.byteLength);
  const xRow = ds.inputs * 4;
  const yRow = ds.outputs * 4;
  for (let r = 0; r < ds.rows; r++) {
    const h = createHash('sha256');
    h.update(xBytes.subarray(r * xRow, (r + 1) * xRow));
    h.update(yBytes.subarray(r * yRow, (r + 1) * yRow));
    if (ds.groups !== undefined) h.update(`\0${ds.groups[r] ?? ''}`);
    rowHashes[r] = h.digest('hex');
  }
  rowHashes.sort();
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      v: 1,
      inputs: ds.inputs,
      outputs: ds.outputs,
      rows: ds.rows,
      featureNames: ds.featureNames,
      targetNames: ds.targetNames ?? null,
      grouped: ds.groups !== undefined,
    }),
  );
  for (const rh of rowHashes) h.update(rh);
  return h.digest('hex');
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

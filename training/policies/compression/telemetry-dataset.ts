import { SyncPilotError } from '../../../src/core/errors.ts';
import { assertDataset, type Dataset } from '../../dataset/dataset.ts';
import { readJsonlDataset } from '../../dataset/file-readers.ts';
import { COMPRESSION_LABEL_ROWS, TELEMETRY_GROUP_PREFIX } from './telemetry-rows.ts';

/**
 * Rows made from telemetry labels, to train on beside the policy's own data (the pipeline's train
 * job collects them up to a label trigger's watermark; see `pipelines/jobs/collect-labels.ts`).
 */
export interface TelemetryData {
  /**
   * A JSON-lines dataset of the rows: the mapper's feature and target columns and `group`
   * (`writeJsonlDataset`). Absent when no label made a row.
   */
  readonly file?: string;
  /** Label events read. */
  readonly labels: number;
  /** Labels that made no row, by reason (`featureSchema`, `featureCount`, …). */
  readonly skipped: Readonly<Record<string, number>>;
  /** Id of the last label read (the trigger's watermark), named in the card. */
  readonly through?: string;
}

/** The base dataset with the telemetry rows appended, and what they added. */
export interface WithTelemetry {
  readonly dataset: Dataset;
  readonly rows: number;
  readonly groups: number;
  /** For the card's `dataset.source`, e.g. `+ telemetry: 97 rows in 3 groups from 100 labels through e100 (3 skipped: featureSchema 3)`. */
  readonly source: string;
  /** Counts for the card's training config. */
  readonly config: Readonly<Record<string, number>>;
}

/**
 * Appends the rows of `telemetry.file` to `base`, each in its own `telemetry:` group (a grouped
 * split keeps a document's rows together, and no telemetry group can be a corpus file's). When
 * `base` has no groups, each of its rows becomes a group of its own (`row:<i>`), which splits as
 * a random split would. Without a file the base comes back unchanged, with the counts.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` when the file is unreadable, has other columns,
 * or a group outside the `telemetry:` namespace
 */
export async function withTelemetryRows(base: Dataset, telemetry: TelemetryData): Promise<WithTelemetry> {
  const skipped = Object.values(telemetry.skipped).reduce((a, b) => a + b, 0);
  const describe = (rows: number, groups: number): string => {
    const reasons = Object.entries(telemetry.skipped)
      .filter(([, n]) => n > 0)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([r, n]) => `${r} ${n}`)
      .join(', ');
    const through = telemetry.through === undefined ? '' : ` through ${telemetry.through.slice(0, 128)}`;
    return `+ telemetry: ${rows} rows in ${groups} groups from ${telemetry.labels} labels${through}${skipped > 0 ? ` (${skipped} skipped: ${reasons})` : ''}`;
  };
  const counts = (rows: number, groups: number): Record<string, number> => ({
    telemetryLabels: telemetry.labels,
    telemetryRows: rows,
    telemetryGroups: groups,
    telemetrySkipped: skipped,
  });
  if (telemetry.file === undefined) return { dataset: base, rows: 0, groups: 0, source: describe(0, 0), config: counts(0, 0) };

  const extra = await readJsonlDataset(telemetry.file, {
    features: COMPRESSION_LABEL_ROWS.featureNames,
    targets: COMPRESSION_LABEL_ROWS.targetNames,
    groupBy: 'group',
  });
  if (!sameNames(extra.featureNames, base.featureNames) || !sameNames(extra.targetNames ?? [], base.targetNames ?? [])) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `${telemetry.file}: its columns are not the training data's`);
  }
  const extraGroups = extra.groups ?? [];
  const foreign = extraGroups.find((g) => !g.startsWith(TELEMETRY_GROUP_PREFIX));
  if (foreign !== undefined) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `${telemetry.file}: group "${foreign}" is not a telemetry group`);
  }
  const baseGroups = base.groups ?? Array.from({ length: base.rows }, (_, i) => `row:${i}`);
  const x = new Float32Array(base.x.length + extra.x.length);
  x.set(base.x);
  x.set(extra.x, base.x.length);
  const y = new Float32Array(base.y.length + extra.y.length);
  y.set(base.y);
  y.set(extra.y, base.y.length);
  const dataset: Dataset = {
    inputs: base.inputs,
    outputs: base.outputs,
    rows: base.rows + extra.rows,
    x,
    y,
    groups: [...baseGroups, ...extraGroups],
    featureNames: base.featureNames,
    ...(base.targetNames === undefined ? {} : { targetNames: base.targetNames }),
  };
  assertDataset(dataset, 'corpus + telemetry dataset');
  const groups = new Set(extraGroups).size;
  return { dataset, rows: extra.rows, groups, source: describe(extra.rows, groups), config: counts(extra.rows, groups) };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

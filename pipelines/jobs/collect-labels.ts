import { rename, rm } from 'node:fs/promises';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import type { TelemetrySource } from '../../src/telemetry/source/telemetry-source.ts';
import { writeJsonlDataset } from '../../training/dataset/file-readers.ts';
import { readTelemetryDataset, type TelemetryRow } from '../../training/dataset/telemetry-reader.ts';
import type { LabelRowMapper } from '../../training/policies/compression/telemetry-rows.ts';
import type { Watermark } from './job-schemas.ts';

/** Options of {@link collectLabels}. */
export interface CollectLabelsOptions {
  /** What counts as a label: the trigger's own test, so the job reads the labels it counted. */
  readonly isLabel: (event: SyncPilotEvent) => boolean;
  readonly mapper: LabelRowMapper;
  readonly watermark: Watermark;
  /** Where the rows go (JSON lines, written atomically); nothing is written when no label made a row. */
  readonly file: string;
  /** Give up once no batch came for this long without the watermark's last label (default 3000 ms). */
  readonly idleMs?: number;
}

/** The labels a cycle trains on: the `TelemetryData` handed to the trainer. */
export interface LabelCollection {
  /** The rows' file; absent when no label made a row. */
  readonly file?: string;
  /** Distinct label events from the oldest one through the watermark's. */
  readonly labels: number;
  readonly rows: number;
  /** Labels that made no row, by reason. */
  readonly skipped: Readonly<Record<string, number>>;
  /** The watermark's last label id. */
  readonly through: string;
}

/**
 * Reads `source` from its oldest event through the watermark's last label (`watermark.through`),
 * turns every distinct label on the way into a row with `mapper` (or counts why it made none),
 * and writes the rows as a JSON-lines dataset (`writeJsonlDataset`: the mapper's columns and
 * `group`). Every label up to the watermark is used, also those before the trigger started
 * counting: the log is append-only, so the same watermark always gives the same rows (over Kafka,
 * labels of other partitions may interleave differently; the job reads once and keeps the file).
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` (retryable) when the watermark's label does not
 * arrive within `idleMs` of the last batch (the log lags, or it is not the trigger's telemetry);
 * the source's errors pass through
 */
export async function collectLabels(source: TelemetrySource, options: CollectLabelsOptions): Promise<LabelCollection> {
  const { mapper, watermark } = options;
  const found = new AbortController();
  const skipped: Record<string, number> = {};
  let labels = 0;
  let rows = 0;
  let reached = false;
  const toRow = (event: SyncPilotEvent): TelemetryRow | undefined => {
    // The reader stops at the abort, but the rest of the batch in hand still comes here: no rows past the watermark.
    if (reached || !options.isLabel(event)) return undefined;
    labels++;
    if (event.id === watermark.through) {
      reached = true;
      found.abort();
    }
    const r = mapper.map(event);
    if ('skip' in r) {
      skipped[r.skip] = (skipped[r.skip] ?? 0) + 1;
      return undefined;
    }
    rows++;
    return r.row;
  };
  let dataset;
  try {
    ({ dataset } = await readTelemetryDataset(source, {
      families: mapper.families,
      toRow,
      featureNames: mapper.featureNames,
      targetNames: mapper.targetNames,
      stopAfter: { signal: found.signal, idleMs: options.idleMs ?? 3000 },
    }));
  } catch (err) {
    // The reader refuses a dataset of no rows; here that is an answer (every label was skipped, or none came).
    if (!(rows === 0 && err instanceof SyncPilotError && err.code === 'SP_ERR_DATASET_INVALID')) throw err;
  }
  if (!reached) {
    throw new SyncPilotError(
      'SP_ERR_DATASET_INVALID',
      `label ${watermark.through} (the trigger's watermark, ${watermark.count} labels) is not in the telemetry: read ${labels} labels before it went idle`,
      { retryable: true },
    );
  }
  const base = { labels, rows, skipped, through: watermark.through };
  if (dataset === undefined || rows === 0) return base;
  const tmp = `${options.file}.${process.pid}.tmp`;
  try {
    await writeJsonlDataset(dataset, tmp);
    await rename(tmp, options.file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return { ...base, file: options.file };
}

import { SyncPilotError } from '../../src/core/errors.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import type { TelemetrySource } from '../../src/telemetry/source/telemetry-source.ts';
import { assertDataset, type Dataset } from './dataset.ts';

/** One training row made from an event. */
export interface TelemetryRow {
  readonly x: ArrayLike<number>;
  readonly y: ArrayLike<number>;
  readonly group?: string;
}

/** Options of {@link readTelemetryDataset}. */
export interface TelemetryDatasetOptions {
  /** Event families to read (`compression`, `review-decision`, …); default every family. */
  readonly families?: readonly string[];
  /** Turns an event into a row, or `undefined` to skip it. Must not throw for events it does not use. */
  readonly toRow: (event: SyncPilotEvent) => TelemetryRow | undefined;
  /** Names of the `x` values, in order (their count is the dataset's `inputs`). */
  readonly featureNames: readonly string[];
  /** Names of the `y` values, in order (their count is the dataset's `outputs`). */
  readonly targetNames: readonly string[];
  /** When to stop reading (the source tails forever otherwise). `idleMs` defaults to 1000 when neither `rows` nor `signal` is given. */
  readonly stopAfter?: {
    /** Stop once this many rows were made. */
    readonly rows?: number;
    /** Stop after this long without a batch (the source has caught up with the log). */
    readonly idleMs?: number;
    /** Stop when this aborts. */
    readonly signal?: AbortSignal;
  };
}

/** The dataset read from telemetry and how reading went. */
export interface TelemetryDatasetResult {
  readonly dataset: Dataset;
  /** Distinct events handed over by the source. */
  readonly events: number;
  /** Events re-delivered (same id), ignored. */
  readonly duplicates: number;
  /** Events `toRow` skipped. */
  readonly skipped: number;
  readonly stoppedBy: 'rows' | 'idle' | 'signal';
}

/**
 * Builds a dataset from a {@link TelemetrySource} (embedded log or Kafka): runs the source, turns
 * each distinct event (by `event.id`: sources are at-least-once) into a row with `toRow`, and stops
 * on the first of `stopAfter`'s conditions. Rows keep delivery order. A source run is committed
 * batch by batch, so a named source resumes after the events already read.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` when no row was made, a row has the wrong width or
 * non-finite values, or `toRow` throws; the source's own errors (`SP_ERR_CLOSED`, `SP_ERR_TELEMETRY`)
 * pass through
 */
export async function readTelemetryDataset(source: TelemetrySource, options: TelemetryDatasetOptions): Promise<TelemetryDatasetResult> {
  const inputs = options.featureNames.length;
  const outputs = options.targetNames.length;
  if (inputs === 0 || outputs === 0) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'readTelemetryDataset needs at least one feature and one target name');
  }
  const maxRows = options.stopAfter?.rows ?? Infinity;
  const given = options.stopAfter;
  // With no way to stop at all, reading would tail forever: fall back to the idle default.
  const idleMs = given?.idleMs ?? (given?.rows === undefined && given?.signal === undefined ? 1000 : undefined);
  const external = options.stopAfter?.signal;
  const ctrl = new AbortController();
  let stoppedBy: TelemetryDatasetResult['stoppedBy'] = 'signal';
  const stop = (why: TelemetryDatasetResult['stoppedBy']): void => {
    if (ctrl.signal.aborted) return;
    stoppedBy = why;
    ctrl.abort();
  };
  const onExternal = (): void => stop('signal');
  external?.addEventListener('abort', onExternal, { once: true });
  if (external?.aborted === true) stop('signal');
  let idle: NodeJS.Timeout | undefined;
  const armIdle = (): void => {
    if (idleMs === undefined) return;
    clearTimeout(idle);
    idle = setTimeout(() => stop('idle'), idleMs);
  };

  const seen = new Set<string>();
  const x: number[] = [];
  const y: number[] = [];
  const groups: string[] = [];
  let anyGroup = false;
  let rows = 0;
  let events = 0;
  let duplicates = 0;
  let skipped = 0;
  let failure: SyncPilotError | undefined;

  // The handler never throws: a throwing handler would get its batch again, forever.
  const handle = async (batch: readonly { event: SyncPilotEvent }[]): Promise<void> => {
    armIdle();
    for (const { event } of batch) {
      if (rows >= maxRows || failure !== undefined) break;
      if (seen.has(event.id)) {
        duplicates++;
        continue;
      }
      seen.add(event.id);
      events++;
      let row: TelemetryRow | undefined;
      try {
        row = options.toRow(event);
      } catch (err) {
        failure = new SyncPilotError('SP_ERR_DATASET_INVALID', `toRow failed on event ${event.id} (${event.type})`, { cause: err });
        break;
      }
      if (row === undefined) {
        skipped++;
        continue;
      }
      if (row.x.length !== inputs || row.y.length !== outputs) {
        failure = new SyncPilotError(
          'SP_ERR_DATASET_INVALID',
          `event ${event.id} gave a row of ${row.x.length} features and ${row.y.length} targets, expected ${inputs} and ${outputs}`,
        );
        break;
      }
      for (let j = 0; j < inputs; j++) x.push(row.x[j] as number);
      for (let j = 0; j < outputs; j++) y.push(row.y[j] as number);
      groups.push(row.group ?? '');
      if (row.group !== undefined) anyGroup = true;
      rows++;
    }
    if (failure !== undefined) stop('signal');
    else if (rows >= maxRows) stop('rows');
  };

  armIdle();
  try {
    await source.run(handle, { signal: ctrl.signal, ...(options.families === undefined ? {} : { families: options.families }) });
  } finally {
    clearTimeout(idle);
    external?.removeEventListener('abort', onExternal);
  }
  if (failure !== undefined) throw failure;
  if (rows === 0) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `telemetry gave no rows (${events} events read, ${skipped} skipped by toRow)`);
  }
  const dataset: Dataset = {
    inputs,
    outputs,
    rows,
    x: Float32Array.from(x),
    y: Float32Array.from(y),
    featureNames: [...options.featureNames],
    targetNames: [...options.targetNames],
    ...(anyGroup ? { groups } : {}),
  };
  assertDataset(dataset, 'telemetry dataset');
  return { dataset, events, duplicates, skipped, stoppedBy };
}

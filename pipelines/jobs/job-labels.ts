import { access, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { collectLabels } from './collect-labels.ts';
import type { JobLedger } from './job-ledger.ts';
import type { TrainPayload } from './job-schemas.ts';
import { DEFAULT_LABELS } from './label-events.ts';
import type { PipelineDeps, TelemetryRowsInput } from './pipeline-deps.ts';

/** The rows' file in a job's ledger directory. */
export const LABELS_FILE = 'labels.jsonl';
const NOTE = 'labels.json';

const count = z.number().int().nonnegative();
const noteSchema = z.strictObject({
  labels: count,
  rows: count,
  skipped: z.record(z.string(), count),
  through: z.string().min(1),
});

/**
 * The telemetry rows a cycle trains on, or `undefined` when it takes none: only a `labels`
 * trigger's cycle with a watermark, with `deps.labels` set and a policy whose trainer maps labels
 * to rows. Collected once per job: the rows' file and a note (`labels.json`) stay in the job's
 * ledger directory, so a retry or another worker trains on exactly the same rows.
 * @throws SyncPilotError from `collectLabels` (`SP_ERR_DATASET_INVALID`, retryable, while the
 * watermark's label is not readable) and the telemetry source
 */
export async function telemetryForJob(
  payload: TrainPayload,
  deps: Pick<PipelineDeps, 'labels' | 'logger'>,
  ledger: JobLedger,
): Promise<TelemetryRowsInput | undefined> {
  const { labels } = deps;
  const watermark = payload.watermark;
  if (labels === undefined || watermark === undefined || payload.trigger.kind !== 'labels') return undefined;
  const mapper = await labels.mapperFor(payload.policy);
  if (mapper === undefined) return undefined;

  const file = join(ledger.dir, LABELS_FILE);
  const noted = await ledger.read(NOTE, noteSchema);
  if (noted !== undefined && (noted.rows === 0 || (await exists(file)))) return input(noted, file);

  await mkdir(ledger.dir, { recursive: true });
  const source = labels.openSource();
  let collected;
  try {
    collected = await collectLabels(source, {
      isLabel: DEFAULT_LABELS[payload.policy].isLabel,
      mapper,
      watermark,
      file,
      ...(labels.idleMs === undefined ? {} : { idleMs: labels.idleMs }),
    });
  } finally {
    await source.close();
  }
  const note = { labels: collected.labels, rows: collected.rows, skipped: collected.skipped, through: collected.through };
  await ledger.write(NOTE, note);
  deps.logger?.info('telemetry labels collected', {
    policy: payload.policy,
    jobId: payload.jobId,
    labels: collected.labels,
    rows: collected.rows,
    skipped: collected.skipped,
  });
  return input(note, file);
}

/** Removes a finished job's rows file (the note with its counts stays). */
export async function dropLabelsFile(ledger: JobLedger): Promise<void> {
  await rm(join(ledger.dir, LABELS_FILE), { force: true });
}

function input(n: z.output<typeof noteSchema>, file: string): TelemetryRowsInput {
  return { labels: n.labels, skipped: n.skipped, through: n.through, ...(n.rows === 0 ? {} : { file }) };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { ModelCard } from '../../src/ml/model-card.ts';
import { readModelFiles } from '../../src/ml/model-files.ts';
import { dropLabelsFile, telemetryForJob } from './job-labels.ts';
import { JobLedger } from './job-ledger.ts';
import { parseJob, trainPayloadSchema, trainResultSchema, type TrainPayload, type TrainResult } from './job-schemas.ts';
import { emitLifecycle } from './lifecycle.ts';
import type { PipelineDeps, TrainProgress } from './pipeline-deps.ts';

/** Options of {@link trainJob}. */
export interface TrainJobOptions {
  readonly onProgress?: (p: TrainProgress) => void;
}

const metrics = z.record(z.string(), z.number().finite());
const trainedSchema = z.strictObject({
  dir: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  trainMs: z.number().nonnegative(),
  metrics,
  baseline: metrics,
});

/**
 * Trains the payload's policy and registers the model as a challenger, exactly once per job id.
 * A `labels` trigger's cycle also trains on the telemetry labels up to its watermark, as rows
 * (`telemetryForJob`; collected once per job, kept until the result is recorded). Exactly once:
 * a finished job returns its recorded result; a model trained by an attempt that died before
 * registering is registered without training again; and a model registered by an attempt that
 * died before recording it is found in the registry by its file's SHA-256 instead of being
 * registered twice. Safe to run again after a crash at any point.
 * @throws SyncPilotError `SP_ERR_JOB_INVALID` (payload), `SP_ERR_MODEL_MISMATCH` (the trainer
 * produced another policy's model), and whatever the trainer or registry throw
 */
export async function trainJob(input: TrainPayload, deps: PipelineDeps, options: TrainJobOptions = {}): Promise<TrainResult> {
  const payload = parseJob(trainPayloadSchema, input, 'train payload');
  const clock = deps.clock ?? Date.now;
  const ledger = new JobLedger(deps.workDir, payload.jobId);
  const done = await ledger.read('result.json', trainResultSchema);
  if (done !== undefined) return { ...done, reused: true };

  const registry = await deps.openRegistry();
  const registered = async (sha: string): Promise<ModelCard | undefined> =>
    (await registry.cards(payload.policy)).find((c) => c.file.sha256 === sha);

  // An earlier attempt may have registered the model and died before recording the result: the
  // model file's SHA-256 (noted before registering) finds it, so it is not registered twice.
  let trained = await ledger.read('trained.json', trainedSchema);
  let card = trained === undefined ? undefined : await registered(trained.sha256);
  let reused = trained !== undefined;
  if (trained === undefined || card === undefined) {
    // Its output may be gone or damaged: then train again.
    let files = trained === undefined ? undefined : await readModelFiles(trained.dir).catch(() => undefined);
    if (trained === undefined || files === undefined) {
      reused = false;
      const outDir = join(ledger.dir, 'out');
      await rm(outDir, { recursive: true, force: true });
      await mkdir(outDir, { recursive: true });
      const t0 = clock();
      const telemetry = await telemetryForJob(payload, deps, ledger);
      const out = await deps.trainPolicy(payload.policy, {
        outDir,
        seed: payload.seed,
        ...(payload.data === undefined ? {} : { data: payload.data }),
        ...(telemetry === undefined ? {} : { telemetry }),
        ...(payload.epochs === undefined ? {} : { epochs: payload.epochs }),
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      });
      files = await readModelFiles(out.dir);
      trained = {
        dir: out.dir,
        sha256: files.card.file.sha256,
        trainMs: Math.max(0, clock() - t0),
        metrics: { ...out.metrics },
        baseline: { ...out.baseline },
      };
      await ledger.write('trained.json', trained);
    }
    if (files.card.policy !== payload.policy) {
      throw new SyncPilotError(
        'SP_ERR_MODEL_MISMATCH',
        `the ${payload.policy} trainer produced a model card for policy ${files.card.policy}`,
      );
    }
    card = await registry.register(trained.dir, { challenger: true });
    emitLifecycle(deps, payload.policy, card, 'trained', { metrics: card.metrics.test });
  }
  const result: TrainResult = {
    jobId: payload.jobId,
    policy: payload.policy,
    name: card.name,
    version: card.version,
    reused,
    modelSha256: card.file.sha256,
    primary: card.metrics.primary,
    metrics: { ...card.metrics.test },
    baseline: { ...(card.metrics.baseline ?? trained.baseline) },
    trainMs: trained.trainMs,
  };
  await ledger.write('result.json', result);
  await rm(join(ledger.dir, 'out'), { recursive: true, force: true });
  await dropLabelsFile(ledger);
  deps.logger?.info('model trained and registered', {
    policy: payload.policy,
    version: card.version,
    jobId: payload.jobId,
    reused,
  });
  return result;
}

import { createHash } from 'node:crypto';
import { pipelineJobId } from './job-id.ts';
import type { TrainPayload, TrainRequest } from './job-schemas.ts';
import type { PipelineDeps } from './pipeline-deps.ts';

/**
 * Turns a parsed request into the train job's payload: fingerprints its data (mixing in the label
 * telemetry watermark of a `labels` or `drift` trigger) and derives the deterministic job id from policy, fingerprint
 * and training config. Margin, promotion and trigger are not part of the id: the same data and
 * config train once whoever asks.
 * @throws whatever `deps.fingerprintData` throws (SP_ERR_DATASET_INVALID for missing data)
 */
export async function prepareTrainPayload(request: TrainRequest, deps: Pick<PipelineDeps, 'fingerprintData'>): Promise<TrainPayload> {
  const base = await deps.fingerprintData(request.policy, request.data);
  const dataFingerprint =
    request.watermark === undefined ? base : createHash('sha256').update(`${base}\n${request.watermark.digest}`).digest('hex');
  const jobId = pipelineJobId(request.policy, dataFingerprint, { seed: request.seed, epochs: request.epochs ?? null });
  return { ...request, jobId, dataFingerprint };
}

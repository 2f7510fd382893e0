import type { EvaluatePayload, EvaluateResult, PromotePayload, TrainPayload, TrainRequestInput, TrainResult } from './job-schemas.ts';

/** The evaluate step's payload, from the train payload and the train step's result. */
export function evaluatePayloadFrom(train: TrainPayload, trained: TrainResult): EvaluatePayload {
  return { jobId: train.jobId, policy: train.policy, version: trained.version, margin: train.margin };
}

/** The promote step's payload, from the train payload and the evaluate step's verdict. */
export function promotePayloadFrom(train: TrainPayload, evaluated: EvaluateResult): PromotePayload {
  return {
    jobId: train.jobId,
    policy: train.policy,
    version: evaluated.version,
    margin: train.margin,
    eligible: evaluated.eligible,
    reason: evaluated.reason,
  };
}

/** A request accepted by a runner: its cycle's id, and whether an equal one was already known. */
export interface EnqueueResult {
  readonly jobId: string;
  /** True when a cycle with this id was already queued, running or done: nothing new was added. */
  readonly duplicate: boolean;
}

/** Where triggers send train requests: the in-process runner or the BullMQ queues. */
export interface PipelineEnqueuer {
  /**
   * Queues a cycle for the request (parsed here). Requests with the same policy, data and
   * config share one id and collapse into one cycle.
   * @throws SyncPilotError `SP_ERR_JOB_INVALID`, `SP_ERR_DATASET_INVALID`
   */
  enqueue(request: TrainRequestInput): Promise<EnqueueResult>;
}

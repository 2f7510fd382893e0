import type { Job, Worker } from 'bullmq';
import { z } from 'zod';
import { toSyncPilotError } from '../../src/core/errors.ts';
import { evaluatePayloadFrom, promotePayloadFrom } from '../jobs/cycle-steps.ts';
import { evaluateJob } from '../jobs/evaluate-job.ts';
import {
  evaluateResultSchema,
  parseJob,
  trainPayloadSchema,
  trainRequestSchema,
  trainResultSchema,
  type TrainPayload,
} from '../jobs/job-schemas.ts';
import type { PipelineDeps } from '../jobs/pipeline-deps.ts';
import { promoteJob } from '../jobs/promote-job.ts';
import { isRetryable, type RetryPolicy } from '../jobs/retry-policy.ts';
import { trainJob } from '../jobs/train-job.ts';
import { BullmqPipeline } from './bullmq-pipeline.ts';
import { loadBullmq } from './load-bullmq.ts';
import { connectionOf, parseQueueConfig, QUEUE_NAMES, type PipelineStep, type QueueConfigInput } from './queue-config.ts';

/** Lock and stall settings of one queue's worker. */
export const stallOptionsSchema = z.strictObject({
  /** How long a job's lock lives without renewal; a worker renews it every half of this. */
  lockDuration: z.number().int().min(100).max(3_600_000),
  /** How often this worker looks for jobs whose lock expired (stalled: their worker died). */
  stalledInterval: z.number().int().min(100).max(3_600_000),
  /** How many stalls a job survives before it fails. */
  maxStalledCount: z.number().int().min(0).max(100),
});
export type StallOptions = z.output<typeof stallOptionsSchema>;

/**
 * Training keeps the event loop busy between epochs, so its lock is long; a dead train worker's
 * job is taken over after about a minute. The other steps take milliseconds.
 */
export const DEFAULT_STALL: Record<PipelineStep, StallOptions> = {
  train: { lockDuration: 60_000, stalledInterval: 30_000, maxStalledCount: 2 },
  evaluate: { lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 2 },
  promote: { lockDuration: 30_000, stalledInterval: 30_000, maxStalledCount: 2 },
};

/** Options of {@link startPipelineWorkers}. */
export interface PipelineWorkersOptions extends QueueConfigInput {
  readonly deps: PipelineDeps;
  /** Which steps this process works on (default all, plus the trigger queue). */
  readonly steps?: readonly (PipelineStep | 'trigger')[];
  /** Per-step overrides of {@link DEFAULT_STALL}. */
  readonly stall?: Partial<Record<PipelineStep, Partial<StallOptions>>>;
  /** Retry policy of cycles the trigger worker enqueues. */
  readonly retry?: Partial<RetryPolicy>;
  /** A name stored on each job this process runs (BullMQ `name`), e.g. host and pid. */
  readonly name?: string;
}

/** Running workers; `close` waits for the jobs in progress. */
export interface PipelineWorkers {
  readonly workers: readonly Worker[];
  close(): Promise<void>;
}

/**
 * Starts BullMQ workers that run the pipeline's job functions: train, evaluate and promote
 * (each reading its child's result from the flow) and the trigger queue's scheduled requests.
 * A retryable failure is retried by BullMQ with exponential backoff; any other fails the job at
 * once (`UnrecoverableError`, the SyncPilotError code in its message). A worker that dies
 * mid-job loses its lock; another worker's stall check moves the job back to waiting and runs it
 * again, and the jobs' ledgers make that rerun finish what the dead one started, once.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` (bad options, bullmq missing)
 */
export async function startPipelineWorkers(options: PipelineWorkersOptions): Promise<PipelineWorkers> {
  const bull = await loadBullmq();
  const config = parseQueueConfig({ redisUrl: options.redisUrl, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
  const steps = new Set(options.steps ?? ['train', 'evaluate', 'promote', 'trigger']);
  const { deps } = options;
  const workers: Worker[] = [];
  let enqueuer: BullmqPipeline | undefined;
  const base = (step: PipelineStep | 'trigger') => {
    const stall = step === 'trigger' ? DEFAULT_STALL.promote : { ...DEFAULT_STALL[step], ...options.stall?.[step] };
    return {
      connection: connectionOf(config),
      prefix: config.prefix,
      concurrency: 1,
      ...stallOptionsSchema.parse(stall),
      ...(options.name === undefined ? {} : { name: options.name }),
    };
  };
  const unrecoverable = (err: unknown): unknown => {
    if (isRetryable(err)) return err;
    const e = toSyncPilotError(err);
    return new bull.UnrecoverableError(`${e.code}: ${e.message}`);
  };
  const guarded =
    <T>(fn: (job: Job) => Promise<T>) =>
    async (job: Job) => {
      try {
        return await fn(job);
      } catch (err) {
        throw unrecoverable(err);
      }
    };
  try {
    if (steps.has('train')) {
      workers.push(
        new bull.Worker(
          QUEUE_NAMES.train,
          guarded((job) =>
            trainJob(payloadOf(job), deps, {
              onProgress: (p) => {
                job.updateProgress({ ...p }).catch(() => undefined);
              },
            }),
          ),
          base('train'),
        ),
      );
    }
    if (steps.has('evaluate')) {
      workers.push(
        new bull.Worker(
          QUEUE_NAMES.evaluate,
          guarded(async (job) => {
            const payload = payloadOf(job);
            const trained = parseJob(trainResultSchema, await childValue(job), 'train result');
            return evaluateJob(evaluatePayloadFrom(payload, trained), deps);
          }),
          base('evaluate'),
        ),
      );
    }
    if (steps.has('promote')) {
      workers.push(
        new bull.Worker(
          QUEUE_NAMES.promote,
          guarded(async (job) => {
            const payload = payloadOf(job);
            const evaluated = parseJob(evaluateResultSchema, await childValue(job), 'evaluate result');
            return promoteJob(promotePayloadFrom(payload, evaluated), deps);
          }),
          base('promote'),
        ),
      );
    }
    if (steps.has('trigger')) {
      enqueuer = await BullmqPipeline.open({ ...config, deps, ...(options.retry === undefined ? {} : { retry: options.retry }) });
      const producer = enqueuer;
      workers.push(
        new bull.Worker(
          QUEUE_NAMES.trigger,
          guarded(async (job) => {
            const request = parseJob(trainRequestSchema, job.data, `scheduled request ${job.id ?? '?'}`);
            return producer.enqueue({ ...request, trigger: { ...request.trigger, at: job.timestamp } });
          }),
          base('trigger'),
        ),
      );
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));
  } catch (err) {
    await Promise.all(workers.map((w) => w.close()));
    await enqueuer?.close();
    throw err;
  }
  for (const w of workers) {
    // BullMQ re-emits processing errors here; the job's failure is already recorded in Redis.
    w.on('error', (err) => deps.logger?.warn('pipeline worker error', { queue: w.name, error: err.message }));
    w.on('failed', (job, err) =>
      deps.logger?.warn('pipeline job failed', { queue: w.name, job: job?.id, attempts: job?.attemptsMade, error: err.message }),
    );
  }
  return {
    workers,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await enqueuer?.close();
    },
  };
}

function payloadOf(job: Job): TrainPayload {
  return parseJob(trainPayloadSchema, job.data, `job ${job.id ?? '?'} payload`);
}

async function childValue(job: Job): Promise<unknown> {
  const values = Object.values(await job.getChildrenValues());
  return values[0];
}

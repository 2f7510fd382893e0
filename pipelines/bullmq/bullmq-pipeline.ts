import type { FlowJob, Job, JobsOptions, Queue, QueueEvents } from 'bullmq';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { EnqueueResult, PipelineEnqueuer } from '../jobs/cycle-steps.ts';
import {
  evaluateResultSchema,
  parseJob,
  parseTrainRequest,
  promoteResultSchema,
  trainRequestSchema,
  trainResultSchema,
  type CycleResult,
  type TrainPayload,
  type TrainRequestInput,
} from '../jobs/job-schemas.ts';
import type { PipelineDeps } from '../jobs/pipeline-deps.ts';
import { prepareTrainPayload } from '../jobs/prepare-train.ts';
import { DEFAULT_RETRY, type RetryPolicy } from '../jobs/retry-policy.ts';
import { loadBullmq, type BullmqModule } from './load-bullmq.ts';
import { connectionOf, parseQueueConfig, QUEUE_NAMES, stepJobId, type PipelineStep, type QueueConfigInput } from './queue-config.ts';

/** Options of {@link BullmqPipeline.open}. */
export interface BullmqPipelineOptions extends QueueConfigInput {
  /** Fingerprints request data to derive job ids. */
  readonly deps: Pick<PipelineDeps, 'fingerprintData'>;
  /** Attempts and exponential backoff of every step; default {@link DEFAULT_RETRY}. */
  readonly retry?: Partial<RetryPolicy>;
  /** How long finished jobs stay in Redis, and so how long their ids deduplicate (default 7 days). */
  readonly keepFinishedSeconds?: number;
}

const DAY_S = 24 * 3600;

/**
 * The producer side of the BullMQ pipeline: adds each cycle as one flow (promote ← evaluate ←
 * train: BullMQ runs children before parents, and a failed child fails its parents) with ids
 * derived from {@link pipelineJobId}, so a second request for the same data and config adds
 * nothing. Workers (`startPipelineWorkers`) may run in any process.
 */
export class BullmqPipeline implements PipelineEnqueuer {
  readonly #bull: BullmqModule;
  readonly #queues: Record<PipelineStep | 'trigger', Queue>;
  readonly #flows: InstanceType<BullmqModule['FlowProducer']>;
  readonly #deps: Pick<PipelineDeps, 'fingerprintData'>;
  readonly #jobOpts: JobsOptions;
  readonly #connection: ReturnType<typeof connectionOf>;
  readonly #prefix: string;
  readonly #events = new Map<string, Promise<QueueEvents>>();
  #closed = false;

  private constructor(bull: BullmqModule, options: BullmqPipelineOptions) {
    const config = parseQueueConfig({ redisUrl: options.redisUrl, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    const keep = options.keepFinishedSeconds ?? 7 * DAY_S;
    this.#bull = bull;
    this.#deps = options.deps;
    this.#prefix = config.prefix;
    this.#connection = connectionOf(config);
    const base = { connection: this.#connection, prefix: config.prefix };
    this.#queues = {
      train: new bull.Queue(QUEUE_NAMES.train, base),
      evaluate: new bull.Queue(QUEUE_NAMES.evaluate, base),
      promote: new bull.Queue(QUEUE_NAMES.promote, base),
      trigger: new bull.Queue(QUEUE_NAMES.trigger, base),
    };
    this.#flows = new bull.FlowProducer(base);
    this.#jobOpts = {
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffMs },
      removeOnComplete: { age: keep },
      removeOnFail: { age: keep },
    };
  }

  /**
   * Connects to Redis (bullmq is loaded here, lazily).
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` (bad URL or prefix, bullmq missing)
   */
  static async open(options: BullmqPipelineOptions): Promise<BullmqPipeline> {
    const pipeline = new BullmqPipeline(await loadBullmq(), options);
    await Promise.all(Object.values(pipeline.#queues).map((q) => q.waitUntilReady()));
    return pipeline;
  }

  /**
   * Adds the request's cycle unless a cycle with its id is already queued, running or kept as
   * finished. A cycle that failed is removed and added afresh.
   * @throws SyncPilotError `SP_ERR_CLOSED`, `SP_ERR_JOB_INVALID`, `SP_ERR_DATASET_INVALID`
   */
  async enqueue(request: TrainRequestInput): Promise<EnqueueResult> {
    this.#open();
    const payload = await prepareTrainPayload(parseTrainRequest(request), this.#deps);
    const last: PipelineStep = payload.promote ? 'promote' : 'train';
    const existing = await this.#queues[last].getJob(stepJobId(payload.jobId, last));
    if (existing !== undefined) {
      if ((await existing.getState()) !== 'failed') return { jobId: payload.jobId, duplicate: true };
      await this.#removeCycle(payload.jobId);
    }
    if (payload.promote) await this.#flows.add(this.#flow(payload));
    else await this.#queues.train.add('train', payload, { ...this.#jobOpts, jobId: stepJobId(payload.jobId, 'train') });
    return { jobId: payload.jobId, duplicate: false };
  }

  /**
   * Waits until the cycle finished and returns what each step returned.
   * @throws SyncPilotError `SP_ERR_TIMEOUT` after `timeoutMs` (default 10 min); `SP_ERR_JOB_INVALID`
   * for an unknown cycle or when a step failed (its reason in the message)
   */
  async waitFor(jobId: string, timeoutMs = 600_000): Promise<CycleResult> {
    this.#open();
    const promote = await this.#queues.promote.getJob(stepJobId(jobId, 'promote'));
    const last: PipelineStep = promote === undefined ? 'train' : 'promote';
    const job = promote ?? (await this.#queues.train.getJob(stepJobId(jobId, 'train')));
    if (job === undefined) throw new SyncPilotError('SP_ERR_JOB_INVALID', `no pipeline cycle ${jobId} in the queues`);
    const events = await this.#queueEvents(last);
    try {
      await job.waitUntilFinished(events, timeoutMs);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (/timed out/i.test(message)) {
        throw new SyncPilotError('SP_ERR_TIMEOUT', `pipeline cycle ${jobId} did not finish in ${timeoutMs} ms`, { cause: err });
      }
      throw new SyncPilotError('SP_ERR_JOB_INVALID', `pipeline cycle ${jobId} failed: ${await this.#firstFailure(jobId, message)}`, {
        cause: err,
      });
    }
    return this.result(jobId);
  }

  /**
   * What the finished steps of a cycle returned.
   * @throws SyncPilotError `SP_ERR_JOB_INVALID` when the train step has not completed
   */
  async result(jobId: string): Promise<CycleResult> {
    this.#open();
    const value = async (step: PipelineStep): Promise<unknown> => {
      const job = await this.#queues[step].getJob(stepJobId(jobId, step));
      // A completed job may carry the failedReason of an earlier attempt: its state decides.
      return job !== undefined && (await job.getState()) === 'completed' ? (job.returnvalue as unknown) : undefined;
    };
    const [train, evaluate, promote] = await Promise.all([value('train'), value('evaluate'), value('promote')]);
    if (train === undefined || train === null)
      throw new SyncPilotError('SP_ERR_JOB_INVALID', `pipeline cycle ${jobId} has not trained yet`);
    return {
      jobId,
      train: parseJob(trainResultSchema, train, 'train result'),
      ...(evaluate == null ? {} : { evaluate: parseJob(evaluateResultSchema, evaluate, 'evaluate result') }),
      ...(promote == null ? {} : { promote: parseJob(promoteResultSchema, promote, 'promote result') }),
    };
  }

  /** The state of each step's job (`missing` when absent), for status displays and tests. */
  async states(jobId: string): Promise<Record<PipelineStep, string>> {
    const state = async (step: PipelineStep): Promise<string> => {
      const job = await this.#queues[step].getJob(stepJobId(jobId, step));
      return job === undefined ? 'missing' : job.getState();
    };
    const [train, evaluate, promote] = await Promise.all([state('train'), state('evaluate'), state('promote')]);
    return { train, evaluate, promote };
  }

  /** Job counts per state of each queue (`wait`, `active`, `completed`, `failed`, …), for status displays. */
  async counts(): Promise<Record<PipelineStep | 'trigger', Record<string, number>>> {
    this.#open();
    const [train, evaluate, promote, trigger] = await Promise.all(
      (['train', 'evaluate', 'promote', 'trigger'] as const).map((q) => this.#queues[q].getJobCounts()),
    );
    return { train: train ?? {}, evaluate: evaluate ?? {}, promote: promote ?? {}, trigger: trigger ?? {} };
  }

  /** A train job by cycle id, for inspection (attempts, progress). */
  trainJob(jobId: string): Promise<Job | undefined> {
    return this.#queues.train.getJob(stepJobId(jobId, 'train'));
  }

  /**
   * Runs `request` every `everyMs` through a BullMQ job scheduler (survives restarts; only one
   * scheduler per `id` whatever the number of processes). The trigger worker enqueues each one;
   * unchanged data gives the same job id, so a scheduled run trains only when the data changed.
   * @throws SyncPilotError `SP_ERR_JOB_INVALID` for a bad request
   */
  async schedule(id: string, everyMs: number, request: TrainRequestInput): Promise<void> {
    this.#open();
    const data = parseJob(trainRequestSchema, request, 'scheduled train request');
    await this.#queues.trigger.upsertJobScheduler(
      id,
      { every: everyMs },
      { name: 'request', data: { ...data, trigger: { kind: 'schedule', at: 0, detail: id } } },
    );
  }

  async unschedule(id: string): Promise<boolean> {
    this.#open();
    return this.#queues.trigger.removeJobScheduler(id);
  }

  /** Removes every job of this deployment's queues (tests and `--reset`). */
  async obliterate(): Promise<void> {
    await Promise.all(Object.values(this.#queues).map((q) => q.obliterate({ force: true })));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const events = await Promise.all([...this.#events.values()].map((p) => p.catch(() => undefined)));
    await Promise.all([...events.map((e) => e?.close()), ...Object.values(this.#queues).map((q) => q.close()), this.#flows.close()]);
  }

  #flow(payload: TrainPayload): FlowJob {
    const child = { ...this.#jobOpts, failParentOnFailure: true };
    return {
      name: 'promote',
      queueName: QUEUE_NAMES.promote,
      data: payload,
      prefix: this.#prefix,
      opts: { ...this.#jobOpts, jobId: stepJobId(payload.jobId, 'promote') },
      children: [
        {
          name: 'evaluate',
          queueName: QUEUE_NAMES.evaluate,
          data: payload,
          prefix: this.#prefix,
          opts: { ...child, jobId: stepJobId(payload.jobId, 'evaluate') },
          children: [
            {
              name: 'train',
              queueName: QUEUE_NAMES.train,
              data: payload,
              prefix: this.#prefix,
              opts: { ...child, jobId: stepJobId(payload.jobId, 'train') },
            },
          ],
        },
      ],
    };
  }

  async #removeCycle(jobId: string): Promise<void> {
    for (const step of ['promote', 'evaluate', 'train'] as const) {
      const job = await this.#queues[step].getJob(stepJobId(jobId, step));
      if (job !== undefined) await job.remove({ removeChildren: true });
    }
  }

  async #firstFailure(jobId: string, fallback: string): Promise<string> {
    for (const step of ['train', 'evaluate', 'promote'] as const) {
      const job = await this.#queues[step].getJob(stepJobId(jobId, step));
      if (job?.failedReason !== undefined && job.failedReason !== '') return `${step}: ${job.failedReason}`;
    }
    return fallback;
  }

  #queueEvents(step: PipelineStep): Promise<QueueEvents> {
    let p = this.#events.get(step);
    if (p === undefined) {
      const events = new this.#bull.QueueEvents(QUEUE_NAMES[step], { connection: this.#connection, prefix: this.#prefix });
      p = events.waitUntilReady().then(() => events);
      this.#events.set(step, p);
    }
    return p;
  }

  #open(): void {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the BullMQ pipeline is closed');
  }
}

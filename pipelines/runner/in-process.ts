import { setTimeout as delay } from 'node:timers/promises';
import { SyncPilotError, toSyncPilotError } from '../../src/core/errors.ts';
import { evaluatePayloadFrom, promotePayloadFrom, type EnqueueResult, type PipelineEnqueuer } from '../jobs/cycle-steps.ts';
import { evaluateJob } from '../jobs/evaluate-job.ts';
import { parseTrainRequest, type CycleResult, type TrainPayload, type TrainRequestInput } from '../jobs/job-schemas.ts';
import type { PipelineDeps, TrainProgress } from '../jobs/pipeline-deps.ts';
import { prepareTrainPayload } from '../jobs/prepare-train.ts';
import { promoteJob } from '../jobs/promote-job.ts';
import { backoffDelay, DEFAULT_RETRY, isRetryable, type RetryPolicy } from '../jobs/retry-policy.ts';
import { trainJob } from '../jobs/train-job.ts';

/** Options of {@link InProcessRunner}. */
export interface InProcessRunnerOptions {
  readonly deps: PipelineDeps;
  /** Per step (train, evaluate, promote); default {@link DEFAULT_RETRY}. */
  readonly retry?: Partial<RetryPolicy>;
  /** Training progress of the cycle being run. */
  readonly onProgress?: (jobId: string, p: TrainProgress) => void;
  /** Injectable wait between attempts (tests). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * The embedded default: runs train → evaluate → promote cycles in this process with the same job
 * functions the BullMQ workers run, one cycle at a time (training saturates a core), retrying a
 * step on a retryable failure with exponential backoff. Requests with the same job id collapse:
 * while a cycle is queued, running or done in this runner, enqueueing it again returns the same
 * cycle; across processes the job ledger makes a finished cycle's repeat cheap and harmless.
 */
export class InProcessRunner implements PipelineEnqueuer {
  readonly #deps: PipelineDeps;
  readonly #retry: RetryPolicy;
  readonly #onProgress: InProcessRunnerOptions['onProgress'];
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #cycles = new Map<string, Promise<CycleResult>>();
  readonly #abort = new AbortController();
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: InProcessRunnerOptions) {
    this.#deps = options.deps;
    this.#retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#onProgress = options.onProgress;
    this.#sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
  }

  /**
   * Parses and queues a request.
   * @throws SyncPilotError `SP_ERR_CLOSED`, `SP_ERR_JOB_INVALID`, `SP_ERR_DATASET_INVALID`
   */
  async enqueue(request: TrainRequestInput): Promise<EnqueueResult> {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the in-process pipeline runner is closed');
    const payload = await prepareTrainPayload(parseTrainRequest(request), this.#deps);
    if (this.#cycles.has(payload.jobId)) return { jobId: payload.jobId, duplicate: true };
    const cycle = this.#tail.then(() => this.#runCycle(payload));
    this.#tail = cycle.catch(() => undefined);
    this.#cycles.set(payload.jobId, cycle);
    // A failed cycle may be asked for again (its data or a service may have been fixed).
    cycle.catch(() => this.#cycles.delete(payload.jobId));
    return { jobId: payload.jobId, duplicate: false };
  }

  /**
   * The outcome of a queued cycle.
   * @throws SyncPilotError `SP_ERR_JOB_INVALID` for an unknown id; the cycle's own error when it failed
   */
  result(jobId: string): Promise<CycleResult> {
    const cycle = this.#cycles.get(jobId);
    if (cycle === undefined) return Promise.reject(new SyncPilotError('SP_ERR_JOB_INVALID', `no pipeline cycle ${jobId} in this runner`));
    return cycle;
  }

  /** Enqueues a request and waits for its cycle. */
  async run(request: TrainRequestInput): Promise<CycleResult> {
    const { jobId } = await this.enqueue(request);
    return this.result(jobId);
  }

  /** Stops taking requests, abandons queued cycles (SP_ERR_CLOSED) and waits for the running one. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    await this.#tail;
  }

  async #runCycle(payload: TrainPayload): Promise<CycleResult> {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', `pipeline runner closed before cycle ${payload.jobId} started`);
    const onProgress = this.#onProgress;
    const train = await this.#attempt('train', () =>
      trainJob(payload, this.#deps, onProgress === undefined ? {} : { onProgress: (p) => onProgress(payload.jobId, p) }),
    );
    if (!payload.promote) return { jobId: payload.jobId, train };
    const evaluate = await this.#attempt('evaluate', () => evaluateJob(evaluatePayloadFrom(payload, train), this.#deps));
    const promote = await this.#attempt('promote', () => promoteJob(promotePayloadFrom(payload, evaluate), this.#deps));
    return { jobId: payload.jobId, train, evaluate, promote };
  }

  async #attempt<T>(step: string, fn: () => Promise<T>): Promise<T> {
    for (let failures = 0; ;) {
      try {
        return await fn();
      } catch (err) {
        failures++;
        if (failures >= this.#retry.attempts || !isRetryable(err) || this.#abort.signal.aborted) throw err;
        const wait = backoffDelay(failures, this.#retry.backoffMs);
        this.#deps.logger?.warn('pipeline step failed; retrying', {
          step,
          attempt: failures,
          retryInMs: wait,
          code: toSyncPilotError(err).code,
          error: err instanceof Error ? err.message : String(err),
        });
        try {
          await this.#sleep(wait, this.#abort.signal);
        } catch {
          throw err;
        }
      }
    }
  }
}

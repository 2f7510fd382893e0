import type { Logger } from '../../src/core/logger.ts';
import type { PipelineEnqueuer } from '../jobs/cycle-steps.ts';
import type { TrainRequestInput } from '../jobs/job-schemas.ts';

/** Options of {@link startScheduleTrigger}. */
export interface ScheduleTriggerOptions {
  readonly enqueuer: PipelineEnqueuer;
  readonly everyMs: number;
  readonly request: Omit<TrainRequestInput, 'trigger'>;
  /** Also fire once at start (default false). */
  readonly immediately?: boolean;
  readonly logger?: Logger;
  readonly clock?: () => number;
}

/**
 * The in-process schedule: enqueues `request` every `everyMs`. Unchanged data gives the same job
 * id, so a tick trains only when the data changed since the last one. (With BullMQ, use
 * `BullmqPipeline.schedule`, a job scheduler that survives restarts and fires once whatever the
 * number of processes.) Returns the function that stops it.
 */
export function startScheduleTrigger(options: ScheduleTriggerOptions): () => void {
  if (!Number.isFinite(options.everyMs) || options.everyMs < 1000)
    throw new RangeError(`a schedule runs at most every second, got ${options.everyMs} ms`);
  let running = false;
  const tick = (): void => {
    if (running) return;
    running = true;
    options.enqueuer
      .enqueue({
        ...options.request,
        trigger: { kind: 'schedule', at: Math.round((options.clock ?? Date.now)()), detail: `every ${options.everyMs} ms` },
      })
      .then(
        (r) => options.logger?.info('scheduled retraining', { policy: options.request.policy, jobId: r.jobId, duplicate: r.duplicate }),
        (err: unknown) =>
          options.logger?.warn('scheduled retraining not enqueued', { error: err instanceof Error ? err.message : String(err) }),
      )
      .finally(() => {
        running = false;
      });
  };
  const timer = setInterval(tick, options.everyMs);
  timer.unref();
  if (options.immediately === true) tick();
  return () => clearInterval(timer);
}

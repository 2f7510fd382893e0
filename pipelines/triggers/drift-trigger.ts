import type { Logger } from '../../src/core/logger.ts';
import type { Policy } from '../../src/ml/policy.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import type { SourcedEvent } from '../../src/telemetry/source/telemetry-source.ts';
import type { EnqueueResult, PipelineEnqueuer } from '../jobs/cycle-steps.ts';
import type { TrainRequestInput } from '../jobs/job-schemas.ts';
import { populationStabilityIndex } from './psi.ts';
import { WatermarkCounter, type TelemetryTrigger } from './telemetry-trigger.ts';

/**
 * How drift is detected over tumbling windows of a monitored value:
 * - `psi`: the window's distribution against a reference window (the first one after start or
 *   after the last retraining), population stability index ≥ `threshold` (e.g. 0.2);
 * - `error`: the window's mean (say, a per-event absolute error) exceeds the reference value
 *   (say, the champion card's held-out `mae`) by `threshold`, relative (0.2: 20 % worse).
 */
export type DriftDetector =
  | { readonly kind: 'psi'; readonly threshold: number; readonly bins?: number }
  | { readonly kind: 'error'; readonly threshold: number; readonly reference: () => Promise<number | undefined> };

/** Options of {@link DriftTrigger}. */
export interface DriftTriggerOptions {
  readonly policy: Policy;
  readonly enqueuer: PipelineEnqueuer;
  /** Families whose events carry the value. */
  readonly families: readonly string[];
  /** The monitored value of an event (a feature, an outcome, an error), or undefined to skip it. */
  readonly value: (e: SyncPilotEvent) => number | undefined;
  /** What to call it in logs and trigger details. */
  readonly name: string;
  readonly detector: DriftDetector;
  /** Values per window (default 500). */
  readonly window?: number;
  readonly request?: Omit<TrainRequestInput, 'policy' | 'trigger' | 'watermark'>;
  readonly onEnqueued?: (r: EnqueueResult & { readonly score: number }) => void;
  readonly logger?: Logger;
  readonly clock?: () => number;
}

/**
 * Retrains a policy when the telemetry it serves drifts. Every event watched feeds a watermark,
 * so the train request's job id moves with the traffic seen; after a retraining is enqueued the
 * reference starts over from the next window.
 */
export class DriftTrigger implements TelemetryTrigger {
  readonly families: readonly string[];
  readonly #o: DriftTriggerOptions;
  readonly #size: number;
  readonly #counter = new WatermarkCounter();
  #reference: number[] | undefined;
  #current: number[] = [];
  #last: number | undefined;

  constructor(options: DriftTriggerOptions) {
    this.#o = options;
    this.families = options.families;
    this.#size = options.window ?? 500;
    if (!Number.isInteger(this.#size) || this.#size < 10) throw new RangeError(`window must be an integer >= 10, got ${this.#size}`);
  }

  /** The last window's score (PSI, or relative error increase), undefined before the first. */
  get lastScore(): number | undefined {
    return this.#last;
  }

  async observe(batch: readonly SourcedEvent[]): Promise<void> {
    for (const { event } of batch) {
      const v = this.#o.value(event);
      if (v === undefined || !Number.isFinite(v)) continue;
      this.#counter.add(event.id);
      this.#current.push(v);
      if (this.#current.length >= this.#size) await this.#window();
    }
  }

  async #window(): Promise<void> {
    const window = this.#current;
    this.#current = [];
    const d = this.#o.detector;
    let score: number | undefined;
    if (d.kind === 'psi') {
      if (this.#reference === undefined) {
        this.#reference = window;
        return;
      }
      score = populationStabilityIndex(this.#reference, window, d.bins ?? 10);
    } else {
      const ref = await d.reference().catch(() => undefined);
      if (ref === undefined || ref === 0) return;
      score = (window.reduce((a, b) => a + b, 0) / window.length - ref) / Math.abs(ref);
    }
    this.#last = score;
    if (score < d.threshold) return;
    const watermark = this.#counter.value;
    if (watermark === undefined) return;
    try {
      const r = await this.#o.enqueuer.enqueue({
        ...this.#o.request,
        policy: this.#o.policy,
        trigger: {
          kind: 'drift',
          at: Math.round((this.#o.clock ?? Date.now)()),
          detail: `${d.kind === 'psi' ? 'PSI' : 'relative error increase'} ${score.toFixed(3)} of ${this.#o.name} (threshold ${d.threshold})`,
        },
        watermark,
      });
      this.#reference = undefined;
      this.#o.logger?.info('drift: retraining', {
        policy: this.#o.policy,
        on: this.#o.name,
        score,
        jobId: r.jobId,
        duplicate: r.duplicate,
      });
      this.#o.onEnqueued?.({ ...r, score });
    } catch (err) {
      this.#o.logger?.warn('could not enqueue a retraining on drift', {
        policy: this.#o.policy,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../src/core/logger.ts';
import type { Policy } from '../../src/ml/policy.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import type { SourcedEvent } from '../../src/telemetry/source/telemetry-source.ts';
import type { EnqueueResult, PipelineEnqueuer } from '../jobs/cycle-steps.ts';
import { parseJob, watermarkSchema, type TrainRequestInput, type Watermark } from '../jobs/job-schemas.ts';
import { DEFAULT_LABELS } from '../jobs/label-events.ts';
import { WatermarkCounter, type TelemetryTrigger } from './telemetry-trigger.ts';

export { DEFAULT_LABELS } from '../jobs/label-events.ts';

/** Options of {@link LabelTrigger}. */
export interface LabelTriggerOptions {
  readonly policy: Policy;
  readonly enqueuer: PipelineEnqueuer;
  /** New labels that start a retraining. */
  readonly threshold: number;
  /** Default {@link DEFAULT_LABELS} of the policy. */
  readonly families?: readonly string[];
  /**
   * Default the policy's. Only what is counted changes: the cycle's train job reads back the
   * policy's {@link DEFAULT_LABELS} through the watermark's last event.
   */
  readonly isLabel?: (e: SyncPilotEvent) => boolean;
  /** The rest of each train request (data, seed, epochs, margin …). */
  readonly request?: Omit<TrainRequestInput, 'policy' | 'trigger' | 'watermark'>;
  /** Where the counts survive restarts (JSON, replaced atomically); default in memory only. */
  readonly stateFile?: string;
  readonly onEnqueued?: (r: EnqueueResult & { readonly watermark: Watermark }) => void;
  readonly logger?: Logger;
  readonly clock?: () => number;
}

const stateSchema = z.strictObject({ pending: z.number().int().nonnegative(), watermark: watermarkSchema.optional() });

/**
 * Retrains a policy after every `threshold` new labels: counts label events, and when enough have
 * arrived enqueues a train request carrying the watermark of every label so far (so the cycle's
 * job id changes with the labels, and a re-delivered batch that adds nothing new collapses into
 * the same cycle). A failed enqueue is logged and tried again with the next batch.
 */
export class LabelTrigger implements TelemetryTrigger {
  readonly families: readonly string[];
  readonly #o: LabelTriggerOptions;
  readonly #isLabel: (e: SyncPilotEvent) => boolean;
  #counter = new WatermarkCounter();
  #pending = 0;
  #loaded = false;

  constructor(options: LabelTriggerOptions) {
    if (!Number.isInteger(options.threshold) || options.threshold < 1)
      throw new RangeError(`threshold must be a positive integer, got ${options.threshold}`);
    this.#o = options;
    this.families = options.families ?? DEFAULT_LABELS[options.policy].families;
    this.#isLabel = options.isLabel ?? DEFAULT_LABELS[options.policy].isLabel;
  }

  /** Labels counted since the last enqueue, and the watermark of all of them. */
  get state(): { readonly pending: number; readonly watermark: Watermark | undefined } {
    return { pending: this.#pending, watermark: this.#counter.value };
  }

  async observe(batch: readonly SourcedEvent[]): Promise<void> {
    await this.#load();
    let counted = 0;
    for (const { event } of batch) {
      if (!this.#isLabel(event)) continue;
      this.#counter.add(event.id);
      counted++;
    }
    this.#pending += counted;
    if (this.#pending >= this.#o.threshold) {
      const watermark = this.#counter.value;
      if (watermark !== undefined) await this.#fire(watermark);
    }
    if (counted > 0) await this.#save();
  }

  async #fire(watermark: Watermark): Promise<void> {
    const at = Math.round((this.#o.clock ?? Date.now)());
    try {
      const r = await this.#o.enqueuer.enqueue({
        ...this.#o.request,
        policy: this.#o.policy,
        trigger: { kind: 'labels', at, detail: `${this.#pending} new labels (${watermark.count} in all)` },
        watermark,
      });
      this.#pending = 0;
      this.#o.logger?.info('new labels: retraining', {
        policy: this.#o.policy,
        jobId: r.jobId,
        labels: watermark.count,
        duplicate: r.duplicate,
      });
      this.#o.onEnqueued?.({ ...r, watermark });
    } catch (err) {
      this.#o.logger?.warn('could not enqueue a retraining; trying again with the next labels', {
        policy: this.#o.policy,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    this.#loaded = true;
    if (this.#o.stateFile === undefined) return;
    let text: string;
    try {
      text = await readFile(this.#o.stateFile, 'utf8');
    } catch {
      return;
    }
    const s = parseJob(stateSchema, JSON.parse(text) as unknown, this.#o.stateFile);
    this.#pending = s.pending;
    this.#counter = new WatermarkCounter(s.watermark);
  }

  async #save(): Promise<void> {
    const file = this.#o.stateFile;
    if (file === undefined) return;
    await mkdir(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ pending: this.#pending, watermark: this.#counter.value }), { flush: true });
    await rename(tmp, file);
  }
}

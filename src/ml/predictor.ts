import { systemClock, type Clock } from '../core/clock.ts';
import { SyncPilotError, type ErrorCode } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import type { TelemetrySink } from '../core/telemetry.ts';
import { MicroBatcher } from './micro-batcher.ts';
import type { LoadedModel } from './model-runtime.ts';
import type { Policy } from './policy.ts';
import { emitPredictionEvents, type RecordedRun } from './runtime/prediction-telemetry.ts';

/** Options of {@link Predictor}. */
export interface PredictorOptions {
  readonly policy: Policy;
  /** The policy's heuristic: answers when there is no model, the model fails, or it is over budget. */
  readonly baseline: (features: Float32Array) => Float32Array;
  /** Longest a prediction may wait for the model (queueing included) before the baseline answers. Default 5 ms. */
  readonly budgetMs?: number;
  /** Most rows per model run. Default 64. */
  readonly maxBatch?: number;
  /** Longest a request waits for others to share its run. Default 1 ms. */
  readonly maxWaitMs?: number;
  /** Where shadow (and the matching champion) predictions are recorded as `prediction.v1`. */
  readonly telemetry?: TelemetrySink;
  /** Tenant of the telemetry events. Default `default`. */
  readonly tenant?: string;
  readonly clock?: Clock;
  /** Fraction of batches the shadows also run on (and whose predictions are recorded). Default 1. */
  readonly shadowSampleRate?: number;
  /** Random source for sampling, in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  readonly logger?: Logger;
}

/** The model version that produced a prediction. */
export interface ModelTag {
  readonly name: string;
  readonly version: number;
}

/** One answer. `source: 'model'` iff `model` is set; `code` says why the baseline answered when that was a failure. */
export interface Prediction {
  readonly output: Float32Array;
  readonly source: 'model' | 'baseline';
  readonly model: ModelTag | null;
  readonly latencyMicros: number;
  readonly code?: ErrorCode;
}

/** Counters since creation. */
export interface PredictorStats {
  readonly predictions: number;
  readonly model: number;
  readonly baseline: number;
  /** Baseline answers because the model was over budget. */
  readonly overBudget: number;
  /** Baseline answers because the model failed (or the input did not fit it). */
  readonly failed: number;
  readonly batches: number;
  readonly largestBatch: number;
  readonly shadowRuns: number;
  readonly shadowFailures: number;
  readonly champion: ModelTag | null;
  readonly shadows: readonly ModelTag[];
}

interface Holder {
  readonly model: LoadedModel;
  readonly tag: ModelTag;
  /** Roles held: champion and/or shadow. */
  roles: number;
  inFlight: number;
}

type RowResult = { readonly output: Float32Array; readonly tag: ModelTag } | { readonly output: null; readonly code?: ErrorCode };
const NO_MODEL: RowResult = Object.freeze({ output: null });
const MISFIT: RowResult = Object.freeze({ output: null, code: 'SP_ERR_MODEL_MISMATCH' as const });

/**
 * Serves one policy's predictions: micro-batches concurrent requests onto the champion model, with
 * a time budget and the baseline as fallback. `predict` never rejects.
 *
 * Hot swap: a batch binds to the champion when it starts running and is tagged with that model;
 * {@link swap} only changes what later batches use. A model the predictor no longer uses (as
 * champion or shadow) is closed once its last run has finished, so no response ever comes from a
 * closed model and no request fails because of a swap. The predictor owns the models given to it.
 */
export class Predictor {
  readonly policy: Policy;
  readonly #baseline: (features: Float32Array) => Float32Array;
  readonly #batcher: MicroBatcher<Float32Array, RowResult>;
  readonly #clock: Clock;
  readonly #telemetry: TelemetrySink | undefined;
  readonly #tenant: string;
  readonly #sampleRate: number;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #holders = new Map<LoadedModel, Holder>();
  readonly #closing = new Set<Promise<void>>();
  readonly #emptied: (() => void)[] = [];
  #champion: Holder | null = null;
  #shadows: readonly Holder[] = [];
  #closed = false;
  #counts = { predictions: 0, model: 0, baseline: 0, overBudget: 0, failed: 0, shadowRuns: 0, shadowFailures: 0 };

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for a non-positive budget, batch size, or a sample rate outside [0, 1] */
  constructor(opts: PredictorOptions) {
    this.policy = opts.policy;
    this.#baseline = opts.baseline;
    this.#clock = opts.clock ?? systemClock;
    this.#telemetry = opts.telemetry;
    this.#tenant = opts.tenant ?? 'default';
    this.#sampleRate = opts.shadowSampleRate ?? 1;
    this.#random = opts.random ?? Math.random;
    this.#logger = opts.logger ?? silentLogger;
    const budgetMs = opts.budgetMs ?? 5;
    if (!(budgetMs > 0)) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `budgetMs must be > 0, got ${budgetMs}`);
    if (!(this.#sampleRate >= 0 && this.#sampleRate <= 1)) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `shadowSampleRate must be in [0, 1], got ${this.#sampleRate}`);
    }
    this.#batcher = new MicroBatcher<Float32Array, RowResult>({
      run: (items) => this.#runBatch(items),
      maxBatch: opts.maxBatch ?? 64,
      maxWaitMs: opts.maxWaitMs ?? 1,
      deadlineMs: budgetMs,
      clock: this.#clock,
    });
  }

  /** The champion's tag, or null when the baseline answers everything. */
  get champion(): ModelTag | null {
    return this.#champion?.tag ?? null;
  }

  /**
   * Predicts for one feature vector. Never rejects: with no champion the baseline answers (no
   * `code`); when the model fails, does not fit the input, or misses the budget the baseline
   * answers with `code: SP_ERR_INFERENCE_FAILED`; after `close()` with `SP_ERR_CLOSED`. Should
   * the baseline itself throw, the output is empty and `code` is `SP_ERR_INTERNAL`. `features` is
   * read when its batch runs: do not change it before the promise settles. A model's `output` is
   * a view into its batch's result.
   */
  async predict(features: Float32Array): Promise<Prediction> {
    const start = this.#clock.monotonic();
    this.#counts.predictions++;
    if (this.#closed) return this.#fallback(features, start, 'SP_ERR_CLOSED');
    if (this.#champion === null) return this.#fallback(features, start, undefined);
    const outcome = await this.#batcher.submit(features);
    if (outcome.ok) {
      const r = outcome.value;
      if (r.output !== null) {
        this.#counts.model++;
        return { output: r.output, source: 'model', model: r.tag, latencyMicros: (this.#clock.monotonic() - start) * 1000 };
      }
      if (r.code === undefined) return this.#fallback(features, start, undefined);
      this.#counts.failed++;
    } else if (outcome.code === 'SP_ERR_TIMEOUT') {
      this.#counts.overBudget++;
    } else if (outcome.code === 'SP_ERR_CLOSED') {
      return this.#fallback(features, start, 'SP_ERR_CLOSED');
    } else {
      this.#counts.failed++;
    }
    return this.#fallback(features, start, 'SP_ERR_INFERENCE_FAILED');
  }

  /**
   * Makes `model` the champion for batches that start from now on (null: baseline only). Batches
   * already running finish on the previous champion, which is closed once they have. Takes
   * ownership of `model`; after `close()` the model is closed at once.
   */
  swap(model: LoadedModel | null): void {
    this.update(
      model,
      this.#shadows.map((h) => h.model),
    );
  }

  /**
   * Sets the challengers run in shadow on the same batches as the champion (a sampled fraction of
   * them), off the response path; their predictions only go to telemetry (with the champion's
   * for the same rows, joined by input digest). With no champion, shadows do not run. Takes ownership.
   */
  setShadows(models: readonly LoadedModel[]): void {
    this.update(this.#champion?.model ?? null, models);
  }

  /**
   * Sets champion and shadows in one step, so a model moving between the roles (a challenger
   * promoted, a champion demoted) stays open throughout.
   */
  update(champion: LoadedModel | null, shadows: readonly LoadedModel[]): void {
    if (this.#closed) {
      for (const m of new Set([...(champion === null ? [] : [champion]), ...shadows])) {
        if (!this.#holders.has(m)) this.#track(m.close());
      }
      return;
    }
    const nextChampion = champion === null ? null : this.#acquire(champion);
    const nextShadows = [...new Set(shadows)].filter((m) => m !== champion).map((m) => this.#acquire(m));
    const previous = [...(this.#champion === null ? [] : [this.#champion]), ...this.#shadows];
    this.#champion = nextChampion;
    this.#shadows = nextShadows;
    for (const h of previous) this.#release(h);
  }

  stats(): PredictorStats {
    const b = this.#batcher.stats();
    return {
      ...this.#counts,
      batches: b.batches,
      largestBatch: b.largestBatch,
      champion: this.champion,
      shadows: this.#shadows.map((h) => h.tag),
    };
  }

  /** Answers what is queued (on the current champion), then closes every model. Later predictions get the baseline. Idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      await this.#batcher.close();
      const held = [...(this.#champion === null ? [] : [this.#champion]), ...this.#shadows];
      this.#champion = null;
      this.#shadows = [];
      this.#closed = true;
      for (const h of held) this.#release(h);
    }
    // Shadow runs still in flight close their models when they end.
    if (this.#holders.size > 0) await new Promise<void>((resolve) => this.#emptied.push(resolve));
    while (this.#closing.size > 0) await Promise.all(this.#closing);
  }

  #fallback(features: Float32Array, start: number, code: ErrorCode | undefined): Prediction {
    this.#counts.baseline++;
    let output: Float32Array;
    try {
      output = this.#baseline(features);
    } catch (err) {
      this.#logger.error('baseline threw', { policy: this.policy, error: err instanceof Error ? err.message : String(err) });
      output = new Float32Array(0);
      code = 'SP_ERR_INTERNAL';
    }
    const latencyMicros = (this.#clock.monotonic() - start) * 1000;
    return code === undefined
      ? { output, source: 'baseline', model: null, latencyMicros }
      : { output, source: 'baseline', model: null, latencyMicros, code };
  }

  async #runBatch(items: readonly Float32Array[]): Promise<readonly RowResult[]> {
    const holder = this.#champion;
    if (holder === null) return items.map(() => NO_MODEL);
    holder.inFlight++;
    try {
      const { inputs, outputs } = holder.model;
      let fits = 0;
      for (const f of items) if (f.length === inputs) fits++;
      const batch = new Float32Array(fits * inputs);
      let k = 0;
      for (const f of items) if (f.length === inputs) batch.set(f, inputs * k++);
      const shadows = this.#shadows.length > 0 && this.#sampled() ? this.#shadows : [];
      for (const s of shadows) s.inFlight++;
      const t0 = this.#clock.monotonic();
      let out: Float32Array;
      try {
        out = fits === 0 ? new Float32Array(0) : await holder.model.run(batch, fits);
      } catch (err) {
        for (const s of shadows) this.#done(s);
        throw err;
      }
      if (shadows.length > 0) {
        const champion: RecordedRun = {
          card: holder.model.card,
          output: out.slice(),
          latencyMicros: (this.#clock.monotonic() - t0) * 1000,
          shadow: false,
        };
        // After this batch's responses are delivered: shadows must not delay them.
        setImmediate(() => void this.#runShadows(shadows, batch, fits, champion));
      }
      k = 0;
      return items.map((f) => (f.length === inputs ? { output: out.subarray(outputs * k, outputs * ++k), tag: holder.tag } : MISFIT));
    } finally {
      this.#done(holder);
    }
  }

  async #runShadows(shadows: readonly Holder[], batch: Float32Array, rows: number, champion: RecordedRun): Promise<void> {
    const runs: RecordedRun[] = [champion];
    for (const s of shadows) {
      try {
        if (s.model.inputs !== champion.card.io.inputs) throw new SyncPilotError('SP_ERR_MODEL_MISMATCH', 'shadow input width differs');
        const t0 = this.#clock.monotonic();
        const output = await s.model.run(batch, rows);
        runs.push({ card: s.model.card, output, latencyMicros: (this.#clock.monotonic() - t0) * 1000, shadow: true });
        this.#counts.shadowRuns++;
      } catch (err) {
        this.#counts.shadowFailures++;
        this.#logger.warn('shadow model failed', {
          policy: this.policy,
          model: s.tag,
          error: err instanceof Error ? err.message : String(err),
        });
      } finally {
        this.#done(s);
      }
    }
    if (this.#telemetry !== undefined && rows > 0) {
      const { inputs } = champion.card.io;
      emitPredictionEvents({
        sink: this.#telemetry,
        clock: this.#clock,
        tenant: this.#tenant,
        policy: this.policy,
        batch,
        rows,
        inputs,
        runs,
      });
    }
  }

  #sampled(): boolean {
    return this.#sampleRate >= 1 || (this.#sampleRate > 0 && this.#random() < this.#sampleRate);
  }

  #acquire(model: LoadedModel): Holder {
    let h = this.#holders.get(model);
    if (h === undefined) {
      h = { model, tag: { name: model.card.name, version: model.card.version }, roles: 0, inFlight: 0 };
      this.#holders.set(model, h);
    }
    h.roles++;
    return h;
  }

  #release(h: Holder): void {
    h.roles--;
    this.#closeIfUnused(h);
  }

  #done(h: Holder): void {
    h.inFlight--;
    this.#closeIfUnused(h);
  }

  #closeIfUnused(h: Holder): void {
    if (h.roles > 0 || h.inFlight > 0 || this.#holders.get(h.model) !== h) return;
    this.#holders.delete(h.model);
    this.#track(h.model.close());
    if (this.#holders.size === 0) this.#emptied.splice(0).forEach((f) => f());
  }

  #track(closing: Promise<void>): void {
    const p = closing.catch((err: unknown) => {
      this.#logger.warn('closing a model failed', { policy: this.policy, error: err instanceof Error ? err.message : String(err) });
    });
    this.#closing.add(p);
    void p.finally(() => this.#closing.delete(p));
  }
}

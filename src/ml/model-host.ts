import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.ts';
import { SyncPilotError, toSyncPilotError, type ErrorCode } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import { newEventId, type TelemetrySink } from '../core/telemetry.ts';
import { CARD_FILE } from './model-files.ts';
import type { LoadedModel, ModelRuntime } from './model-runtime.ts';
import { isPolicy, type Policy } from './policy.ts';
import { Predictor, type PredictorOptions } from './predictor.ts';
import { loadVerifiedModel, type ModelExpectations } from './runtime/load-verified-model.ts';
import { telemetryModelRef } from './runtime/prediction-telemetry.ts';

/** The registry reads a {@link ModelHost} makes: the read side of `ModelRegistry` (structurally). */
export interface HostRegistryReader {
  /** The policy's champion and challengers (oldest first). */
  state(policy: Policy): Promise<{ readonly champion: number | null; readonly challengers: readonly number[] }>;
  /** The directory holding a version's `card.json` and model file. */
  modelDir(policy: Policy, version: number): string;
}

/** What a {@link ModelHost} needs of a promotion bus: notices naming the policy that changed. */
export interface HostPromotionBus {
  subscribe(handler: (notice: { readonly policy: string }) => void): () => void;
}

/** Options of {@link ModelHost}. */
export interface ModelHostOptions {
  readonly registry: HostRegistryReader;
  readonly runtime: ModelRuntime;
  /** Promotion notices; without one, only {@link ModelHost.refresh} reloads. */
  readonly bus?: HostPromotionBus;
  /** Receives `model-lifecycle.v1` (`loaded`, `refused`) and the predictors' shadow `prediction.v1` events. */
  readonly telemetry?: TelemetrySink;
  readonly logger?: Logger;
  /** Tenant of the telemetry events. Default `default`. */
  readonly tenant?: string;
  readonly clock?: Clock;
}

/** Options of a hosted predictor: {@link PredictorOptions} without what the host provides. */
export interface HostedPredictorOptions extends Omit<PredictorOptions, 'policy' | 'telemetry' | 'tenant' | 'clock' | 'logger'> {
  /** Every model must fit these before it is loaded (its policy is always checked). */
  readonly expect?: Omit<ModelExpectations, 'policy'>;
}

/** What one refresh did. */
export interface RefreshReport {
  /** The champion serving after the refresh (null: the baseline). */
  readonly champion: number | null;
  readonly shadows: readonly number[];
  /** Versions loaded by this refresh. */
  readonly loaded: readonly number[];
  /** Versions refused by this refresh; whatever served before keeps serving in their place. */
  readonly refused: readonly { readonly version: number; readonly code: ErrorCode; readonly message: string }[];
}

interface Hosted {
  readonly policy: Policy;
  readonly predictor: Predictor;
  readonly expect: ModelExpectations;
  /** The models handed to the predictor, by version. */
  models: Map<number, LoadedModel>;
  champion: number | null;
  shadows: number[];
  /** The refresh waiting to start, which later requests join. */
  queued: Promise<RefreshReport> | undefined;
  chain: Promise<unknown>;
}

/**
 * Serves the models of a server's policies: one {@link Predictor} per policy, kept on the
 * registry's champion (challengers run as shadows). Loads when a predictor is created and on every
 * promotion notice for its policy; each load is verified (`loadVerifiedModel`). A model that is
 * refused (corrupt, truncated, mismatched) is reported as `model-lifecycle` `refused` and logged,
 * and the model serving before keeps serving. Refreshes of one policy run one at a time, and
 * requests arriving during one collapse into a single follow-up that reads the latest state.
 */
export class ModelHost {
  readonly #registry: HostRegistryReader;
  readonly #runtime: ModelRuntime;
  readonly #telemetry: TelemetrySink | undefined;
  readonly #logger: Logger;
  readonly #tenant: string;
  readonly #clock: Clock;
  readonly #hosted = new Map<Policy, Hosted>();
  readonly #unsubscribe: (() => void) | undefined;
  #closed = false;

  constructor(opts: ModelHostOptions) {
    this.#registry = opts.registry;
    this.#runtime = opts.runtime;
    this.#telemetry = opts.telemetry;
    this.#logger = opts.logger ?? silentLogger;
    this.#tenant = opts.tenant ?? 'default';
    this.#clock = opts.clock ?? systemClock;
    this.#unsubscribe = opts.bus?.subscribe((notice) => {
      if (isPolicy(notice.policy) && this.#hosted.has(notice.policy) && !this.#closed) void this.refresh(notice.policy);
    });
  }

  /**
   * The predictor of `policy`, created on first call (which starts loading its champion; the
   * baseline answers until it is in — await {@link ready} to wait). Later calls return the same
   * predictor and ignore `options`.
   * @throws SyncPilotError `SP_ERR_CLOSED` after close
   */
  predictor(policy: Policy, options: HostedPredictorOptions): Predictor {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the model host is closed');
    const existing = this.#hosted.get(policy);
    if (existing !== undefined) return existing.predictor;
    const { expect, ...predictorOptions } = options;
    const predictor = new Predictor({
      ...predictorOptions,
      policy,
      clock: this.#clock,
      tenant: this.#tenant,
      logger: this.#logger,
      ...(this.#telemetry === undefined ? {} : { telemetry: this.#telemetry }),
    });
    const hosted: Hosted = {
      policy,
      predictor,
      expect: { ...expect, policy },
      models: new Map(),
      champion: null,
      shadows: [],
      queued: undefined,
      chain: Promise.resolve(),
    };
    this.#hosted.set(policy, hosted);
    void this.refresh(policy);
    return predictor;
  }

  /** Resolves once every refresh of `policy` started so far has finished. */
  async ready(policy: Policy): Promise<void> {
    const hosted = this.#hosted.get(policy);
    if (hosted !== undefined) await hosted.chain;
  }

  /**
   * Reads the registry and brings the predictor of `policy` to its champion and challengers now.
   * Never rejects: registry and load failures are logged and reported.
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` when no predictor was created for `policy`
   */
  refresh(policy: Policy): Promise<RefreshReport> {
    const hosted = this.#hosted.get(policy);
    if (hosted === undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `no predictor for policy ${policy} on this host`);
    if (hosted.queued !== undefined) return hosted.queued;
    const next = hosted.chain.then(() => {
      hosted.queued = undefined;
      return this.#refreshNow(hosted);
    });
    hosted.queued = next;
    hosted.chain = next;
    return next;
  }

  /** Versions currently serving for `policy`. */
  serving(policy: Policy): { readonly champion: number | null; readonly shadows: readonly number[] } {
    const hosted = this.#hosted.get(policy);
    return { champion: hosted?.champion ?? null, shadows: [...(hosted?.shadows ?? [])] };
  }

  /** Stops listening for notices, lets running refreshes finish, then closes every predictor (and its models). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe?.();
    const hosted = [...this.#hosted.values()];
    await Promise.all(hosted.map((h) => h.chain));
    await Promise.all(hosted.map((h) => h.predictor.close()));
  }

  async #refreshNow(hosted: Hosted): Promise<RefreshReport> {
    const unchanged = (): RefreshReport => ({ champion: hosted.champion, shadows: hosted.shadows, loaded: [], refused: [] });
    if (this.#closed) return unchanged();
    let state: { readonly champion: number | null; readonly challengers: readonly number[] };
    try {
      state = await this.#registry.state(hosted.policy);
    } catch (err) {
      this.#logger.warn('cannot read the registry state; models unchanged', {
        policy: hosted.policy,
        error: toSyncPilotError(err).message,
      });
      return unchanged();
    }
    const loaded: number[] = [];
    const refused: { version: number; code: ErrorCode; message: string }[] = [];
    const fresh = new Map<number, LoadedModel>();
    const get = async (version: number, role: 'champion' | 'challenger'): Promise<LoadedModel | undefined> => {
      const have = hosted.models.get(version) ?? fresh.get(version);
      if (have !== undefined) return have;
      const dir = this.#registry.modelDir(hosted.policy, version);
      try {
        const model = await loadVerifiedModel(dir, this.#runtime, hosted.expect);
        fresh.set(version, model);
        loaded.push(version);
        this.#lifecycle(hosted.policy, model.card, 'loaded', `as ${role} on the ${this.#runtime.name} runtime`);
        this.#logger.info('model loaded', { policy: hosted.policy, version, role, runtime: this.#runtime.name });
        return model;
      } catch (err) {
        const e = toSyncPilotError(err, 'SP_ERR_MODEL_CORRUPT');
        refused.push({ version, code: e.code, message: e.message });
        const name = await cardName(dir);
        this.#lifecycle(hosted.policy, { policy: hosted.policy, name, version }, 'refused', `${e.code}: ${e.message}`);
        this.#logger.warn('model refused; the previous model keeps serving', {
          policy: hosted.policy,
          version,
          role,
          code: e.code,
          error: e.message,
        });
        return undefined;
      }
    };

    let champion: number | null = state.champion;
    let championModel: LoadedModel | null = null;
    if (champion !== null) {
      const m = await get(champion, 'champion');
      if (m === undefined) champion = hosted.champion;
      championModel = champion === null ? null : (hosted.models.get(champion) ?? m ?? null);
    }
    const shadows: number[] = [];
    const shadowModels: LoadedModel[] = [];
    for (const v of new Set(state.challengers)) {
      if (v === champion) continue;
      const m = await get(v, 'challenger');
      if (m === undefined) continue;
      shadows.push(v);
      shadowModels.push(m);
    }
    if (this.#closed) {
      for (const m of fresh.values()) await m.close().catch(() => undefined);
      return unchanged();
    }
    hosted.predictor.update(championModel, shadowModels);
    const kept = new Map<number, LoadedModel>();
    if (champion !== null && championModel !== null) kept.set(champion, championModel);
    shadows.forEach((v, i) => kept.set(v, shadowModels[i]!));
    // Loaded but not handed over (e.g. the registry moved on meanwhile): ours to close.
    for (const [v, m] of fresh) if (kept.get(v) !== m) await m.close().catch(() => undefined);
    hosted.models = kept;
    hosted.champion = champion;
    hosted.shadows = shadows;
    return { champion, shadows, loaded, refused };
  }

  #lifecycle(policy: Policy, card: { policy: Policy; name: string; version: number }, event: 'loaded' | 'refused', reason: string): void {
    if (this.#telemetry === undefined) return;
    const model = telemetryModelRef(card);
    this.#telemetry.emit({
      type: 'syncpilot.model-lifecycle.v1',
      id: newEventId(),
      time: Math.floor(this.#clock.now()),
      tenant: this.#tenant,
      key: model.id,
      data: { policy, model, event, reason: reason.slice(0, 1024) },
    });
  }
}

/** The model's name from its card, read leniently: a refused model's card may be the broken part. */
async function cardName(dir: string): Promise<string> {
  try {
    const card: unknown = JSON.parse(await readFile(join(dir, CARD_FILE), 'utf8'));
    const name = typeof card === 'object' && card !== null && 'name' in card ? card.name : undefined;
    return typeof name === 'string' && /^[a-z0-9][a-z0-9-]{0,63}$/.test(name) ? name : 'unknown';
  } catch {
    return 'unknown';
  }
}

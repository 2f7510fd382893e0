import { join } from 'node:path';
import { SyncPilotError, toSyncPilotError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../core/logger.ts';
import type { TelemetrySink } from '../core/telemetry.ts';
import { ModelHost, type HostRegistryReader, type HostedPredictorOptions, type RefreshReport } from '../ml/model-host.ts';
import type { ModelRuntime } from '../ml/model-runtime.ts';
import { POLICIES, type Policy } from '../ml/policy.ts';
import type { ModelTag, Predictor } from '../ml/predictor.ts';
import { ModelRegistry } from '../ml/registry/model-registry.ts';
import type { PromotionNotice } from '../ml/registry/promotion-bus.ts';
import { createAutoRuntime } from '../ml/runtime/auto-runtime.ts';
import { openModelsBus, type OpenedModelsBus } from './model-serving-bus.ts';
import type { ModelServingConfig, ModelsBusKind } from './model-serving-config.ts';
import { predictorDefaults } from './policy-predictor-defaults.ts';

/** Options of {@link ModelServing.start}. */
export interface ModelServingOptions {
  readonly config: ModelServingConfig;
  /** The server's data directory: the registry is `<dataDir>/models` unless `config.registry` says otherwise. */
  readonly dataDir: string;
  /** Receives `model-lifecycle.v1` (`loaded`, `refused`) and shadow `prediction.v1` events. */
  readonly telemetry?: TelemetrySink;
  /** Where the one-line reports (`models: …`) go. Default: nowhere. */
  readonly logger?: Logger;
  /** Predictor options per policy, over `POLICY_PREDICTOR_DEFAULTS`. */
  readonly predictors?: Readonly<Partial<Record<Policy, HostedPredictorOptions>>>;
  /** Default `createAutoRuntime()`. */
  readonly runtime?: ModelRuntime;
  /**
   * How often every policy's registry state is read again, as a safety net for notices the bus
   * lost: Redis pub/sub keeps nothing while a server is disconnected, and no bus signals a
   * reconnect. A policy whose state differs from the last one seen is refreshed; the read is a
   * small file per policy. Default 30 000 ms; 0: off. The timer never keeps the process alive.
   */
  readonly resyncIntervalMs?: number;
}

/** Default of {@link ModelServingOptions.resyncIntervalMs}. */
export const DEFAULT_RESYNC_INTERVAL_MS = 30_000;

/** What one policy serves now. */
export interface PolicyServing {
  readonly policy: Policy;
  /** `null`: the baseline answers. */
  readonly champion: ModelTag | null;
  readonly shadows: readonly ModelTag[];
}

/** Reads as a registry with no models: what a server serves from when its registry cannot be opened. */
const NO_MODELS: HostRegistryReader = {
  state: () => Promise.resolve({ champion: null, challengers: [] }),
  modelDir: () => '',
};

/**
 * The models of a running server: a {@link ModelHost} over the registry (read only: a server
 * never promotes), hosting every policy that has a champion, and following promotions on the
 * configured bus. Every change is reported in one log line (`models: compression/size-regressor v2
 * serving (was v1)`, `models: refused compression v3: SP_ERR_MODEL_CORRUPT …, v2 keeps serving`)
 * and as `model-lifecycle` telemetry (by the host). Nothing here stops a server from serving sync
 * traffic: a registry that cannot be opened or read, or a bus that cannot be reached, is logged and
 * the baselines answer.
 *
 * Stages get their policy's predictor from {@link predictor}; a policy with no champion has one
 * too, answered by its baseline until a model is promoted.
 */
export class ModelServing {
  /**
   * Opens the registry, starts following promotions and loads every champion (awaited, so the
   * first message already meets its model). Never rejects for an unreachable registry or bus.
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` when `resyncIntervalMs` is not an integer >= 0
   */
  static async start(opts: ModelServingOptions): Promise<ModelServing> {
    const resyncMs = opts.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    if (!Number.isSafeInteger(resyncMs) || resyncMs < 0) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `resyncIntervalMs must be an integer >= 0 (0: off), got ${resyncMs}`);
    }
    const logger = opts.logger ?? silentLogger;
    const root = opts.config.registry ?? join(opts.dataDir, 'models');
    let registry: ModelRegistry | null = null;
    try {
      // bus null: this process only reads; notices come from the bus opened below.
      registry = await ModelRegistry.open(root, { bus: null, logger });
    } catch (err) {
      const e = toSyncPilotError(err);
      logger.warn(`models: cannot open the registry at ${root}: ${e.code} ${e.message}; the baselines serve`, {
        registry: root,
        code: e.code,
      });
    }
    let bus: OpenedModelsBus | null = null;
    if (registry !== null) {
      try {
        bus = await openModelsBus(opts.config, registry.root, logger);
      } catch (err) {
        const e = toSyncPilotError(err);
        logger.warn(`models: cannot open the ${opts.config.bus} promotion bus: ${e.code} ${e.message}; promotions are not followed`, {
          code: e.code,
        });
      }
    }
    const serving = new ModelServing(opts, registry, bus, logger);
    await serving.#start(resyncMs);
    return serving;
  }

  /**
   * Model serving that is off: no registry, no bus; every predictor answers with its baseline.
   * What the embedded stack uses unless asked to serve models (the demo).
   */
  static off(): ModelServing {
    return new ModelServing({ config: { bus: 'file' }, dataDir: '' }, null, null, silentLogger);
  }

  /** The host itself: for what {@link predictor} does not cover (readiness of a policy, refreshes). */
  readonly host: ModelHost;
  /** The registry directory read, `null` when there is none (off, or it could not be opened). */
  readonly registryRoot: string | null;
  /** The bus promotions arrive on, `null` when none is followed. */
  readonly bus: ModelsBusKind | null;
  readonly #registry: ModelRegistry | null;
  readonly #bus: OpenedModelsBus | null;
  readonly #logger: Logger;
  readonly #overrides: Readonly<Partial<Record<Policy, HostedPredictorOptions>>>;
  readonly #predictors = new Map<Policy, Predictor>();
  readonly #reported = new WeakSet<RefreshReport>();
  readonly #last = new Map<Policy, { champion: ModelTag | null; shadows: string }>();
  /** Each policy's registry state as last read or announced (`stateKey`): what a resync compares with. */
  readonly #seen = new Map<Policy, string>();
  readonly #unsubscribe: (() => void) | undefined;
  #listening: Promise<void> = Promise.resolve();
  #resyncTimer: NodeJS.Timeout | undefined;
  #resyncing = false;
  #closed = false;

  private constructor(opts: ModelServingOptions, registry: ModelRegistry | null, bus: OpenedModelsBus | null, logger: Logger) {
    this.#registry = registry;
    this.#bus = bus;
    this.#logger = logger;
    this.#overrides = opts.predictors ?? {};
    this.registryRoot = registry?.root ?? null;
    this.bus = bus === null ? null : opts.config.bus;
    this.host = new ModelHost({
      registry: registry ?? NO_MODELS,
      runtime: opts.runtime ?? createAutoRuntime(),
      logger: hostLogger(logger),
      ...(opts.telemetry === undefined ? {} : { telemetry: opts.telemetry }),
    });
    // The host is given no bus: notices are handled here, so that each refresh they cause is reported.
    this.#unsubscribe = bus?.bus.subscribe((notice) => this.#onNotice(notice));
  }

  /**
   * The predictor of `policy`, created on first call with `options` (default: the policy's entry
   * in `POLICY_PREDICTOR_DEFAULTS`, or the `predictors` option); later calls return the same one.
   * It serves the policy's champion and follows promotions.
   * @throws SyncPilotError `SP_ERR_CLOSED` after close
   */
  predictor(policy: Policy, options?: HostedPredictorOptions): Predictor {
    const existing = this.#predictors.get(policy);
    if (existing !== undefined) return existing;
    const predictor = this.host.predictor(policy, options ?? this.#overrides[policy] ?? predictorDefaults(policy));
    this.#predictors.set(policy, predictor);
    this.#last.set(policy, { champion: null, shadows: '' });
    void this.#report(policy, this.host.refresh(policy));
    return predictor;
  }

  /** What every hosted policy serves now, in `POLICIES` order. */
  serving(): PolicyServing[] {
    return POLICIES.flatMap((policy) => {
      const p = this.#predictors.get(policy);
      if (p === undefined) return [];
      const s = p.stats();
      return [{ policy, champion: s.champion, shadows: s.shadows }];
    });
  }

  /**
   * Resolves once the bus listens and the registry was read again after that (so no promotion
   * made before is missed), or once listening failed (logged). Immediately without a bus.
   */
  listening(): Promise<void> {
    return this.#listening;
  }

  /** Stops following promotions, closes the predictors (requests queued are answered first), the bus and the registry. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    clearInterval(this.#resyncTimer);
    try {
      await this.host.close();
    } finally {
      try {
        await this.#bus?.bus.close();
      } finally {
        await this.#registry?.close();
      }
    }
  }

  async #start(resyncMs: number): Promise<void> {
    if (this.#registry === null) return;
    await this.#sync();
    if (this.#predictors.size === 0) this.#logger.info(`models: no champion in ${this.#registry.root}; the baselines serve`);
    if (resyncMs > 0) {
      this.#resyncTimer = setInterval(() => void this.#resync(), resyncMs);
      // A safety net, not work: the server's sockets decide how long the process lives.
      this.#resyncTimer.unref();
    }
    const bus = this.#bus;
    if (bus === null) return;
    // Not awaited: joining a Kafka group takes seconds, and sync traffic need not wait for it.
    this.#listening = bus.bus.ready().then(
      async () => {
        this.#logger.info(`models: following promotions on ${bus.describe}`, { bus: this.bus });
        if (!this.#closed) await this.#sync(); // what was promoted while the bus was connecting
      },
      (err: unknown) => {
        const e = toSyncPilotError(err);
        this.#logger.warn(`models: not following promotions on ${bus.describe} yet: ${e.code} ${e.message}`, { bus: this.bus });
      },
    );
    // A failure here must never become an unhandled rejection that ends the server.
    this.#listening = this.#listening.catch((err: unknown) =>
      this.#logger.warn('models: re-reading the registry failed', { error: toSyncPilotError(err).message }),
    );
  }

  /** Hosts every policy that has a champion and brings every hosted one up to date. */
  async #sync(): Promise<void> {
    const registry = this.#registry;
    if (registry === null) return;
    await Promise.all(
      POLICIES.map(async (policy) => {
        if (this.#predictors.has(policy)) return this.#report(policy, this.host.refresh(policy));
        let champion: number | null;
        try {
          const state = await registry.state(policy);
          champion = state.champion;
          this.#seen.set(policy, stateKey(state));
        } catch (err) {
          const e = toSyncPilotError(err);
          this.#logger.warn(`models: cannot read the registry state of ${policy}: ${e.code} ${e.message}; no model for it`, {
            policy,
            code: e.code,
          });
          return;
        }
        if (champion === null || this.#closed || this.#predictors.has(policy)) return;
        this.predictor(policy);
        await this.host.ready(policy);
      }),
    );
  }

  #onNotice(notice: PromotionNotice): void {
    if (this.#closed) return;
    this.#seen.set(notice.policy, stateKey(notice));
    this.#follow(notice.policy, notice.champion);
  }

  /** Brings a hosted policy up to date with the registry, or starts hosting one that has a champion now. */
  #follow(policy: Policy, champion: number | null): void {
    if (this.#predictors.has(policy)) void this.#report(policy, this.host.refresh(policy));
    else if (champion !== null) this.predictor(policy);
  }

  /**
   * Reads every policy's state and follows each one that changed since last seen: what a lost
   * notice would have done. Unchanged policies are not refreshed, so a refused model is not
   * loaded again every interval. One pass at a time.
   */
  async #resync(): Promise<void> {
    const registry = this.#registry;
    if (registry === null || this.#resyncing || this.#closed) return;
    this.#resyncing = true;
    try {
      await Promise.all(
        POLICIES.map(async (policy) => {
          let state: { readonly champion: number | null; readonly challengers: readonly number[] };
          try {
            state = await registry.state(policy);
          } catch (err) {
            // Reported by the next refresh that needs it; every interval would be too often.
            this.#logger.debug(`models: resync cannot read the registry state of ${policy}`, { error: toSyncPilotError(err).message });
            return;
          }
          const key = stateKey(state);
          if (this.#seen.get(policy) === key || this.#closed) return;
          this.#seen.set(policy, key);
          this.#logger.debug(`models: ${policy} changed in the registry with no notice seen; refreshing`, { policy });
          this.#follow(policy, state.champion);
        }),
      );
    } finally {
      this.#resyncing = false;
    }
  }

  /** One line per model that started serving and per model refused; a line when the shadows change. */
  async #report(policy: Policy, refresh: Promise<RefreshReport>): Promise<void> {
    const report = await refresh;
    // Refreshes requested while one is queued share it: report it once.
    if (this.#reported.has(report)) return;
    this.#reported.add(report);
    const predictor = this.#predictors.get(policy);
    const last = this.#last.get(policy);
    if (predictor === undefined || last === undefined) return;
    const { champion, shadows } = predictor.stats();
    const current = champion === null ? 'the baseline' : `v${champion.version}`;
    for (const r of report.refused) {
      this.#logger.warn(`models: refused ${policy} v${r.version}: ${r.code} ${r.message}, ${current} keeps serving`, {
        policy,
        version: r.version,
        code: r.code,
        serving: champion?.version ?? null,
      });
    }
    if (champion?.version !== last.champion?.version || champion?.name !== last.champion?.name) {
      const was = last.champion === null ? 'the baseline' : `v${last.champion.version}`;
      if (champion === null) {
        this.#logger.info(`models: ${policy} has no champion, the baseline serves (was ${was})`, {
          policy,
          previous: last.champion?.version,
        });
      } else {
        this.#logger.info(`models: ${policy}/${champion.name} v${champion.version} serving (was ${was})`, {
          policy,
          model: champion.name,
          version: champion.version,
          previous: last.champion?.version ?? null,
        });
      }
      last.champion = champion;
    }
    const shadowList = shadows.map((s) => `${s.name} v${s.version}`).join(', ');
    if (shadowList !== last.shadows) {
      this.#logger.info(`models: ${policy} challengers in shadow: ${shadowList === '' ? 'none' : shadowList}`, {
        policy,
        shadows: shadows.map((s) => s.version),
      });
      last.shadows = shadowList;
    }
  }
}

/**
 * The host's own per-load lines become debug detail: {@link ModelServing} reports each load and
 * refusal in one line of its own. Everything else the host says (an unreadable registry state, a
 * baseline that threw) passes through.
 */
function hostLogger(logger: Logger): Logger {
  return {
    debug: (m, f) => logger.debug(m, f),
    info: (m, f) => logger.debug(m, f),
    warn: (m, f) => (m.startsWith('model refused') ? logger.debug(m, f) : logger.warn(m, f)),
    error: (m, f) => logger.error(m, f),
  };
}

/** What a resync compares: the versions a policy serves, champion and challengers. */
function stateKey(state: { readonly champion: number | null; readonly challengers: readonly number[] }): string {
  return `${state.champion ?? '-'}|${state.challengers.join(',')}`;
}

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createAuthzStage } from '../auth/authz-stage.ts';
import { createVerifier } from '../auth/jwt-verifier.ts';
import type { ServerConfig } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { Stage } from '../core/stage.ts';
import { NullTelemetrySink, type TelemetrySink } from '../core/telemetry.ts';
import { binaryChangeCodec } from '../engine/protocol/change-codec.ts';
import type { EngineEnvelope } from '../engine/server/envelope.ts';
import { SyncServer } from '../engine/server/sync-server.ts';
import { SqliteDocStore } from '../engine/store/sqlite-store.ts';
import { SyncPilotError } from '../core/errors.ts';
import { EmbeddedLogSink } from '../telemetry/embedded-log-sink.ts';
import { KafkaSink } from '../telemetry/kafka/kafka-sink.ts';
import type { ModelServingConfig } from './model-serving-config.ts';
import { ModelServing } from './model-serving.ts';

export interface EmbeddedStack {
  readonly server: SyncServer;
  readonly store: SqliteDocStore;
  readonly telemetry: TelemetrySink;
  /** Where `telemetry` goes. */
  readonly telemetrySink: 'embedded' | 'kafka' | 'none';
  /**
   * The server's models: `models.predictor(policy)` is a policy's micro-batched predictor, on the
   * registry's champion (hot-swapped on promotion) or its baseline. Without
   * {@link StackOptions.models} it is off: every predictor answers with its baseline.
   */
  readonly models: ModelServing;
  close(): Promise<void>;
}

/** What a stage factory is given: the stack's parts that exist before the server starts. */
export interface StackContext {
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly telemetry: TelemetrySink;
  /** Where a policy's stage gets its predictor (`models.predictor('compression')`). */
  readonly models: ModelServing;
}

/** Makes the extra stages once the stack's telemetry and models are up. */
export type StageFactory = (ctx: StackContext) => readonly Stage<EngineEnvelope>[];

/** Telemetry choices made on the command line rather than in the configuration file. */
export interface StackTelemetryOptions {
  /**
   * Kafka bootstrap brokers: send telemetry to Kafka (topic per event type) instead of the
   * embedded log, spooling to `<dataDir>/telemetry-spool` while the broker is unreachable.
   */
  readonly kafkaBrokers?: readonly string[];
}

/** Options of {@link startEmbeddedStack}. */
export interface StackOptions extends StackTelemetryOptions {
  /**
   * Serve the model registry's champions (what `syncpilot serve` does), following promotions on
   * the configured bus. Default: off (the demo).
   */
  readonly models?: ModelServingConfig;
}

const BROKER = /^[^\s,]+:\d{1,5}$/;

/**
 * Parses a comma-separated broker list (`host:port,host:port`), e.g. from `--kafka`.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` naming `what` when an entry is not `host:port`
 */
export function parseBrokerList(value: string, what: string): string[] {
  const brokers = value
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const bad = brokers.find((b) => !BROKER.test(b));
  if (brokers.length === 0 || bad !== undefined) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `${what} must be host:port[,host:port...], got ${JSON.stringify(value)}`);
  }
  return brokers;
}

/** The env var naming Kafka brokers for `serve`, `demo` and `telemetry tail` when `--kafka` is absent. */
export const KAFKA_BROKERS_ENV = 'SYNCPILOT_KAFKA_BROKERS';

/**
 * The Kafka brokers chosen by `--kafka`, else by {@link KAFKA_BROKERS_ENV} (empty counts as
 * unset), else undefined: the embedded log.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for a malformed list
 */
export function kafkaBrokersFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string[] | undefined {
  if (flag !== undefined) return parseBrokerList(flag, '--kafka');
  const fromEnv = env[KAFKA_BROKERS_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : parseBrokerList(fromEnv, KAFKA_BROKERS_ENV);
}

/**
 * The embedded default: SQLite store and append-only telemetry log under `config.dataDir`, the
 * built-in auth stage, and the sync server. No Kafka or Redis needed; with
 * `options.kafkaBrokers` telemetry goes to Kafka instead of the embedded log; with
 * `options.models` the registry's champion models are served (`stack.models`). `extraStages` may
 * be a {@link StageFactory}, called once telemetry and models are up, so stages can take their
 * predictors.
 */
export async function startEmbeddedStack(
  config: ServerConfig,
  logger: Logger,
  extraStages: readonly Stage<EngineEnvelope>[] | StageFactory = [],
  options: StackOptions = {},
): Promise<EmbeddedStack> {
  mkdirSync(config.dataDir, { recursive: true });
  const store = SqliteDocStore.open({
    path: join(config.dataDir, 'syncpilot.db'),
    codec: binaryChangeCodec,
    durability: config.durability,
  });
  let telemetry: TelemetrySink;
  const brokers = options.kafkaBrokers;
  const telemetrySink = brokers !== undefined && brokers.length > 0 ? 'kafka' : config.telemetry.sink;
  try {
    if (telemetrySink === 'kafka') {
      telemetry = await KafkaSink.open({ brokers: brokers ?? [], spoolDir: join(config.dataDir, 'telemetry-spool'), logger });
    } else if (telemetrySink === 'embedded') {
      telemetry = await EmbeddedLogSink.open({ dir: join(config.dataDir, 'telemetry'), segmentBytes: config.telemetry.segmentBytes });
    } else {
      telemetry = new NullTelemetrySink();
    }
  } catch (err) {
    store.close();
    throw err;
  }
  let models: ModelServing | undefined;
  let server: SyncServer;
  try {
    // Models load before the server listens, so the first message already meets its model.
    models =
      options.models === undefined
        ? ModelServing.off()
        : await ModelServing.start({ config: options.models, dataDir: config.dataDir, telemetry, logger });
    const ctx: StackContext = { config, logger, telemetry, models };
    server = await SyncServer.start({
      config,
      store,
      stages: [createAuthzStage(), ...(typeof extraStages === 'function' ? extraStages(ctx) : extraStages)],
      authenticator: createVerifier(config.auth),
      telemetry,
      logger,
    });
  } catch (err) {
    try {
      await models?.close();
    } finally {
      await telemetry.close();
      store.close();
    }
    throw err;
  }
  const servedModels = models;
  return {
    server,
    store,
    telemetry,
    telemetrySink,
    models: servedModels,
    async close() {
      // Models stop after the traffic that may use them, and before telemetry, which carries their
      // last events; telemetry is flushed and the store closed even when an earlier step fails.
      try {
        await server.close();
      } finally {
        try {
          await servedModels.close();
        } finally {
          try {
            await telemetry.close();
          } finally {
            // Resolves once the checkpoint thread let go of the files too: the data dir can go.
            await store.closeFully();
          }
        }
      }
    },
  };
}

import { readFileSync } from 'node:fs';
import { parseServerConfig } from '../../core/config.ts';
import { SyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { intFlag } from '../args.ts';
import { commandFlags } from '../command-flags.ts';
import { kafkaBrokersFrom, startEmbeddedStack } from '../embedded-stack.ts';
import { MODELS_BUS_ENV, MODELS_REGISTRY_ENV, parseModelServingConfig, REDIS_URL_ENV } from '../model-serving-config.ts';

const USAGE = `Usage: syncpilot serve [options]
  --data-dir DIR     store and telemetry directory (default .syncpilot, env SYNCPILOT_DATA_DIR)
  --host HOST        listen address (default 127.0.0.1)
  --port PORT        listen port (default 4455, env SYNCPILOT_PORT)
  --config FILE      JSON configuration (see src/core/config.ts); flags override it
  --jwt-secret S     require HS256 JWTs signed with S (env SYNCPILOT_JWT_SECRET)
  --kafka BROKERS    send telemetry to Kafka (host:port[,...], env SYNCPILOT_KAFKA_BROKERS) instead of the
                     embedded log; spooled in DIR/telemetry-spool while the broker is unreachable
Models (the registry's champions are served and hot-swapped on promotion; the server never promotes):
  --models-registry DIR  the model registry (default DIR/models, env ${MODELS_REGISTRY_ENV})
  --models-bus BUS   where promotions arrive from: file (the registry's file watch, default), redis
                     (--redis) or kafka (--kafka); env ${MODELS_BUS_ENV}. Promote with the same bus:
                     syncpilot models promote ... [--redis URL | --kafka BROKERS]
  --redis URL        Redis for --models-bus redis (env ${REDIS_URL_ENV})
  A --config file may hold the same under "models": { "registry", "bus", "redisUrl", "kafkaBrokers" }.
`;

/** `syncpilot serve`: runs the sync server on embedded defaults until SIGINT / SIGTERM. */
export async function runServe(argv: readonly string[]): Promise<number> {
  const flags = commandFlags(
    argv,
    {
      'data-dir': { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      config: { type: 'string' },
      'jwt-secret': { type: 'string' },
      kafka: { type: 'string' },
      'models-registry': { type: 'string' },
      'models-bus': { type: 'string' },
      redis: { type: 'string' },
    },
    USAGE,
  );
  if (flags === undefined) return 0;
  let fileConfig: Record<string, unknown> = {};
  if (flags.config !== undefined) {
    try {
      fileConfig = JSON.parse(readFileSync(flags.config, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new SyncPilotError(
        'SP_ERR_CONFIG_INVALID',
        `cannot read --config ${flags.config}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
  const { models: modelsFileConfig, ...serverFileConfig } = fileConfig;
  const env = process.env;
  const secret = flags['jwt-secret'] ?? env.SYNCPILOT_JWT_SECRET;
  const portValue = flags.port ?? env.SYNCPILOT_PORT;
  const config = parseServerConfig({
    ...serverFileConfig,
    ...((flags['data-dir'] ?? env.SYNCPILOT_DATA_DIR) ? { dataDir: flags['data-dir'] ?? env.SYNCPILOT_DATA_DIR } : {}),
    ...(flags.host === undefined ? {} : { host: flags.host }),
    ...(portValue === undefined ? {} : { port: intFlag(portValue, 'port', 4455, 0) }),
    ...(secret === undefined ? {} : { auth: { mode: 'jwt', secret } }),
  });
  const kafkaBrokers = kafkaBrokersFrom(flags.kafka, env);
  const models = parseModelServingConfig({
    file: modelsFileConfig,
    flags: { bus: flags['models-bus'], redis: flags.redis, registry: flags['models-registry'] },
    kafkaBrokers,
    env,
  });
  const logger = createLogger(config.logLevel);
  const stack = await startEmbeddedStack(config, logger, [], { models, ...(kafkaBrokers === undefined ? {} : { kafkaBrokers }) });
  logger.info('syncpilot serving', {
    url: stack.server.url,
    dataDir: config.dataDir,
    auth: config.auth.mode,
    telemetry: stack.telemetrySink,
    ...(kafkaBrokers === undefined ? {} : { kafka: kafkaBrokers.join(',') }),
    models: stack.models.serving().map((s) => `${s.policy}${s.champion === null ? '' : ` v${s.champion.version}`}`),
    modelsBus: stack.models.bus,
  });
  if (config.auth.mode === 'none')
    logger.warn('authentication is off: every peer may read and write every document (set --jwt-secret for production)');
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  logger.info('shutting down');
  await stack.close();
  return 0;
}

import { z } from 'zod';
import { SyncPilotError } from '../core/errors.ts';

/** The env var choosing the promotion bus of `serve` when `--models-bus` is absent. */
export const MODELS_BUS_ENV = 'SYNCPILOT_MODELS_BUS';
/** The env var naming the registry directory of `serve` when `--models-registry` is absent. */
export const MODELS_REGISTRY_ENV = 'SYNCPILOT_MODELS_REGISTRY';
/** The env var naming Redis when `--redis` is absent (as `worker` and `pipeline` read it). */
export const REDIS_URL_ENV = 'SYNCPILOT_REDIS_URL';

/** How a server learns about promotions: the registry's file watch, Redis pub/sub, or the Kafka topic. */
export type ModelsBusKind = 'file' | 'redis' | 'kafka';

/**
 * Model serving of `syncpilot serve`: the `models` object of the `--config` file, overridden by
 * env vars and flags. Strict: an unknown key is an error.
 */
export const modelServingConfigSchema = z
  .strictObject({
    /** The registry directory. Default `<dataDir>/models`. Only read: the server never promotes. */
    registry: z.string().min(1).optional(),
    /**
     * Where promotions arrive from (default `file`: the registry directory's file watch, for
     * every process on this machine). Must match what `syncpilot models promote` announces on.
     */
    bus: z.enum(['file', 'redis', 'kafka']).default('file'),
    /** Redis for `bus: redis` (`redis://` or `rediss://`). */
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\/\S+$/, 'a redis:// or rediss:// URL')
      .optional(),
    /** Kafka bootstrap brokers for `bus: kafka` (the same brokers telemetry goes to). */
    kafkaBrokers: z
      .array(z.string().regex(/^[^\s,]+:\d{1,5}$/, 'host:port'))
      .min(1)
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (c.bus === 'redis' && c.redisUrl === undefined) {
      ctx.addIssue({ code: 'custom', path: ['redisUrl'], message: `the redis bus needs --redis URL (or ${REDIS_URL_ENV})` });
    }
    if (c.bus === 'kafka' && c.kafkaBrokers === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['kafkaBrokers'],
        message: 'the kafka bus needs --kafka BROKERS (or SYNCPILOT_KAFKA_BROKERS)',
      });
    }
  });

/** A parsed {@link modelServingConfigSchema}. */
export type ModelServingConfig = Readonly<z.output<typeof modelServingConfigSchema>>;

/** Where each model-serving setting of `serve` may come from; later sources win (file < env < flags). */
export interface ModelServingSources {
  /** The `models` value of the `--config` file, unparsed (undefined: absent). */
  readonly file?: unknown;
  readonly flags?: {
    readonly bus?: string | undefined;
    readonly redis?: string | undefined;
    readonly registry?: string | undefined;
  };
  /** Brokers already chosen by `--kafka` / `SYNCPILOT_KAFKA_BROKERS` (they also carry telemetry). */
  readonly kafkaBrokers?: readonly string[] | undefined;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Merges and parses the model-serving settings once, at the edge.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` listing every problem (unknown bus, a bus without
 * its address, a malformed URL or broker, a `models` config value that is not an object)
 */
export function parseModelServingConfig(sources: ModelServingSources = {}): ModelServingConfig {
  const env = sources.env ?? {};
  const file = sources.file ?? {};
  if (typeof file !== 'object' || file === null || Array.isArray(file)) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'invalid configuration: models: expected an object');
  }
  const pick = (flag: string | undefined, envName: string): string | undefined => {
    if (flag !== undefined) return flag;
    const v = env[envName];
    return v === undefined || v === '' ? undefined : v;
  };
  const bus = pick(sources.flags?.bus, MODELS_BUS_ENV);
  const redisUrl = pick(sources.flags?.redis, REDIS_URL_ENV);
  const registry = pick(sources.flags?.registry, MODELS_REGISTRY_ENV);
  const input = {
    ...file,
    ...(bus === undefined ? {} : { bus }),
    ...(redisUrl === undefined ? {} : { redisUrl }),
    ...(registry === undefined ? {} : { registry }),
    ...(sources.kafkaBrokers === undefined ? {} : { kafkaBrokers: [...sources.kafkaBrokers] }),
  };
  const parsed = modelServingConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `models.${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid configuration: ${problems}`, { details: { issues: parsed.error.issues } });
  }
  return Object.freeze(parsed.data);
}

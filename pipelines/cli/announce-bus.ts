import { SyncPilotError } from '../../src/core/errors.ts';
import type { Logger } from '../../src/core/logger.ts';
import type { PromotionBus } from '../../src/ml/registry/promotion-bus.ts';

/** Where a command announces promotions: the registry's file watch (default), Redis pub/sub or Kafka. */
export type AnnounceKind = 'file' | 'redis' | 'kafka';

/**
 * The promotion bus for `--announce` (`undefined` for `file`: the registry makes its own file
 * watch bus on its directory). Servers must listen on the same kind of bus.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for an unknown kind, or Redis / Kafka without an address
 */
export async function openAnnounceBus(
  kind: string,
  where: { readonly redisUrl?: string | undefined; readonly kafkaBrokers?: readonly string[] | undefined; readonly logger?: Logger },
): Promise<PromotionBus | undefined> {
  switch (kind) {
    case 'file':
      return undefined;
    case 'redis': {
      if (where.redisUrl === undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', '--announce redis needs --redis URL');
      const { RedisPromotionBus } = await import('../../src/ml/registry/redis-bus.ts');
      return new RedisPromotionBus({ url: where.redisUrl, ...(where.logger === undefined ? {} : { logger: where.logger }) });
    }
    case 'kafka': {
      if (where.kafkaBrokers === undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', '--announce kafka needs --kafka BROKERS');
      const { KafkaPromotionBus } = await import('../../src/ml/registry/kafka-bus.ts');
      return new KafkaPromotionBus({ brokers: where.kafkaBrokers, ...(where.logger === undefined ? {} : { logger: where.logger }) });
    }
    default:
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `--announce must be file, redis or kafka, not "${kind}"`);
  }
}

/** `--redis`, else `SYNCPILOT_REDIS_URL`, else undefined. */
export function redisUrlFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const v = flag ?? env.SYNCPILOT_REDIS_URL;
  return v === undefined || v === '' ? undefined : v;
}

import type { Logger } from '../core/logger.ts';
import { FileWatchBus } from '../ml/registry/file-watch-bus.ts';
import type { ObservablePromotionBus } from '../ml/registry/promotion-bus.ts';
import type { ModelServingConfig } from './model-serving-config.ts';

/** A bus and how to name it in a log line. */
export interface OpenedModelsBus {
  readonly bus: ObservablePromotionBus;
  readonly describe: string;
}

/**
 * The bus a server follows promotions on, as `config.bus` says (Redis and Kafka buses are imported
 * on demand, so the file default loads neither client). Connects nothing yet: listening starts
 * with the first subscription.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` from the bus's options
 */
export async function openModelsBus(config: ModelServingConfig, root: string, logger: Logger): Promise<OpenedModelsBus> {
  switch (config.bus) {
    case 'file': {
      return { bus: new FileWatchBus({ root, logger }), describe: `the file watch of ${root}` };
    }
    case 'redis': {
      const { RedisPromotionBus } = await import('../ml/registry/redis-bus.ts');
      const bus = new RedisPromotionBus({ ...(config.redisUrl === undefined ? {} : { url: config.redisUrl }), logger });
      return { bus, describe: `Redis ${redactUrl(config.redisUrl ?? '')} channel ${bus.channel}` };
    }
    case 'kafka': {
      const { KafkaPromotionBus } = await import('../ml/registry/kafka-bus.ts');
      const bus = new KafkaPromotionBus({ brokers: config.kafkaBrokers ?? [], logger });
      return { bus, describe: `Kafka ${(config.kafkaBrokers ?? []).join(',')} topic ${bus.topic}` };
    }
  }
}

/** A Redis URL fit for a log line: without its password. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'redis';
  }
}

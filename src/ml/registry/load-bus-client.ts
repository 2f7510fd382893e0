import type { Redis as RedisClass } from 'ioredis';
import { loadOptional } from '../../core/load-optional.ts';
import { loadKafkaJs, type KafkaJsModule } from '../../telemetry/kafka/load-kafkajs.ts';

/** The ioredis client class. */
export type RedisConstructor = typeof RedisClass;

/** What the distributed promotion buses need installed. */
export const BUS_INSTALL_HINT = {
  ioredis: 'the Redis promotion bus needs the optional dependency ioredis: npm install ioredis@^5',
  kafkajs: 'the Kafka promotion bus needs the optional dependency kafkajs: npm install kafkajs@^2.2.4',
} as const;

/**
 * Loads ioredis on first use, so importing the registry never does.
 * @param importer how to import it (tests substitute a failing one)
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` with an install hint when it is missing or unusable
 */
export function loadIoredis(importer?: () => Promise<unknown>): Promise<RedisConstructor> {
  return loadOptional('ioredis', BUS_INSTALL_HINT.ioredis, {
    importer,
    exportName: 'Redis class',
    pick: (mod) => {
      const candidate = (mod as { Redis?: unknown; default?: unknown } | null)?.Redis ?? (mod as { default?: unknown } | null)?.default;
      return typeof candidate === 'function' ? (candidate as RedisConstructor) : undefined;
    },
  });
}

/**
 * Loads kafkajs on first use.
 * @param importer how to import it (tests substitute a failing one)
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` with an install hint when it is missing or unusable
 */
export function loadKafkaJsForBus(importer?: () => Promise<unknown>): Promise<KafkaJsModule> {
  return loadKafkaJs(importer, BUS_INSTALL_HINT.kafkajs);
}

import type * as KafkaJs from 'kafkajs';
import type { Redis as RedisClass } from 'ioredis';
import { SyncPilotError } from '../../core/errors.ts';

/** The ioredis client class. */
export type RedisConstructor = typeof RedisClass;
/** The kafkajs module. */
export type KafkaJsModule = typeof KafkaJs;

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
export async function loadIoredis(importer: () => Promise<unknown> = () => import('ioredis')): Promise<RedisConstructor> {
  const mod = await importOptional('ioredis', importer);
  const candidate = (mod as { Redis?: unknown; default?: unknown } | null)?.Redis ?? (mod as { default?: unknown } | null)?.default;
  if (typeof candidate !== 'function') {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `ioredis loaded but exports no Redis class; ${BUS_INSTALL_HINT.ioredis}`);
  }
  return candidate as RedisConstructor;
}

/**
 * Loads kafkajs on first use.
 * @param importer how to import it (tests substitute a failing one)
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` with an install hint when it is missing or unusable
 */
export async function loadKafkaJsForBus(importer: () => Promise<unknown> = () => import('kafkajs')): Promise<KafkaJsModule> {
  const mod = await importOptional('kafkajs', importer);
  // kafkajs is CommonJS: its exports arrive as `default` (and usually as named exports too).
  const candidate = (mod as { default?: unknown } | null)?.default ?? mod;
  if (typeof (candidate as { Kafka?: unknown } | null)?.Kafka !== 'function') {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `kafkajs loaded but exports no Kafka class; ${BUS_INSTALL_HINT.kafkajs}`);
  }
  return candidate as KafkaJsModule;
}

async function importOptional(name: keyof typeof BUS_INSTALL_HINT, importer: () => Promise<unknown>): Promise<unknown> {
  try {
    return await importer();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    const hint = BUS_INSTALL_HINT[name];
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', missing ? hint : `${name} failed to load (${String(err)}); ${hint}`, { cause: err });
  }
}

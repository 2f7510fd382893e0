import type * as KafkaJs from 'kafkajs';
import { SyncPilotError } from '../../core/errors.ts';

/** The kafkajs module, as loaded by {@link loadKafkaJs}. */
export type KafkaJsModule = typeof KafkaJs;

/** What to tell someone whose install lacks the optional dependency. */
export const KAFKAJS_INSTALL_HINT = 'the Kafka telemetry sink needs the optional dependency kafkajs: npm install kafkajs@^2.2.4';

/**
 * Loads kafkajs on first use, so importing syncpilot (or its embedded sink) never does.
 * @param importer how to import it (tests substitute a failing one)
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` with an install hint when kafkajs is missing or unusable
 */
export async function loadKafkaJs(importer: () => Promise<unknown> = () => import('kafkajs')): Promise<KafkaJsModule> {
  let mod: unknown;
  try {
    mod = await importer();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw new SyncPilotError(
      'SP_ERR_CONFIG_INVALID',
      missing ? KAFKAJS_INSTALL_HINT : `kafkajs failed to load (${String(err)}); ${KAFKAJS_INSTALL_HINT}`,
      {
        cause: err,
      },
    );
  }
  // kafkajs is CommonJS: its exports arrive as `default` (and usually as named exports too).
  const candidate = (mod as { default?: unknown } | null)?.default ?? mod;
  if (typeof (candidate as { Kafka?: unknown } | null)?.Kafka !== 'function') {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `kafkajs loaded but exports no Kafka class; ${KAFKAJS_INSTALL_HINT}`);
  }
  return candidate as KafkaJsModule;
}

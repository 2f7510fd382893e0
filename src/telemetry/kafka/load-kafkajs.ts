import type * as KafkaJs from 'kafkajs';
import { loadOptional } from '../../core/load-optional.ts';

/** The kafkajs module, as loaded by {@link loadKafkaJs}. */
export type KafkaJsModule = typeof KafkaJs;

/** What to tell someone whose install lacks the optional dependency. */
export const KAFKAJS_INSTALL_HINT = 'the Kafka telemetry sink needs the optional dependency kafkajs: npm install kafkajs@^2.2.4';

/**
 * Loads kafkajs on first use, so importing syncpilot (or its embedded sink) never does.
 * @param importer how to import it (tests substitute a failing one)
 * @param installHint what the error says to do (default {@link KAFKAJS_INSTALL_HINT}; other users of kafkajs name themselves)
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` with an install hint when kafkajs is missing or unusable
 */
export function loadKafkaJs(importer?: () => Promise<unknown>, installHint = KAFKAJS_INSTALL_HINT): Promise<KafkaJsModule> {
  return loadOptional('kafkajs', installHint, {
    importer,
    exportName: 'Kafka class',
    pick: (mod) => {
      // kafkajs is CommonJS: its exports arrive as `default` (and usually as named exports too).
      const candidate = (mod as { default?: unknown } | null)?.default ?? mod;
      return typeof (candidate as { Kafka?: unknown } | null)?.Kafka === 'function' ? (candidate as KafkaJsModule) : undefined;
    },
  });
}

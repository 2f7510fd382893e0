import type { Kafka, LogEntry, RetryOptions } from 'kafkajs';
import type { Logger } from '../../core/logger.ts';
import type { KafkaJsModule } from './load-kafkajs.ts';

/** Options of {@link createKafkaClient}. */
export interface KafkaClientOptions {
  readonly clientId: string;
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  /** Socket request timeout; connecting may take at most this, and never more than 3 s. */
  readonly requestTimeoutMs: number;
  /** How kafkajs retries a request before it gives up (the caller reports what it gives up on). */
  readonly retry: RetryOptions;
  /** Receives kafkajs' own log lines, as debug detail. */
  readonly logger: Logger;
}

/**
 * A kafkajs client as every syncpilot component makes it: kafkajs logs at WARN and above only, and
 * its lines (every failed connection attempt among them) become debug lines of `logger`, because
 * the component reports a failure once, with its code.
 */
export function createKafkaClient(k: KafkaJsModule, options: KafkaClientOptions): Kafka {
  const { logger } = options;
  return new k.Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: Math.min(3000, options.requestTimeoutMs),
    requestTimeout: options.requestTimeoutMs,
    retry: options.retry,
    logLevel: k.logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, timestamp: _t, ...fields } = entry.log;
      logger.debug(`kafkajs: ${message}`, { namespace: entry.namespace, ...fields });
    },
  });
}

import { join } from 'node:path';
import type { Logger } from '../../src/core/logger.ts';
import type { TelemetrySink } from '../../src/core/telemetry.ts';

/**
 * The sink a pipeline command reports model lifecycle events (trained, evaluated, promoted) to:
 * Kafka when brokers are given, spooling to `<dataDir>/pipeline-spool` while the broker is away.
 * Without Kafka there is none: the embedded log has one writer per directory, and that writer
 * is the server (a pipeline holding the lock would keep `serve` from starting). The registry's
 * history and the server's own `loaded` events still record every change.
 * @throws SyncPilotError from `KafkaSink.open` (bad options)
 */
export async function openPipelineTelemetry(
  dataDir: string,
  kafkaBrokers: readonly string[] | undefined,
  logger: Logger,
): Promise<TelemetrySink | undefined> {
  if (kafkaBrokers === undefined) return undefined;
  const { KafkaSink } = await import('../../src/telemetry/kafka/kafka-sink.ts');
  return KafkaSink.open({ brokers: [...kafkaBrokers], spoolDir: join(dataDir, 'pipeline-spool'), logger });
}

/** `--data-dir`, else `SYNCPILOT_DATA_DIR`, else `.syncpilot` (as `serve` does). */
export function dataDirFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? (env.SYNCPILOT_DATA_DIR !== undefined && env.SYNCPILOT_DATA_DIR !== '' ? env.SYNCPILOT_DATA_DIR : '.syncpilot');
}

import { createLogger, type Logger, type LogLevel } from '../core/logger.ts';
import type { TelemetrySink } from '../core/telemetry.ts';
import type { PromotionBus } from '../ml/registry/promotion-bus.ts';
import { openAnnounceBus } from '../../pipelines/cli/announce-bus.ts';
import { dataDirFrom, openPipelineTelemetry } from '../../pipelines/cli/pipeline-telemetry.ts';
import { createPipelineDeps, type OwnedPipelineDeps } from '../../pipelines/default-deps.ts';
import { kafkaBrokersFrom } from './embedded-stack.ts';

/** Options of {@link openPipelineContext}: the flags every pipeline command shares. */
export interface PipelineContextOptions {
  /** `--data-dir` (else `SYNCPILOT_DATA_DIR`, else `.syncpilot`). */
  readonly dataDir: string | undefined;
  /** `--kafka` (else `SYNCPILOT_KAFKA_BROKERS`): model lifecycle events, and the telemetry label cycles read. */
  readonly kafka: string | undefined;
  readonly logLevel: LogLevel;
  /** Announce promotions on this `--announce` kind (`file`, `redis`, `kafka`); absent: the registry's file watch. */
  readonly announce?: { readonly kind: string; readonly redisUrl: string | undefined } | undefined;
}

/** What a pipeline command (`train`, `worker`, `pipeline`) runs its jobs with. */
export interface PipelineContext {
  readonly dataDir: string;
  readonly kafkaBrokers: readonly string[] | undefined;
  readonly logger: Logger;
  /** The job functions' dependencies: registry under `dataDir`, trainer, telemetry, labels. */
  readonly deps: OwnedPipelineDeps;
  /**
   * Closes the deps (the registry), then the telemetry sink (flushing it), then the announce bus:
   * each of them even when one before failed. Rejects with the first failure.
   */
  close(): Promise<void>;
}

/**
 * Resolves the data directory and brokers, makes the logger, opens the announce bus (when asked)
 * and the lifecycle telemetry sink (with Kafka), and builds the pipeline deps over them.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for a bad `--announce` or `--kafka`; what
 * `KafkaSink.open` throws. Whatever was opened before a failure is closed.
 */
export async function openPipelineContext(options: PipelineContextOptions): Promise<PipelineContext> {
  const dataDir = dataDirFrom(options.dataDir, process.env);
  const kafkaBrokers = kafkaBrokersFrom(options.kafka, process.env);
  const logger = createLogger(options.logLevel);
  const announce = options.announce;
  const bus: PromotionBus | undefined =
    announce === undefined ? undefined : await openAnnounceBus(announce.kind, { redisUrl: announce.redisUrl, kafkaBrokers, logger });
  let telemetry: TelemetrySink | undefined;
  try {
    telemetry = await openPipelineTelemetry(dataDir, kafkaBrokers, logger);
  } catch (err) {
    await bus?.close();
    throw err;
  }
  const deps = createPipelineDeps({
    dataDir,
    logger,
    ...(bus === undefined ? {} : { bus }),
    ...(telemetry === undefined ? {} : { telemetry }),
    // Label cycles read their rows from the same telemetry the triggers counted.
    ...(kafkaBrokers === undefined ? {} : { kafkaBrokers }),
  });
  return {
    dataDir,
    kafkaBrokers,
    logger,
    deps,
    async close() {
      const failures: unknown[] = [];
      for (const close of [() => deps.close(), async () => telemetry?.close(), async () => bus?.close()]) {
        await close().catch((err: unknown) => failures.push(err));
      }
      if (failures.length > 0) throw failures[0];
    },
  };
}

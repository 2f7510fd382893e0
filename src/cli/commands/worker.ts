import { hostname } from 'node:os';
import { SyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import { openAnnounceBus, redisUrlFrom } from '../../../pipelines/cli/announce-bus.ts';
import { dataDirFrom, openPipelineTelemetry } from '../../../pipelines/cli/pipeline-telemetry.ts';
import { PIPELINE_STEPS, type PipelineStep } from '../../../pipelines/bullmq/queue-config.ts';
import { startPipelineWorkers } from '../../../pipelines/bullmq/pipeline-workers.ts';
import { createPipelineDeps } from '../../../pipelines/default-deps.ts';
import { intFlag, parseFlags } from '../args.ts';
import { kafkaBrokersFrom } from '../embedded-stack.ts';

const USAGE = `Usage: syncpilot worker --redis URL [options]
  Runs BullMQ workers of the retraining pipeline (train → evaluate → promote, and scheduled
  requests) until SIGINT / SIGTERM. Run as many as you like; a job whose worker dies is taken
  over by another after its lock expires. Every worker must see the same registry directory.
  --redis URL        Redis holding the queues (env SYNCPILOT_REDIS_URL)
  --prefix P         queue key prefix (default syncpilot)
  --steps LIST       which queues to serve: train,evaluate,promote,trigger (default all)
  --lock-ms N        lock of a train job; a dead worker's job is retried after it (default 60000)
  --data-dir DIR     registry (DIR/models) and job records (default .syncpilot, env SYNCPILOT_DATA_DIR)
  --announce KIND    where promotions are announced: file (the registry directory, default),
                     redis (this --redis) or kafka (--kafka)
  --kafka BROKERS    Kafka for --announce kafka and model lifecycle events (env SYNCPILOT_KAFKA_BROKERS)
`;

/** `syncpilot worker`: BullMQ workers for the retraining pipeline. */
export async function runWorker(argv: readonly string[]): Promise<number> {
  const flags = parseFlags(
    argv,
    {
      redis: { type: 'string' },
      prefix: { type: 'string' },
      steps: { type: 'string' },
      'lock-ms': { type: 'string' },
      'data-dir': { type: 'string' },
      announce: { type: 'string' },
      kafka: { type: 'string' },
      help: { type: 'boolean' },
    },
    USAGE,
  );
  if (flags.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const redisUrl = redisUrlFrom(flags.redis, process.env);
  if (redisUrl === undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `worker needs --redis URL\n\n${USAGE}`);
  const steps = parseSteps(flags.steps);
  const lockMs = intFlag(flags['lock-ms'], 'lock-ms', 60_000, 1000);
  const dataDir = dataDirFrom(flags['data-dir'], process.env);
  const kafkaBrokers = kafkaBrokersFrom(flags.kafka, process.env);
  const logger = createLogger('info');
  const bus = await openAnnounceBus(flags.announce ?? 'file', { redisUrl, kafkaBrokers, logger });
  const telemetry = await openPipelineTelemetry(dataDir, kafkaBrokers, logger);
  const deps = createPipelineDeps({
    dataDir,
    logger,
    ...(bus === undefined ? {} : { bus }),
    ...(telemetry === undefined ? {} : { telemetry }),
    // Label cycles read their rows from the same telemetry the triggers counted.
    ...(kafkaBrokers === undefined ? {} : { kafkaBrokers }),
  });
  const workers = await startPipelineWorkers({
    redisUrl,
    deps,
    steps,
    name: `${hostname()}:${process.pid}`,
    stall: { train: { lockDuration: lockMs, stalledInterval: Math.max(500, Math.round(lockMs / 2)) } },
    ...(flags.prefix === undefined ? {} : { prefix: flags.prefix }),
  });
  logger.info('pipeline worker running', { steps, dataDir, queues: flags.prefix ?? 'syncpilot' });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info('pipeline worker stopping: finishing the jobs in progress');
  await workers.close();
  await deps.close();
  await telemetry?.close();
  await bus?.close();
  return 0;
}

function parseSteps(value: string | undefined): (PipelineStep | 'trigger')[] {
  const all = [...PIPELINE_STEPS, 'trigger'] as const;
  if (value === undefined) return [...all];
  const steps = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = steps.find((s) => !(all as readonly string[]).includes(s));
  if (bad !== undefined || steps.length === 0) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `--steps takes ${all.join(',')}, got "${value}"`);
  }
  return steps as (PipelineStep | 'trigger')[];
}

import { hostname } from 'node:os';
import { SyncPilotError } from '../../core/errors.ts';
import { redisUrlFrom } from '../../../pipelines/cli/announce-bus.ts';
import { PIPELINE_STEPS, type PipelineStep } from '../../../pipelines/bullmq/queue-config.ts';
import { startPipelineWorkers } from '../../../pipelines/bullmq/pipeline-workers.ts';
import { intFlag } from '../args.ts';
import { commandFlags } from '../command-flags.ts';
import { openPipelineContext } from '../pipeline-context.ts';

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
  const flags = commandFlags(
    argv,
    {
      redis: { type: 'string' },
      prefix: { type: 'string' },
      steps: { type: 'string' },
      'lock-ms': { type: 'string' },
      'data-dir': { type: 'string' },
      announce: { type: 'string' },
      kafka: { type: 'string' },
    },
    USAGE,
  );
  if (flags === undefined) return 0;
  const redisUrl = redisUrlFrom(flags.redis, process.env);
  if (redisUrl === undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `worker needs --redis URL\n\n${USAGE}`);
  const steps = parseSteps(flags.steps);
  const lockMs = intFlag(flags['lock-ms'], 'lock-ms', 60_000, 1000);
  const ctx = await openPipelineContext({
    dataDir: flags['data-dir'],
    kafka: flags.kafka,
    logLevel: 'info',
    announce: { kind: flags.announce ?? 'file', redisUrl },
  });
  const { dataDir, logger, deps } = ctx;
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
  await ctx.close();
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

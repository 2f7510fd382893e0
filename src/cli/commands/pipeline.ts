import { join } from 'node:path';
import { SyncPilotError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { isPolicy, POLICIES, type Policy } from '../../ml/policy.ts';
import { EmbeddedTelemetrySource } from '../../telemetry/source/embedded-telemetry-source.ts';
import { dedupe } from '../../telemetry/source/deduper.ts';
import { KafkaTelemetrySource } from '../../telemetry/source/kafka-telemetry-source.ts';
import type { TelemetrySource } from '../../telemetry/source/telemetry-source.ts';
import { redisUrlFrom } from '../../../pipelines/cli/announce-bus.ts';
import { BullmqPipeline } from '../../../pipelines/bullmq/bullmq-pipeline.ts';
import type { EnqueueResult, PipelineEnqueuer } from '../../../pipelines/jobs/cycle-steps.ts';
import type { TrainRequestInput } from '../../../pipelines/jobs/job-schemas.ts';
import { InProcessRunner } from '../../../pipelines/runner/in-process.ts';
import { DriftTrigger } from '../../../pipelines/triggers/drift-trigger.ts';
import { DEFAULT_LABELS, LabelTrigger } from '../../../pipelines/triggers/label-trigger.ts';
import { startScheduleTrigger } from '../../../pipelines/triggers/schedule-trigger.ts';
import { runTelemetryTriggers, type TelemetryTrigger } from '../../../pipelines/triggers/telemetry-trigger.ts';
import { intFlag, numberFlag } from '../args.ts';
import { commandFlags } from '../command-flags.ts';
import { openPipelineContext } from '../pipeline-context.ts';

const USAGE = `Usage: syncpilot pipeline [options]
  Watches telemetry and retrains a policy's model after N new labels, on drift, and on a schedule;
  each retraining is a train → evaluate → promote cycle. With --redis the cycles go to the BullMQ
  queues (run 'syncpilot worker'); without, they run in this process. Runs until SIGINT / SIGTERM.
  --policy P         ${POLICIES.join(' | ')} (default compression)
  --labels N         retrain after every N new labels (default 500; 0: off)
  --every S          also retrain every S seconds (a cycle only trains when its data changed)
  --drift F.FIELD    retrain when the distribution of a numeric field of family F drifts,
                     e.g. compression.rawBytes (population stability index over tumbling windows)
  --drift-threshold X  PSI that counts as drift (default 0.2)
  --drift-window N   values per window (default 500)
  --data PATH, --seed N, --epochs N, --margin M   what each cycle trains on and the gate's margin
  --redis URL        enqueue on BullMQ in this Redis (env SYNCPILOT_REDIS_URL); --prefix P its key prefix
  --kafka BROKERS    read telemetry from Kafka (env SYNCPILOT_KAFKA_BROKERS); default the embedded
                     log in DIR/telemetry
  --from-beginning   count labels already in the telemetry (default: only new ones)
  --announce KIND    in-process mode: announce promotions by file (default), redis or kafka
  --data-dir DIR     registry, job records and trigger state (default .syncpilot, env SYNCPILOT_DATA_DIR)
`;

/** `syncpilot pipeline`: the retraining triggers. */
export async function runPipeline(argv: readonly string[]): Promise<number> {
  const flags = commandFlags(
    argv,
    {
      policy: { type: 'string' },
      labels: { type: 'string' },
      every: { type: 'string' },
      drift: { type: 'string' },
      'drift-threshold': { type: 'string' },
      'drift-window': { type: 'string' },
      data: { type: 'string' },
      seed: { type: 'string' },
      epochs: { type: 'string' },
      margin: { type: 'string' },
      redis: { type: 'string' },
      prefix: { type: 'string' },
      kafka: { type: 'string' },
      'from-beginning': { type: 'boolean' },
      announce: { type: 'string' },
      'data-dir': { type: 'string' },
    },
    USAGE,
  );
  if (flags === undefined) return 0;
  const policy = flags.policy ?? 'compression';
  if (!isPolicy(policy))
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `unknown policy "${policy}"; expected one of ${POLICIES.join(', ')}`);
  const labels = intFlag(flags.labels, 'labels', 500, 0);
  const everyS = numberFlag(flags.every, 'every');
  const drift = flags.drift === undefined ? undefined : parseDrift(flags.drift);
  const margin = numberFlag(flags.margin, 'margin');
  const request: Omit<TrainRequestInput, 'trigger'> = {
    policy,
    ...(flags.data === undefined ? {} : { data: flags.data }),
    ...(flags.seed === undefined ? {} : { seed: intFlag(flags.seed, 'seed', 1, 0) }),
    ...(flags.epochs === undefined ? {} : { epochs: intFlag(flags.epochs, 'epochs', 1) }),
    ...(margin === undefined ? {} : { margin }),
  };
  if (labels === 0 && everyS === undefined && drift === undefined) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'no trigger: give --labels N, --every S or --drift F.FIELD');
  }
  const redisUrl = redisUrlFrom(flags.redis, process.env);
  const ctx = await openPipelineContext({
    dataDir: flags['data-dir'],
    kafka: flags.kafka,
    logLevel: 'info',
    // With BullMQ the workers promote, and announce.
    announce: redisUrl === undefined ? { kind: flags.announce ?? 'file', redisUrl } : undefined,
  });
  const { dataDir, kafkaBrokers, logger, deps } = ctx;
  const closers: (() => Promise<void>)[] = [() => ctx.close()];
  try {
    let enqueuer: PipelineEnqueuer;
    let report: (r: EnqueueResult) => void = () => undefined;
    if (redisUrl !== undefined) {
      const bull = await BullmqPipeline.open({ redisUrl, deps, ...(flags.prefix === undefined ? {} : { prefix: flags.prefix }) });
      closers.unshift(() => bull.close());
      enqueuer = bull;
      if (everyS !== undefined) await bull.schedule(`retrain-${policy}`, everyS * 1000, request);
    } else {
      const runner = new InProcessRunner({ deps });
      closers.unshift(() => runner.close());
      enqueuer = runner;
      report = (r) =>
        void runner.result(r.jobId).then(
          (c) => logCycle(logger, c),
          (err: unknown) => logger.error('retraining failed', { jobId: r.jobId, error: String(err) }),
        );
      if (everyS !== undefined) {
        const stop = startScheduleTrigger({ enqueuer, everyMs: everyS * 1000, request, logger });
        closers.unshift(async () => stop());
      }
    }
    const triggers: TelemetryTrigger[] = [];
    if (labels > 0) {
      triggers.push(
        new LabelTrigger({
          policy,
          enqueuer,
          threshold: labels,
          request,
          stateFile: join(dataDir, 'pipelines', 'triggers', `labels-${policy}.json`),
          logger,
          onEnqueued: (r) => (r.duplicate ? undefined : report(r)),
        }),
      );
    }
    if (drift !== undefined) {
      triggers.push(
        new DriftTrigger({
          policy,
          enqueuer,
          families: [drift.family],
          name: `${drift.family}.${drift.field}`,
          value: (e) => {
            if (!e.type.startsWith(`syncpilot.${drift.family}.v`)) return undefined;
            const v = (e.data as Readonly<Record<string, unknown>>)[drift.field];
            return typeof v === 'number' ? v : undefined;
          },
          detector: { kind: 'psi', threshold: numberFlag(flags['drift-threshold'], 'drift-threshold') ?? 0.2 },
          window: intFlag(flags['drift-window'], 'drift-window', 500, 10),
          request,
          logger,
          onEnqueued: (r) => (r.duplicate ? undefined : report(r)),
        }),
      );
    }
    const ctrl = new AbortController();
    const stop = (): void => ctrl.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    logger.info('pipeline watching telemetry', {
      policy,
      labels: labels === 0 ? 'off' : `${labels} (${DEFAULT_LABELS[policy].families.join(',')})`,
      everyS: everyS ?? 'off',
      drift: flags.drift ?? 'off',
      queue: redisUrl === undefined ? 'in-process' : 'bullmq',
      telemetry: kafkaBrokers === undefined ? join(dataDir, 'telemetry') : 'kafka',
    });
    if (triggers.length > 0) {
      const source = dedupe(openSource(policy, dataDir, kafkaBrokers, flags['from-beginning'] === true, logger));
      closers.unshift(() => source.close());
      await runTelemetryTriggers(source, triggers, ctrl.signal);
    } else {
      await new Promise<void>((resolve) => ctrl.signal.addEventListener('abort', () => resolve(), { once: true }));
    }
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    logger.info('pipeline stopping');
  } finally {
    for (const close of closers) await close().catch((err: unknown) => logger.warn('close failed', { error: String(err) }));
  }
  return 0;
}

function openSource(
  policy: Policy,
  dataDir: string,
  brokers: readonly string[] | undefined,
  fromBeginning: boolean,
  logger: Logger,
): TelemetrySource {
  if (brokers !== undefined) {
    return new KafkaTelemetrySource({
      brokers,
      groupId: `syncpilot-pipeline-${policy}`,
      clientId: 'syncpilot-pipeline',
      fromBeginning,
      logger,
    });
  }
  return new EmbeddedTelemetrySource({ dir: join(dataDir, 'telemetry'), name: `pipeline-${policy}`, fromBeginning, logger });
}

function logCycle(logger: Logger, c: Awaited<ReturnType<InProcessRunner['result']>>): void {
  logger.info('retraining done', {
    policy: c.train.policy,
    version: c.train.version,
    reused: c.train.reused,
    metrics: c.train.metrics,
    promoted: c.promote?.promoted ?? false,
    reason: c.promote?.reason,
  });
}

function parseDrift(value: string): { family: string; field: string } {
  const m = /^([a-z][a-z0-9-]*)\.([A-Za-z][A-Za-z0-9]*)$/.exec(value);
  if (m === null)
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `--drift takes FAMILY.FIELD (e.g. compression.rawBytes), got "${value}"`);
  return { family: m[1]!, field: m[2]! };
}

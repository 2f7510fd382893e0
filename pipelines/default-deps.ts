import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SyncPilotError } from '../src/core/errors.ts';
import type { Logger } from '../src/core/logger.ts';
import type { TelemetrySink } from '../src/core/telemetry.ts';
import type { ModelRuntime } from '../src/ml/model-runtime.ts';
import type { Policy } from '../src/ml/policy.ts';
import type { ModelRegistry } from '../src/ml/registry/model-registry.ts';
import type { PromotionBus } from '../src/ml/registry/promotion-bus.ts';
import { EmbeddedTelemetrySource } from '../src/telemetry/source/embedded-telemetry-source.ts';
import { KafkaTelemetrySource } from '../src/telemetry/source/kafka-telemetry-source.ts';
import { fingerprintPath } from './jobs/fingerprint-path.ts';
import type { PipelineDeps, PipelineLabels, PipelineRegistry, TrainPolicyFn } from './jobs/pipeline-deps.ts';

/** Options of {@link createPipelineDeps}. */
export interface PipelineDepsOptions {
  /** The data directory: registry in `<dataDir>/models`, job ledgers in `<dataDir>/pipelines`. */
  readonly dataDir: string;
  /** Registry root instead of `<dataDir>/models`. */
  readonly registryRoot?: string;
  /** Where promotions are announced; default the registry's file-watch bus (every process on this machine). */
  readonly bus?: PromotionBus;
  /** Runtime of the evaluate step's smoke test (default: the pure-JS runtime, no native load). */
  readonly runtime?: ModelRuntime | null;
  readonly telemetry?: TelemetrySink;
  readonly logger?: Logger;
  /**
   * Where a `labels` cycle reads its labels back: by default the embedded log in
   * `<dataDir>/telemetry`, or Kafka when `kafkaBrokers` is given (the telemetry the trigger reads);
   * `null`: cycles train on the policy's data only.
   */
  readonly labels?: PipelineLabels | null;
  /** Brokers of the telemetry topics, for the default {@link PipelineDepsOptions.labels}. */
  readonly kafkaBrokers?: readonly string[];
  /** Prefix of those topics' names (default none, as the Kafka sink writes them). */
  readonly kafkaTopicPrefix?: string;
}

/** {@link PipelineDeps} over the real trainer and registry, plus what they hold open. */
export interface OwnedPipelineDeps extends PipelineDeps {
  /** The registry, opened on first use. */
  registry(): Promise<ModelRegistry>;
  /** Closes the registry (and its file-watch bus); a bus passed in stays the caller's. */
  close(): Promise<void>;
}

/**
 * The pipeline's real dependencies: `training/train-policy.ts` (loaded on the first training, so
 * commands that only read the registry never load TensorFlow.js), the `ModelRegistry` under the
 * data directory (opened once), data fingerprints of the policy's default data when a request
 * names none, and the telemetry a `labels` cycle reads its labels from ({@link defaultLabels}).
 */
export function createPipelineDeps(options: PipelineDepsOptions): OwnedPipelineDeps {
  let opened: Promise<ModelRegistry> | undefined;
  const registry = (): Promise<ModelRegistry> => {
    opened ??= import('../src/ml/registry/model-registry.ts').then(({ ModelRegistry, defaultRegistryRoot }) =>
      ModelRegistry.open(options.registryRoot ?? defaultRegistryRoot(options.dataDir), {
        ...(options.bus === undefined ? {} : { bus: options.bus }),
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      }),
    );
    return opened;
  };
  const trainPolicy: TrainPolicyFn = async (policy, opts) => {
    const { trainPolicy: train } = await import('../training/train-policy.ts');
    return train(policy, opts);
  };
  return {
    trainPolicy,
    openRegistry: async () => adaptRegistry(await registry()),
    fingerprintData: async (policy, data) => fingerprintPath(data ?? (await defaultData(policy))),
    workDir: join(options.dataDir, 'pipelines'),
    ...(options.labels === null ? {} : { labels: options.labels ?? defaultLabels(options) }),
    ...(options.runtime === null ? {} : { runtime: options.runtime ?? createJsRuntimeLazy() }),
    ...(options.telemetry === undefined ? {} : { telemetry: options.telemetry }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    registry,
    async close() {
      if (opened !== undefined) await (await opened).close();
    },
  };
}

/** The registry as the jobs see it. */
export function adaptRegistry(reg: ModelRegistry): PipelineRegistry {
  return {
    register: (dir, opts) => reg.register(dir, opts),
    cards: (policy) => reg.cards(policy),
    show: (policy, version) => reg.show(policy, version),
    modelDir: (policy, version) => reg.modelDir(policy, version),
    champion: async (policy) => (await reg.state(policy)).champion,
    promote: async (policy, version, opts) => {
      await reg.promote(policy, version, { margin: opts.margin });
    },
  };
}

/**
 * The data a policy trains on when a request names none.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for a policy with no trainer yet
 */
export async function defaultData(policy: Policy): Promise<string> {
  switch (policy) {
    case 'compression':
      return (await import('../training/policies/compression/size-experiment.ts')).DEFAULT_CANTERBURY_DIR;
    case 'conflict':
    case 'prefetch':
    case 'anomaly':
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `no trainer yet for the ${policy} policy (only compression is trainable)`);
  }
}

/**
 * Labels read back from the telemetry the pipeline's triggers read: the embedded log of the data
 * directory (a fresh unnamed reader from the oldest event), or Kafka (a throw-away consumer group
 * from the earliest offsets, deleted on close). The row mappers are loaded on first use.
 */
export function defaultLabels(
  options: Pick<PipelineDepsOptions, 'dataDir' | 'kafkaBrokers' | 'kafkaTopicPrefix' | 'logger'>,
): PipelineLabels {
  const { kafkaBrokers, kafkaTopicPrefix, logger } = options;
  return {
    openSource: () =>
      kafkaBrokers === undefined
        ? new EmbeddedTelemetrySource({
            dir: join(options.dataDir, 'telemetry'),
            fromBeginning: true,
            pollIntervalMs: 20,
            ...(logger === undefined ? {} : { logger }),
          })
        : new KafkaTelemetrySource({
            brokers: [...kafkaBrokers],
            groupId: `${kafkaTopicPrefix ?? ''}syncpilot-labels-${randomUUID()}`,
            clientId: 'syncpilot-pipeline-labels',
            fromBeginning: true,
            deleteGroupOnClose: true,
            ...(kafkaTopicPrefix === undefined ? {} : { topicPrefix: kafkaTopicPrefix }),
            ...(logger === undefined ? {} : { logger }),
          }),
    // A new consumer group takes seconds to join before its first batch.
    ...(kafkaBrokers === undefined ? {} : { idleMs: 20_000 }),
    mapperFor: async (policy) => {
      switch (policy) {
        case 'compression':
          return (await import('../training/policies/compression/telemetry-rows.ts')).COMPRESSION_LABEL_ROWS;
        case 'conflict':
        case 'prefetch':
        case 'anomaly':
          return undefined;
      }
    },
  };
}

/** A runtime that imports the JS runtime module on its first load. */
function createJsRuntimeLazy(): ModelRuntime {
  let inner: Promise<ModelRuntime> | undefined;
  return {
    name: 'js',
    async load(bytes, card) {
      inner ??= import('../src/ml/runtime/js-runtime.ts').then((m) => m.createJsRuntime());
      return (await inner).load(bytes, card);
    },
  };
}

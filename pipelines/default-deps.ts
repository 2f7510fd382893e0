import { join } from 'node:path';
import { SyncPilotError } from '../src/core/errors.ts';
import type { Logger } from '../src/core/logger.ts';
import type { TelemetrySink } from '../src/core/telemetry.ts';
import type { ModelRuntime } from '../src/ml/model-runtime.ts';
import type { Policy } from '../src/ml/policy.ts';
import type { ModelRegistry } from '../src/ml/registry/model-registry.ts';
import type { PromotionBus } from '../src/ml/registry/promotion-bus.ts';
import { fingerprintPath } from './jobs/fingerprint-path.ts';
import type { PipelineDeps, PipelineRegistry, TrainPolicyFn } from './jobs/pipeline-deps.ts';

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
 * data directory (opened once), and data fingerprints of the policy's default data when a request
 * names none.
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

import type { Logger } from '../../src/core/logger.ts';
import type { TelemetrySink } from '../../src/core/telemetry.ts';
import type { ModelCard } from '../../src/ml/model-card.ts';
import type { ModelRuntime } from '../../src/ml/model-runtime.ts';
import type { Policy } from '../../src/ml/policy.ts';
import type { TelemetrySource } from '../../src/telemetry/source/telemetry-source.ts';
import type { LabelRowMapper } from '../../training/policies/compression/telemetry-rows.ts';

/** One epoch's progress, as the trainer reports it. */
export interface TrainProgress {
  readonly epoch: number;
  readonly epochs: number;
  readonly loss: number;
  readonly valLoss?: number;
}

/** Rows a train job made from telemetry labels (the shape of `training/train-policy.ts`'s `TelemetryData`). */
export interface TelemetryRowsInput {
  /** JSON-lines dataset of the rows; absent when no label made a row. */
  readonly file?: string;
  readonly labels: number;
  readonly skipped: Readonly<Record<string, number>>;
  readonly through?: string;
}

/** Options of {@link TrainPolicyFn} (the shape of `training/train-policy.ts`). */
export interface TrainPolicyOptions {
  readonly data?: string;
  /** Telemetry rows to train on beside `data` (a `labels` trigger's cycle). */
  readonly telemetry?: TelemetryRowsInput;
  /** Directory the exported model (card + ONNX file) is written under. */
  readonly outDir: string;
  readonly seed?: number;
  readonly epochs?: number;
  readonly onProgress?: (p: TrainProgress) => void;
}

/** What a trainer returns: the exported model directory and its held-out metrics. */
export interface TrainPolicyOutput {
  readonly card: ModelCard;
  /** The model directory (card.json + model file). */
  readonly dir: string;
  readonly metrics: Readonly<Record<string, number>>;
  readonly baseline: Readonly<Record<string, number>>;
}

export type TrainPolicyFn = (policy: Policy, opts: TrainPolicyOptions) => Promise<TrainPolicyOutput>;

/**
 * The registry operations the jobs use: a narrow view of `ModelRegistry`, so the jobs can run
 * against a fake in tests and the real registry adapts to it in `default-deps.ts`.
 */
export interface PipelineRegistry {
  /**
   * Verifies and copies a model directory in as the policy's next version.
   * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` / `SP_ERR_MODEL_CARD_INVALID` for a bad model
   */
  register(modelDir: string, opts?: { readonly challenger?: boolean }): Promise<ModelCard>;
  /** Every registered card of a policy, oldest first. */
  cards(policy: Policy): Promise<readonly ModelCard[]>;
  /** @throws SyncPilotError `SP_ERR_MODEL_NOT_FOUND` */
  show(policy: Policy, version: number): Promise<ModelCard>;
  modelDir(policy: Policy, version: number): string;
  champion(policy: Policy): Promise<number | null>;
  /**
   * Makes `version` the champion if it passes the gate.
   * @throws SyncPilotError `SP_ERR_PROMOTION_REJECTED` when it does not
   */
  promote(policy: Policy, version: number, opts: { readonly margin: number }): Promise<void>;
}

/**
 * Where a train job finds the labels a `labels` trigger counted, and how they become rows. Absent:
 * cycles train on the policy's data only.
 */
export interface PipelineLabels {
  /**
   * A new source over the telemetry the trigger read, positioned at the oldest event and
   * committing nowhere (the job closes it).
   */
  openSource(): TelemetrySource;
  /** How the policy's label events become rows; `undefined` when its trainer takes none yet. */
  mapperFor(policy: Policy): Promise<LabelRowMapper | undefined>;
  /** Reading ends once no batch came for this long and the watermark's last label was not seen (default 3000 ms). */
  readonly idleMs?: number;
}

/**
 * Everything the job functions need from outside, injected so that the same functions run in
 * the in-process runner, in BullMQ workers, and against fakes in tests.
 */
export interface PipelineDeps {
  readonly trainPolicy: TrainPolicyFn;
  /** Called for every job; implementations return one shared registry (see `memoize`). */
  readonly openRegistry: () => Promise<PipelineRegistry>;
  /** SHA-256 of the data a request names (`undefined`: the trainer's default data). */
  readonly fingerprintData: (policy: Policy, data: string | undefined) => Promise<string>;
  /** Job ledgers and training output: `<workDir>/jobs/<jobId>/`. */
  readonly workDir: string;
  /** Telemetry labels as training rows (see {@link PipelineLabels}). */
  readonly labels?: PipelineLabels;
  /** When given, the evaluate job loads each new model with it and runs one row (a smoke test). */
  readonly runtime?: ModelRuntime;
  /** Where `model-lifecycle` events (trained, evaluated, promoted) go. */
  readonly telemetry?: TelemetrySink;
  readonly tenant?: string;
  readonly logger?: Logger;
  readonly clock?: () => number;
}

import { z } from 'zod';
import { SyncPilotError } from '../../src/core/errors.ts';
import { POLICIES } from '../../src/ml/policy.ts';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');
const policy = z.enum(POLICIES);
const metrics = z.record(z.string().min(1).max(64), z.number().finite());
const version = z.number().int().positive();

/** What started a cycle. */
export const triggerSchema = z.strictObject({
  kind: z.enum(['manual', 'schedule', 'labels', 'drift']),
  /** Milliseconds since the epoch. */
  at: z.number().int().nonnegative(),
  detail: z.string().max(1024).optional(),
});

/**
 * The telemetry a trigger saw when it fired (the labels a `labels` trigger counted, the events a
 * `drift` trigger watched): it is part of the data, so of the job id.
 */
export const watermarkSchema = z.strictObject({
  count: z.number().int().positive(),
  /** Id of the last event counted. */
  through: z.string().min(1).max(256),
  /** SHA-256 chained over the ids of every event counted so far, in order. */
  digest: hex64,
});
export type Watermark = z.output<typeof watermarkSchema>;

/**
 * A request to train (and by default evaluate and promote) a policy's model: from the CLI, a
 * trigger or a scheduled job. Parsed once with {@link parseTrainRequest}.
 */
export const trainRequestSchema = z.strictObject({
  policy,
  /** Dataset file or directory; default the policy trainer's own. */
  data: z.string().min(1).max(4096).optional(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(1),
  epochs: z.number().int().positive().max(100_000).optional(),
  /** Relative improvement over the champion's primary metric the promotion gate demands. */
  margin: z.number().min(0).max(10).default(0.01),
  /** Evaluate and promote after training (default); `false` only registers a challenger. */
  promote: z.boolean().default(true),
  trigger: triggerSchema.default({ kind: 'manual', at: 0 }),
  watermark: watermarkSchema.optional(),
});
export type TrainRequestInput = z.input<typeof trainRequestSchema>;
export type TrainRequest = z.output<typeof trainRequestSchema>;

/** The train job's payload: the request plus what makes it idempotent. */
export const trainPayloadSchema = trainRequestSchema.extend({
  /** {@link pipelineJobId} of policy, data fingerprint and config. */
  jobId: hex64,
  /** SHA-256 of the data the job trains on (file contents, plus the telemetry watermark). */
  dataFingerprint: hex64,
});
export type TrainPayload = z.output<typeof trainPayloadSchema>;

const primary = z.strictObject({ name: z.string().min(1).max(64), higherIsBetter: z.boolean() });

/** What a train job returns: the registered version. */
export const trainResultSchema = z.strictObject({
  jobId: hex64,
  policy,
  name: z.string().min(1).max(64),
  version,
  /** True when an earlier attempt had already trained or registered this job's model. */
  reused: z.boolean(),
  modelSha256: hex64,
  primary,
  metrics,
  baseline: metrics,
  trainMs: z.number().nonnegative(),
});
export type TrainResult = z.output<typeof trainResultSchema>;

export const evaluatePayloadSchema = z.strictObject({
  jobId: hex64,
  policy,
  version,
  margin: z.number().min(0).max(10),
});
export type EvaluatePayload = z.output<typeof evaluatePayloadSchema>;

export const evaluateResultSchema = z.strictObject({
  jobId: hex64,
  policy,
  version,
  champion: version.nullable(),
  /** Whether the promotion gate should let this version through. */
  eligible: z.boolean(),
  reason: z.string().max(1024),
  primary: primary.extend({
    value: z.number().finite(),
    champion: z.number().finite().optional(),
    baseline: z.number().finite().optional(),
  }),
});
export type EvaluateResult = z.output<typeof evaluateResultSchema>;

export const promotePayloadSchema = z.strictObject({
  jobId: hex64,
  policy,
  version,
  margin: z.number().min(0).max(10),
  eligible: z.boolean(),
  reason: z.string().max(1024),
});
export type PromotePayload = z.output<typeof promotePayloadSchema>;

export const promoteResultSchema = z.strictObject({
  jobId: hex64,
  policy,
  version,
  promoted: z.boolean(),
  /** The champion after this job. */
  champion: version.nullable(),
  reason: z.string().max(1024),
});
export type PromoteResult = z.output<typeof promoteResultSchema>;

/** Everything one cycle produced; `evaluate` and `promote` are absent when the request had `promote: false`. */
export interface CycleResult {
  readonly jobId: string;
  readonly train: TrainResult;
  readonly evaluate?: EvaluateResult;
  readonly promote?: PromoteResult;
}

/**
 * Parses a job payload or result from outside the process (a queue, a file, a flag).
 * @throws SyncPilotError `SP_ERR_JOB_INVALID` listing every problem
 */
export function parseJob<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new SyncPilotError('SP_ERR_JOB_INVALID', `${what} invalid: ${z.prettifyError(r.error)}`, { cause: r.error });
  return r.data;
}

/** @throws SyncPilotError `SP_ERR_JOB_INVALID` */
export function parseTrainRequest(value: unknown): TrainRequest {
  return parseJob(trainRequestSchema, value, 'train request');
}

import { z } from 'zod';

/**
 * Versioned telemetry event schemas: `syncpilot.<family>.v<N>`. Every event carries a unique id,
 * a timestamp, the tenant and the key it is partitioned by (a document or peer id). Schemas are
 * strict: an unknown field is an error, so producers and consumers cannot drift apart silently.
 * A new version of a family is a new schema beside the old one; old versions stay readable.
 */
const id = z.string().min(1).max(256);
const digest = z.string().regex(/^[0-9a-f]{16,128}$/, 'a lowercase hex digest');
const nonNegInt = z.number().int().nonnegative();
const micros = z.number().nonnegative().finite();
const modelRef = z.strictObject({ id, version: z.string().min(1).max(64) });

function event<T extends string, D extends z.ZodType>(type: T, data: D) {
  return z.strictObject({
    type: z.literal(type),
    id: z.string().min(1).max(128),
    time: nonNegInt,
    tenant: z.string().min(1).max(128),
    key: z.string().min(1).max(256),
    data,
  });
}

/** A session opened or synced a document (the prefetch policy learns from these). */
export const accessV1 = event(
  'syncpilot.access.v1',
  z.strictObject({
    doc: id,
    peer: id,
    actor: id.optional(),
    subject: z.string().max(256).optional(),
    action: z.enum(['open', 'sync', 'close']),
  }),
);

/** A conflict case was created (siblings appeared on a field) or resolved. */
export const conflictV1 = event(
  'syncpilot.conflict.v1',
  z.strictObject({
    caseId: id,
    doc: id,
    obj: id,
    field: z.string().max(1024),
    status: z.enum(['created', 'resolved']),
    siblings: z.number().int().min(2).max(10_000),
    resolution: z.enum(['auto', 'human', 'superseded']).optional(),
    model: modelRef.optional(),
  }),
);

/** A person reviewed a conflict suggestion. */
export const reviewDecisionV1 = event(
  'syncpilot.review-decision.v1',
  z.strictObject({
    caseId: id,
    doc: id,
    reviewer: z.string().min(1).max(256),
    decision: z.enum(['accept', 'reject', 'edit']),
    suggestion: z.string().max(64).optional(),
    latencyMs: z.number().nonnegative().finite().optional(),
  }),
);

/** The compression policy chose how to send a message or batch, and what came of it. */
export const compressionV1 = event(
  'syncpilot.compression.v1',
  z.strictObject({
    peer: id,
    doc: id.optional(),
    decision: z.enum(['raw', 'batch', 'compress']),
    codec: z.enum(['raw', 'gzip', 'deflate', 'brotli', 'zstd']),
    level: z.number().int().min(-1).max(22).optional(),
    rawBytes: nonNegInt,
    encodedBytes: nonNegInt,
    encodeMicros: micros,
    deliveredMs: z.number().nonnegative().finite().optional(),
    /**
     * The payload's feature vector under `featureSchema` (src/ml/features/), so telemetry alone
     * can build the compression model's training rows: the label is `encodedBytes / rawBytes`.
     */
    features: z.array(z.number().finite()).max(64).optional(),
    featureSchema: z.strictObject({ name: z.string().min(1).max(128), version: z.number().int().positive() }).optional(),
  }),
);

/** The anomaly policy scored a peer's traffic and maybe acted. */
export const anomalyV1 = event(
  'syncpilot.anomaly.v1',
  z.strictObject({
    peer: id,
    doc: id.optional(),
    score: z.number().finite(),
    threshold: z.number().finite(),
    action: z.enum(['none', 'flag', 'throttle', 'quarantine', 'release']),
    model: modelRef.optional(),
  }),
);

/** One inbound message through the pipeline and the engine. */
export const syncLatencyV1 = event(
  'syncpilot.sync-latency.v1',
  z.strictObject({
    doc: id,
    peer: id,
    changes: nonNegInt,
    applied: nonNegInt,
    bytes: nonNegInt,
    applyMicros: micros,
    queuedMicros: micros,
  }),
);

/** A model made a prediction (champion or shadow challenger). */
export const predictionV1 = event(
  'syncpilot.prediction.v1',
  z.strictObject({
    policy: z.enum(['conflict', 'prefetch', 'compression', 'anomaly']),
    model: modelRef,
    inputsDigest: digest,
    output: z.union([z.number().finite(), z.string().max(1024), z.array(z.number().finite()).max(1024)]),
    latencyMicros: micros,
    shadow: z.boolean(),
  }),
);

/** A model was trained, evaluated, promoted, rolled back, loaded or refused. */
export const modelLifecycleV1 = event(
  'syncpilot.model-lifecycle.v1',
  z.strictObject({
    policy: z.enum(['conflict', 'prefetch', 'compression', 'anomaly']),
    model: modelRef,
    event: z.enum(['trained', 'evaluated', 'promoted', 'rolled-back', 'loaded', 'refused']),
    metrics: z.record(z.string().max(64), z.number().finite()).optional(),
    reason: z.string().max(1024).optional(),
  }),
);

/** A pipeline stage failed or timed out (the runner emits these). */
export const stageErrorV1 = event(
  'syncpilot.stage-error.v1',
  z.strictObject({
    stage: z.string().min(1).max(128),
    kind: z.enum(['optimizing', 'protecting']),
    code: z.string().regex(/^SP_ERR_[A-Z_]+$/),
    phase: z.enum(['inbound', 'applied', 'outbound']),
  }),
);

/** Every known event schema by its `type`. */
export const EVENT_SCHEMAS = {
  'syncpilot.access.v1': accessV1,
  'syncpilot.conflict.v1': conflictV1,
  'syncpilot.review-decision.v1': reviewDecisionV1,
  'syncpilot.compression.v1': compressionV1,
  'syncpilot.anomaly.v1': anomalyV1,
  'syncpilot.sync-latency.v1': syncLatencyV1,
  'syncpilot.prediction.v1': predictionV1,
  'syncpilot.model-lifecycle.v1': modelLifecycleV1,
  'syncpilot.stage-error.v1': stageErrorV1,
} as const;

export type EventType = keyof typeof EVENT_SCHEMAS;
/** The parsed event of each type. */
export type EventOf<T extends EventType> = z.infer<(typeof EVENT_SCHEMAS)[T]>;
/** Any valid syncpilot telemetry event. */
export type SyncPilotEvent = { [T in EventType]: EventOf<T> }[EventType];

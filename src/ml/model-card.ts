import { z } from 'zod';
import { SyncPilotError } from '../core/errors.ts';
import { POLICIES } from './policy.ts';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');
const metricName = z.string().min(1).max(64);
const finite = z.number().finite();

/**
 * The model card: everything needed to trust, compare and load one model version. Written by the
 * exporter next to the model file (`card.json`), parsed once with {@link parseModelCard} wherever a
 * card is read. Strict: unknown fields are errors.
 */
export const modelCardSchema = z.strictObject({
  schema: z.literal('syncpilot.model-card.v1'),
  policy: z.enum(POLICIES),
  /** Model name within the policy, e.g. `size-regressor`. */
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/),
  /** Assigned by the registry when the model is registered (1, 2, …); 0 before registration. */
  version: z.number().int().nonnegative(),
  createdAt: z.iso.datetime(),
  file: z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/),
    format: z.literal('onnx'),
    sha256: hex64,
    bytes: z.number().int().positive(),
  }),
  /** Input feature vector and output width the model was trained for. */
  io: z.strictObject({
    inputName: z.string().min(1).max(64),
    outputName: z.string().min(1).max(64),
    inputs: z.number().int().positive(),
    outputs: z.number().int().positive(),
  }),
  /** The versioned, pure feature function the model was trained on (shared with serving: no skew). */
  featureSchema: z.strictObject({ name: z.string().min(1).max(128), version: z.number().int().positive() }),
  dataset: z.strictObject({
    /** SHA-256 over the dataset's rows in a canonical order, so the same data gives the same id. */
    fingerprint: hex64,
    source: z.string().min(1).max(1024),
    rows: z.strictObject({
      train: z.number().int().nonnegative(),
      validation: z.number().int().nonnegative(),
      test: z.number().int().nonnegative(),
    }),
    split: z.strictObject({
      method: z.enum(['random', 'grouped']),
      seed: z.number().int(),
      groupBy: z.string().max(128).optional(),
    }),
  }),
  training: z.strictObject({
    backend: z.string().min(1).max(64),
    seed: z.number().int(),
    epochs: z.number().int().nonnegative(),
    durationMs: z.number().nonnegative(),
    /** The trainer's full configuration, as given (hyper-parameters, architecture). */
    config: z.record(z.string(), z.union([finite, z.string(), z.boolean(), z.array(finite)])),
  }),
  metrics: z.strictObject({
    /** The metric the promotion gate compares, measured on the held-out test split. */
    primary: z.strictObject({ name: metricName, higherIsBetter: z.boolean() }),
    /** Every metric on the held-out test split (must include the primary). */
    test: z.record(metricName, finite),
    validation: z.record(metricName, finite).optional(),
    /** The policy's baseline heuristic on the same test split, for comparison. */
    baseline: z.record(metricName, finite).optional(),
  }),
  /** TensorFlow.js vs onnxruntime agreement measured at export. */
  parity: z.strictObject({ samples: z.number().int().positive(), maxAbsDiff: z.number().nonnegative() }).optional(),
});

export type ModelCard = z.infer<typeof modelCardSchema>;

/**
 * Parses a model card from JSON text or a parsed value.
 * @throws SyncPilotError `SP_ERR_MODEL_CARD_INVALID` listing every problem (also for bad JSON or a
 * missing primary metric)
 */
export function parseModelCard(input: unknown): ModelCard {
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (err) {
      throw new SyncPilotError('SP_ERR_MODEL_CARD_INVALID', 'model card is not valid JSON', { cause: err });
    }
  }
  const r = modelCardSchema.safeParse(value);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(card)'}: ${i.message}`).join('; ');
    throw new SyncPilotError('SP_ERR_MODEL_CARD_INVALID', `model card invalid: ${problems}`, { cause: r.error });
  }
  const card = r.data;
  if (card.metrics.test[card.metrics.primary.name] === undefined) {
    throw new SyncPilotError(
      'SP_ERR_MODEL_CARD_INVALID',
      `model card invalid: metrics.test lacks the primary metric "${card.metrics.primary.name}"`,
    );
  }
  return card;
}

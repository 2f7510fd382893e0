import { compressionSizeBaseline } from '../ml/features/compression-size-baseline.ts';
import { COMPRESSION_SIZE_FEATURES, FEATURE_SCHEMA as COMPRESSION_SIZE_SCHEMA } from '../ml/features/compression-size.ts';
import type { HostedPredictorOptions } from '../ml/model-host.ts';
import type { Policy } from '../ml/policy.ts';

/**
 * How a server serves each policy's model: the baseline that answers without one, and what every
 * model must fit before it is loaded (anything else is refused with `SP_ERR_MODEL_MISMATCH` and
 * the previous model keeps serving). A policy's issue adds its entry when its features and
 * baseline land; until then {@link placeholderPredictorOptions} applies.
 */
export const POLICY_PREDICTOR_DEFAULTS: Readonly<Partial<Record<Policy, HostedPredictorOptions>>> = Object.freeze({
  compression: {
    baseline: (features: Float32Array) => Float32Array.of(compressionSizeBaseline(features)),
    expect: { featureSchema: COMPRESSION_SIZE_SCHEMA, inputs: COMPRESSION_SIZE_FEATURES, outputs: 1 },
  },
});

const EMPTY = new Float32Array(0);

/**
 * For a policy with no features or baseline in this build yet: its champion is still loaded
 * (checksum, card and policy verified) so promotions can be followed and watched, but nothing asks
 * it, and the placeholder baseline answers an empty vector.
 */
export const placeholderPredictorOptions: HostedPredictorOptions = Object.freeze({ baseline: () => EMPTY });

/** The predictor options of `policy` on a server. */
export function predictorDefaults(policy: Policy): HostedPredictorOptions {
  return POLICY_PREDICTOR_DEFAULTS[policy] ?? placeholderPredictorOptions;
}

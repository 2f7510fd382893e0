import { COMPRESSION_SIZE_FEATURES, COMPRESSION_SIZE_FEATURE_NAMES } from './compression-size.ts';

const HEURISTIC = COMPRESSION_SIZE_FEATURE_NAMES.indexOf('heuristicRatio');

/**
 * The compression policy's baseline for the brotli size ratio, from a `compression-size` v1
 * feature vector: its `heuristicRatio` (see `brotliRatioHeuristic`). Works with no model (the
 * fallback when inference fails or is over budget), and is what a trained model must beat.
 * @throws RangeError when `features` is not a v1 vector
 */
export function compressionSizeBaseline(features: Float32Array): number {
  if (features.length !== COMPRESSION_SIZE_FEATURES) {
    throw new RangeError(`expected ${COMPRESSION_SIZE_FEATURES} compression-size features, got ${features.length}`);
  }
  return features[HEURISTIC] as number;
}

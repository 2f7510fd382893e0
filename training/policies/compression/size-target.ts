import { compressPayload, DEFAULT_BROTLI_QUALITY } from '../../../src/engine/protocol/compression.ts';

/** The codec whose output size the regressor predicts; the engine's own compressor produces it. */
export interface SizeTarget {
  readonly codec: 'brotli' | 'gzip' | 'deflate';
  /** brotli quality 0..11 or zlib level -1..9; default: the engine's default for the codec. */
  readonly level?: number;
}

/** What the shipped regressor predicts: brotli at the engine's live-traffic quality. */
export const DEFAULT_SIZE_TARGET: SizeTarget = { codec: 'brotli', level: DEFAULT_BROTLI_QUALITY };

/**
 * Compressed size / raw size of `bytes` with the engine's `compressPayload` (so the label is what
 * the sync path would really send). Above 1 for payloads that grow (small sync messages).
 * @throws RangeError for an empty payload (no ratio); SyncPilotError `SP_ERR_CONFIG_INVALID` for a bad level
 */
export function compressedRatio(bytes: Uint8Array, target: SizeTarget = DEFAULT_SIZE_TARGET): number {
  if (bytes.byteLength === 0) throw new RangeError('an empty payload has no compression ratio');
  return compressPayload(target.codec, bytes, target.level).byteLength / bytes.byteLength;
}

/** A short stable label of a target, e.g. `brotli-4`, for card and dataset sources. */
export function sizeTargetLabel(target: SizeTarget): string {
  return `${target.codec}-${target.level ?? 'default'}`;
}

/** The target column's name (in datasets built from the corpus, from telemetry, and in dataset files). */
export const SIZE_TARGET_NAME = `ratio:${sizeTargetLabel(DEFAULT_SIZE_TARGET)}`;

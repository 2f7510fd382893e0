/** Bytes brotli adds around a payload it stores uncompressed (stream header + raw meta-block). */
const STORED_OVERHEAD_BYTES = 4;
/**
 * Bytes a compressed brotli meta-block costs beyond its coded content (mostly Huffman tables).
 * Chosen among 16/24/32/48 on the training files only (24 had the lowest MAE there).
 */
const CODED_OVERHEAD_BYTES = 24;

/**
 * A hand-made estimate of brotli's compressed size / raw size: the smaller of the order-0
 * entropy bound and an LZ sketch's estimate, plus a fixed header, capped at storing the payload
 * raw. The compression policy's baseline, and also a `compression-size` feature.
 * @param bytes payload length (≥ 1)
 * @param entropy order-0 entropy, bits per byte
 * @param lzEstimate the LZ sketch's estimated ratio
 */
export function brotliRatioHeuristic(bytes: number, entropy: number, lzEstimate: number): number {
  if (bytes < 1) return 1;
  return Math.min(1 + STORED_OVERHEAD_BYTES / bytes, Math.min(entropy / 8, lzEstimate) + CODED_OVERHEAD_BYTES / bytes);
}

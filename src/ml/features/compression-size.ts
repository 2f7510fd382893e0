import { brotliRatioHeuristic } from './compression-size-heuristic.ts';

/**
 * Features of a payload for the compression policy's size regressor: cheap, pure, versioned, and
 * shared by training (`training/policies/compression/`) and serving, so the two cannot drift apart.
 * Changing what any feature means, its order or the scan limit is a new {@link FEATURE_SCHEMA}
 * version: models trained on the old version are refused by serving (SP_ERR_MODEL_MISMATCH).
 */

/** Name and version of this feature function, as written in model cards. */
export const FEATURE_SCHEMA = { name: 'compression-size', version: 1 } as const;

/** The features in vector order. */
export const COMPRESSION_SIZE_FEATURE_NAMES = [
  /** log2(byteLength + 1) of the whole payload. */
  'log2Length',
  /** Order-0 Shannon entropy of the scanned bytes, in bits per byte (0..8). */
  'entropy',
  /** Distinct byte values / min(scanned, 256). */
  'distinctRatio',
  /** Printable ASCII, tab, CR and LF / scanned. */
  'printableRatio',
  'zeroRatio',
  /** Bytes >= 0x80 / scanned. */
  'highRatio',
  /** Positions equal to the previous byte / scanned. */
  'runRatio',
  /** Bytes covered by a greedy 4-byte-match parse (an LZ77 sketch) / scanned. */
  'matchCoverage',
  /** Matches of that parse / scanned. */
  'matchesPerByte',
  /** Order-0 entropy of the bytes the parse left as literals, bits per byte. */
  'literalEntropy',
  /** (literals × literalEntropy / 8 + 3 bytes per match) / scanned: a rough compressed ratio. */
  'lzEstimate',
  /** `brotliRatioHeuristic(byteLength, entropy, lzEstimate)`: the policy's baseline estimate itself. */
  'heuristicRatio',
] as const;

export type CompressionSizeFeature = (typeof COMPRESSION_SIZE_FEATURE_NAMES)[number];

/** Length of the feature vector. */
export const COMPRESSION_SIZE_FEATURES = COMPRESSION_SIZE_FEATURE_NAMES.length;

/**
 * Only the first this-many bytes are scanned (the length feature still sees the whole payload),
 * so the cost is bounded: a large payload's head is representative enough to choose a codec.
 */
export const MAX_SCAN_BYTES = 8192;

/** Bytes a match is assumed to cost in {@link COMPRESSION_SIZE_FEATURE_NAMES} `lzEstimate`. */
const MATCH_COST_BYTES = 3;
const MIN_MATCH = 4;
/** Hash-table size grows with the scanned length (to 2^MAX_HASH_BITS): small payloads stay cheap. */
const MAX_HASH_BITS = 12;

// Scratch space reused across calls: the function is synchronous, so no call can observe another's.
const counts = new Uint32Array(256);
const literalCounts = new Uint32Array(256);
const heads = new Int32Array(1 << MAX_HASH_BITS);

/**
 * Computes the {@link FEATURE_SCHEMA} feature vector of `bytes` (not modified). Pure: the same
 * bytes always give the same vector. O(min(n, {@link MAX_SCAN_BYTES})), no allocation but the result.
 * An empty payload gives zeros (and a heuristic ratio of 1).
 */
export function compressionSizeFeatures(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(COMPRESSION_SIZE_FEATURES);
  const total = bytes.byteLength;
  const n = Math.min(total, MAX_SCAN_BYTES);
  out[0] = Math.log2(total + 1);
  if (n === 0) {
    out[11] = 1;
    return out;
  }

  counts.fill(0);
  let printable = 0;
  let high = 0;
  let runs = 0;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const b = bytes[i] as number;
    counts[b] = (counts[b] as number) + 1;
    if ((b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d) printable++;
    if (b >= 0x80) high++;
    if (b === prev) runs++;
    prev = b;
  }
  let distinct = 0;
  for (let v = 0; v < 256; v++) if ((counts[v] as number) > 0) distinct++;

  const parse = greedyParse(bytes, n);
  const literals = n - parse.covered;
  const literalEntropy = entropyOf(literalCounts, literals);

  const entropy = entropyOf(counts, n);
  const lzEstimate = (literals * (literalEntropy / 8) + parse.matches * MATCH_COST_BYTES) / n;
  out[1] = entropy;
  out[2] = distinct / Math.min(n, 256);
  out[3] = printable / n;
  out[4] = (counts[0] as number) / n;
  out[5] = high / n;
  out[6] = runs / n;
  out[7] = parse.covered / n;
  out[8] = parse.matches / n;
  out[9] = literalEntropy;
  out[10] = lzEstimate;
  out[11] = brotliRatioHeuristic(total, entropy, lzEstimate);
  return out;
}

/**
 * A greedy LZ77 parse with one hash-head per 4-byte prefix (no chains): a match extends as far
 * as the bytes agree; every position, matched or not, updates the head. Fills `literalCounts`.
 */
function greedyParse(bytes: Uint8Array, n: number): { covered: number; matches: number } {
  const bits = Math.min(MAX_HASH_BITS, Math.max(4, 32 - Math.clz32(n)));
  const shift = 32 - bits;
  heads.fill(-1, 0, 1 << bits);
  literalCounts.fill(0);
  let covered = 0;
  let matches = 0;
  let i = 0;
  while (i < n) {
    if (i + MIN_MATCH > n) {
      const b = bytes[i] as number;
      literalCounts[b] = (literalCounts[b] as number) + 1;
      i++;
      continue;
    }
    const h = hash4(bytes, i, shift);
    const candidate = heads[h] as number;
    heads[h] = i;
    let len = 0;
    if (candidate >= 0) {
      while (i + len < n && bytes[candidate + len] === bytes[i + len]) len++;
    }
    if (len >= MIN_MATCH) {
      for (let j = i + 1; j < i + len && j + MIN_MATCH <= n; j++) heads[hash4(bytes, j, shift)] = j;
      covered += len;
      matches++;
      i += len;
    } else {
      const b = bytes[i] as number;
      literalCounts[b] = (literalCounts[b] as number) + 1;
      i++;
    }
  }
  return { covered, matches };
}

function hash4(bytes: Uint8Array, i: number, shift: number): number {
  const v =
    ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24)) >>> 0;
  return Math.imul(v, 0x9e3779b1) >>> shift;
}

function entropyOf(histogram: Uint32Array, n: number): number {
  if (n === 0) return 0;
  let h = 0;
  for (let v = 0; v < 256; v++) {
    const c = histogram[v] as number;
    if (c > 0) {
      const p = c / n;
      h -= p * Math.log2(p);
    }
  }
  return h;
}

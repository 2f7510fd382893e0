import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncPilotError } from '../../../src/core/errors.ts';
import {
  COMPRESSION_SIZE_FEATURE_NAMES,
  COMPRESSION_SIZE_FEATURES,
  compressionSizeFeatures,
} from '../../../src/ml/features/compression-size.ts';
import type { Dataset } from '../../dataset/dataset.ts';
import { compressedRatio, DEFAULT_SIZE_TARGET, sizeTargetLabel, type SizeTarget } from './size-target.ts';

/** Chunk sizes by default: 16 B (a keystroke's sync message) to 64 KiB, doubling. */
export const DEFAULT_CHUNK_SIZES: readonly number[] = Array.from({ length: 13 }, (_, k) => 16 * 2 ** k);

/** Options of {@link buildSizeDataset}. */
export interface SizeDatasetOptions {
  /** A directory of sample files (the Canterbury corpus); every regular, non-hidden file is used. */
  readonly dir: string;
  /** Chunk sizes in bytes (default {@link DEFAULT_CHUNK_SIZES}). */
  readonly sizes?: readonly number[];
  /** Most chunks per file and size (default 48), evenly spread over the file. */
  readonly maxChunksPerSize?: number;
  /** Default {@link DEFAULT_SIZE_TARGET} (brotli at the engine's quality). */
  readonly target?: SizeTarget;
}

/** The dataset with what it was built from. */
export interface SizeDataset {
  readonly dataset: Dataset;
  /** The files used (the groups), sorted. */
  readonly files: readonly string[];
  /** Chunk size of each row. */
  readonly chunkSizes: Uint32Array;
  /** Describes the build, for the card's `dataset.source`. */
  readonly source: string;
}

/**
 * Cuts every file of `dir` into chunks of several sizes, and gives each chunk's
 * `compression-size` features and compressed ratio; rows are grouped by file (chunks of one file
 * are correlated: a grouped split must keep them together). Deterministic: same files, same rows,
 * in the same order.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` when the directory is missing or yields no chunk
 */
export async function buildSizeDataset(options: SizeDatasetOptions): Promise<SizeDataset> {
  const sizes = options.sizes ?? DEFAULT_CHUNK_SIZES;
  const maxChunks = options.maxChunksPerSize ?? 48;
  const target = options.target ?? DEFAULT_SIZE_TARGET;
  if (sizes.some((s) => !Number.isInteger(s) || s < 1) || !Number.isInteger(maxChunks) || maxChunks < 1) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'chunk sizes and maxChunksPerSize must be positive integers');
  }
  const files = await listFiles(options.dir);
  const xs: Float32Array[] = [];
  const ys: number[] = [];
  const groups: string[] = [];
  const chunkSizes: number[] = [];
  for (const file of files) {
    const bytes = new Uint8Array(await readFile(join(options.dir, file)));
    for (const size of sizes) {
      for (const offset of chunkOffsets(bytes.byteLength, size, maxChunks)) {
        const chunk = bytes.subarray(offset, offset + size);
        xs.push(compressionSizeFeatures(chunk));
        ys.push(compressedRatio(chunk, target));
        groups.push(file);
        chunkSizes.push(size);
      }
    }
  }
  if (xs.length === 0) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `no chunk of sizes ${sizes.join(',')} fits in the files of ${options.dir}`);
  }
  const x = new Float32Array(xs.length * COMPRESSION_SIZE_FEATURES);
  xs.forEach((row, i) => x.set(row, i * COMPRESSION_SIZE_FEATURES));
  return {
    dataset: {
      inputs: COMPRESSION_SIZE_FEATURES,
      outputs: 1,
      rows: xs.length,
      x,
      y: Float32Array.from(ys),
      groups,
      featureNames: COMPRESSION_SIZE_FEATURE_NAMES,
      targetNames: [`ratio:${sizeTargetLabel(target)}`],
    },
    files,
    chunkSizes: Uint32Array.from(chunkSizes),
    source: `chunks of ${files.length} files (sizes ${sizes[0]}..${sizes.at(-1)} B, ≤${maxChunks} per size) → ${sizeTargetLabel(target)} ratio`,
  };
}

/** Offsets of up to `max` non-overlapping chunks of `size` spread evenly over `length` bytes. */
export function chunkOffsets(length: number, size: number, max: number): number[] {
  const fit = Math.floor(length / size);
  const count = Math.min(fit, max);
  if (count === 0) return [];
  if (count === 1) return [0];
  const stride = Math.floor((length - size) / (count - 1));
  return Array.from({ length: count }, (_, i) => i * stride);
}

async function listFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `cannot read the corpus directory ${dir}`, { cause: err });
  }
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

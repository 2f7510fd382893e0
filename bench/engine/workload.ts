import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createPrng, defaultTracesDir, loadTrace, type TracePatch } from '../../src/workload/index.ts';

/** The default trace: Martin Kleppmann's editing of the Automerge paper (260k sequential edits). */
export const DEFAULT_TRACE = 'automerge-paper.json.gz';
/** Edits of the synthetic fallback (full run); `--quick` uses its own prefix length. */
const SYNTHETIC_EDITS = 100_000;

/** A sequential single-writer workload: one entry of `edits` per trace transaction. */
export interface BenchWorkload {
  /** The trace file name, or `synthetic`. */
  readonly source: string;
  readonly synthetic: boolean;
  /** Why the workload is not the requested trace (absent file, prefix), for the output. */
  readonly notes: readonly string[];
  readonly startContent: string;
  /** The text after every edit: the reader's final text must equal it. */
  readonly endContent: string;
  readonly edits: readonly (readonly TracePatch[])[];
  /** Total transactions in the source (before any prefix cut). */
  readonly sourceEdits: number;
  /** True if any text has characters outside the BMP (then code points ≠ UTF-16 units, which Yjs counts). */
  readonly astral: boolean;
}

const ASTRAL = /[\uD800-\uDFFF]/;

/** Applies patches (positions in code points) to `start`; used for prefixes and synthetic workloads. */
export function replayText(start: string, edits: readonly (readonly TracePatch[])[]): string {
  const chars = Array.from(start);
  for (const patches of edits) for (const [pos, del, ins] of patches) chars.splice(pos, del, ...Array.from(ins));
  return chars.join('');
}

/**
 * Loads `tracePath` (default: the shared traces folder's automerge-paper trace) as a sequential
 * workload, cut to the first `limit` transactions when given. When the file is absent it says so in
 * `notes` and returns a deterministic synthetic typist instead, so the benchmark still runs.
 */
export async function loadBenchWorkload(options: { tracePath?: string; limit?: number }): Promise<BenchWorkload> {
  const path = options.tracePath ?? join(defaultTracesDir(), DEFAULT_TRACE);
  if (!existsSync(path)) {
    const count = options.limit ?? SYNTHETIC_EDITS;
    return { ...syntheticWorkload(count), notes: [`trace ${path} is absent: using a synthetic sequential typist (${count} edits)`] };
  }
  const trace = await loadTrace(path);
  if (trace.kind !== 'sequential') throw new Error(`${basename(path)} is a concurrent trace; the replay needs a sequential one`);
  const notes: string[] = [];
  let edits = trace.txns.map((t) => t.patches);
  let endContent = trace.endContent;
  if (options.limit !== undefined && options.limit < edits.length) {
    edits = edits.slice(0, options.limit);
    endContent = replayText(trace.startContent, edits);
    notes.push(`prefix of ${options.limit} of ${trace.txns.length} transactions`);
  }
  const astral = ASTRAL.test(trace.startContent) || edits.some((ps) => ps.some((p) => ASTRAL.test(p[2])));
  return {
    source: basename(path),
    synthetic: false,
    notes,
    startContent: trace.startContent,
    endContent,
    edits,
    sourceEdits: trace.txns.length,
    astral,
  };
}

/** A typist: mostly types at a cursor, sometimes backspaces or moves. Deterministic (seeded). */
function syntheticWorkload(count: number): Omit<BenchWorkload, 'notes'> {
  const rng = createPrng(0x5eed);
  const words = ['sync', 'local-first', 'CRDT', 'café', 'merge', 'replica', 'offline', 'the', 'a', 'of'];
  const edits: TracePatch[][] = [];
  let length = 0;
  let cursor = 0;
  for (let i = 0; i < count; i++) {
    const r = rng.next();
    if (r < 0.05 && length > 0) cursor = rng.int(length + 1);
    if (r < 0.1 && cursor > 0) {
      edits.push([[cursor - 1, 1, '']]);
      cursor--;
      length--;
      continue;
    }
    const text = r < 0.13 ? `${rng.pick(words)} ` : String.fromCharCode(97 + rng.int(26));
    edits.push([[cursor, 0, text]]);
    cursor += text.length;
    length += text.length;
  }
  return {
    source: 'synthetic',
    synthetic: true,
    startContent: '',
    endContent: replayText('', edits),
    edits,
    sourceEdits: count,
    astral: false,
  };
}

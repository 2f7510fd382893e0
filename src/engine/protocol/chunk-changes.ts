import type { Change } from '../crdt/types.ts';
import { binaryChangeCodec } from './change-codec.ts';

/** The encoded size of one change in a CHANGES or SYNC frame, with a little room for framing. */
export function changeWireSize(change: Change): number {
  return binaryChangeCodec.encode(change).byteLength + 8;
}

/** Splits changes into runs whose summed size estimate stays under `maxBytes` (at least one change per run). */
export function chunkChanges(changes: readonly Change[], maxBytes: number, sizeOf: (c: Change) => number = changeWireSize): Change[][] {
  const out: Change[][] = [];
  let run: Change[] = [];
  let size = 0;
  for (const c of changes) {
    const s = sizeOf(c);
    if (run.length > 0 && size + s > maxBytes) {
      out.push(run);
      run = [];
      size = 0;
    }
    run.push(c);
    size += s;
  }
  if (run.length > 0) out.push(run);
  return out;
}

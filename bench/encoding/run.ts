/**
 * Encoding benchmark: encode + decode of a one-keystroke CHANGES frame, and CrdtDoc.save()/load()
 * of the automerge-paper document (each patch one change, as in test/integration/trace-replay).
 * Reports medians. Run: `node --import tsx bench/encoding/run.ts` (skips the trace when absent).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import { ROOT, type Change } from '../../src/engine/crdt/types.ts';
import { decodeFrame, encodeFrame } from '../../src/engine/protocol/frame-codec.ts';
import type { ProtocolMessage } from '../../src/engine/protocol/messages.ts';
import { PINNED_CHANGES } from '../../test/helpers/encoding-fixtures.ts';

const TRACE = fileURLToPath(new URL('../../../shared/data/traces/automerge-paper.json.gz', import.meta.url));
const RUNS = 7;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function keystroke(): void {
  const change = PINNED_CHANGES['keystroke'] as Change;
  const message: ProtocolMessage = { type: 'CHANGES', doc: 'doc-1', changes: [change] };
  const options = { maxFrameBytes: 1 << 20 };
  const n = 200_000;
  const samples: number[] = [];
  let bytes = 0;
  for (let run = 0; run < RUNS + 2; run++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) bytes = decodeFrame(encodeFrame(message), options).message.type === 'CHANGES' ? i : -1;
    const us = ((performance.now() - t0) * 1000) / n;
    if (run >= 2) samples.push(us);
  }
  if (bytes < 0) throw new Error('unexpected frame');
  console.log(`keystroke CHANGES frame (${encodeFrame(message).length} bytes): encode+decode ${median(samples).toFixed(2)} µs median`);
}

interface Trace {
  readonly txns: readonly { readonly time: string; readonly patches: readonly (readonly [number, number, string])[] }[];
}

function paper(): void {
  if (!existsSync(TRACE)) {
    console.log(`automerge-paper: skipped, ${TRACE} not found`);
    return;
  }
  const trace = JSON.parse(gunzipSync(readFileSync(TRACE)).toString('utf8')) as Trace;
  const doc = new CrdtDoc(actorId('author'));
  const c0 = doc.change((tx) => tx.makeText(ROOT, 'text'), 0);
  if (c0 === undefined) throw new Error('no change');
  const text = `${c0.startOp}@author`;
  for (const txn of trace.txns) {
    const time = Date.parse(txn.time);
    for (const [pos, del, ins] of txn.patches) {
      doc.change((tx) => {
        if (del > 0) tx.deleteText(text, pos, del);
        if (ins !== '') tx.insertText(text, pos, ins);
      }, time);
    }
  }
  const slim = CrdtDoc.load(actorId('slim'), doc.save(), { keepHistory: false });
  for (const [label, d] of [
    ['with history', doc],
    ['without history', slim],
  ] as const) {
    const saves: number[] = [];
    const loads: number[] = [];
    let size = 0;
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      const bytes = d.save();
      const t1 = performance.now();
      CrdtDoc.load(actorId('loaded'), bytes);
      const t2 = performance.now();
      saves.push(t1 - t0);
      loads.push(t2 - t1);
      size = bytes.length;
    }
    console.log(
      `automerge-paper ${label} (${doc.clock()['author']} changes, ${size} bytes): save ${median(saves).toFixed(1)} ms, load ${median(loads).toFixed(1)} ms (medians of ${RUNS})`,
    );
  }
}

console.log(`node ${process.version}`);
keystroke();
paper();

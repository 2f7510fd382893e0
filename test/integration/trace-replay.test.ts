/**
 * Replays real editing traces (Martin Kleppmann's automerge-paper, Joseph Gentle's seph-blog1)
 * through CrdtDoc: every patch as one local change, then every change applied to fresh replicas,
 * in order and shuffled within causal constraints, then a save/load round trip.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { actorId } from '../../src/core/ids.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import { ROOT, type Change } from '../../src/engine/crdt/types.ts';

const TRACES = fileURLToPath(new URL('../../../shared/data/traces/', import.meta.url));
/** A generous ceiling that only a complexity regression (e.g. quadratic sequences) would hit. */
const CEILING_MS = 30_000;

interface Trace {
  readonly endContent: string;
  readonly txns: readonly { readonly time: string; readonly patches: readonly (readonly [number, number, string])[] }[];
}

function loadTrace(name: string): Trace {
  const trace = JSON.parse(gunzipSync(readFileSync(`${TRACES}${name}.json.gz`)).toString('utf8')) as Trace;
  assert.ok(typeof trace.endContent === 'string' && Array.isArray(trace.txns), `${name} is not a trace`);
  return trace;
}

function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const out = fn();
  return [out, performance.now() - t0];
}

/** Seeded shuffle of each block of `size` changes (a block always completes the chain it starts). */
function shuffleBlocks(changes: readonly Change[], size: number, seed: number): Change[][] {
  let s = seed;
  const random = (): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const blocks: Change[][] = [];
  for (let i = 0; i < changes.length; i += size) {
    const block = changes.slice(i, i + size);
    for (let k = block.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1));
      [block[k], block[j]] = [block[j] as Change, block[k] as Change];
    }
    // A few re-deliveries, as a flaky network would produce.
    blocks.push(block.concat(block.slice(0, 3)));
  }
  return blocks;
}

for (const name of ['automerge-paper', 'seph-blog1']) {
  const present = existsSync(`${TRACES}${name}.json.gz`);
  describe(`trace replay: ${name}`, () => {
    test(
      'local edits, remote apply (in order and shuffled), save/load all reach endContent',
      { skip: present ? false : `trace data not found in ${TRACES} (shared/data is absent)` },
      (t) => {
        const trace = loadTrace(name);
        const author = new CrdtDoc(actorId('author'));
        const text = must(author.change((tx) => tx.makeText(ROOT, 'text'), 0)).startOp + '@author';
        const [changes, localMs] = timed(() => {
          const out: Change[] = [];
          for (const txn of trace.txns) {
            const time = Date.parse(txn.time);
            for (const [pos, del, ins] of txn.patches) {
              const c = author.change((tx) => {
                if (del > 0) tx.deleteText(text, pos, del);
                if (ins !== '') tx.insertText(text, pos, ins);
              }, time);
              if (c !== undefined) out.push(c);
            }
          }
          return out;
        });
        assert.equal(author.text(text), trace.endContent);
        const all = author.changesSince({});
        assert.equal(all.length, changes.length + 1);

        const replica = new CrdtDoc(actorId('replica'), { keepHistory: false });
        const [result, remoteMs] = timed(() => replica.applyChanges(all));
        assert.equal(result.applied.length, all.length);
        assert.equal(replica.text(text), trace.endContent);
        assert.deepEqual(replica.clock(), author.clock());

        const shuffled = new CrdtDoc(actorId('shuffled'), { keepHistory: false });
        const [, shuffledMs] = timed(() => {
          for (const block of shuffleBlocks(all, 500, 42)) {
            const r = shuffled.applyChanges(block);
            assert.equal(r.pending, 0);
          }
        });
        assert.equal(shuffled.text(text), trace.endContent);

        const [bytes, saveMs] = timed(() => replica.save());
        const [loaded, loadMs] = timed(() => CrdtDoc.load(actorId('loaded'), bytes));
        assert.equal(loaded.text(text), trace.endContent);
        const withHistory = author.save();
        assert.equal(CrdtDoc.load(actorId('loaded'), withHistory).changesSince({}).length, all.length);

        const patches = changes.length;
        t.diagnostic(
          `${name}: ${patches} changes; local change() ${localMs.toFixed(0)} ms, applyChanges in order ${remoteMs.toFixed(0)} ms, shuffled blocks ${shuffledMs.toFixed(0)} ms`,
        );
        t.diagnostic(
          `${name}: save ${saveMs.toFixed(0)} ms (${bytes.length} bytes without history, ${withHistory.length} with), load ${loadMs.toFixed(0)} ms`,
        );
        for (const [what, ms] of [
          ['local', localMs],
          ['remote', remoteMs],
          ['shuffled', shuffledMs],
        ] as const) {
          assert.ok(ms < CEILING_MS, `${what} replay took ${ms.toFixed(0)} ms`);
        }
      },
    );
  });
}

function must<T>(v: T | undefined): T {
  assert.ok(v !== undefined);
  return v;
}

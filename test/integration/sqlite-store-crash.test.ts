import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { docId } from '../../src/core/ids.ts';
import type { Change } from '../../src/engine/crdt/types.ts';
import { SqliteDocStore } from '../../src/engine/store/sqlite-store.ts';
import type { ChangeCodec } from '../../src/engine/store/types.ts';

const jsonCodec: ChangeCodec = {
  encode: (change) => new TextEncoder().encode(JSON.stringify(change)),
  decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as Change,
};
/** Must match `expectedValue` in the fixture. */
const expectedValue = (doc: string, actor: string, seq: number): string => `${doc}/${actor}/${seq}/`.padEnd(40 + ((seq * 37) % 1500), '#');

const fixture = fileURLToPath(new URL('../fixtures/sqlite-append-loop.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'syncpilot-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Round {
  readonly lines: string[];
  readonly killedAfterMs: number;
}

/** Runs the fixture until it has acknowledged something, waits a random while, then SIGKILLs it. */
function runAndKill(path: string, seed: number, durability: 'process' | 'power'): Promise<Round> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, String(seed), durability], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let killedAfterMs = -1;
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fixture never acknowledged a change; stderr: ${err}`));
    }, 20_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (killedAfterMs < 0 && out.includes('\nack ')) {
        killedAfterMs = 20 + Math.floor(Math.random() * 400);
        setTimeout(() => child.kill('SIGKILL'), killedAfterMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') reject(new Error(`fixture exited by itself (code ${String(code)}); stderr: ${err}`));
      // The last line may be cut off by the kill: only complete lines count as acknowledged.
      else resolve({ lines: out.split('\n').slice(0, -1), killedAfterMs });
    });
  });
}

test('every change acknowledged before a kill -9 is in the store, which reopens cleanly', { timeout: 120_000 }, async () => {
  const path = join(dir, 'crash.db');
  const acked = new Map<string, Set<string>>(); // doc -> "actor seq"
  const snaps = new Map<string, number>(); // doc -> highest acknowledged snapshot changeCount
  const holds = new Set<string>();
  let total = 0;
  const rounds = 4;
  for (let round = 0; round < rounds; round++) {
    const durability = round % 2 === 0 ? 'process' : 'power';
    const { lines, killedAfterMs } = await runAndKill(path, 1000 + round, durability);
    for (const line of lines) {
      const [kind, a, b, c] = line.split(' ');
      if (kind === 'ack' && a !== undefined) {
        const set = acked.get(a) ?? new Set<string>();
        set.add(`${b} ${c}`);
        acked.set(a, set);
        total++;
      } else if (kind === 'snap' && a !== undefined) snaps.set(a, Math.max(snaps.get(a) ?? 0, Number(b)));
      else if (kind === 'hold' && a !== undefined) holds.add(a);
    }
    const context = `round ${round} (${durability}), killed ${killedAfterMs} ms after the first ack, ${total} acks so far`;

    const store = SqliteDocStore.open({ path, codec: jsonCodec }); // runs the integrity check
    try {
      for (const [doc, expected] of acked) {
        const changes = store.loadChanges(docId(doc));
        assert.equal(store.changeCount(docId(doc)), changes.length, context);
        const stored = new Set<string>();
        const maxSeq = new Map<string, number>();
        for (const c of changes) {
          stored.add(`${c.actor} ${c.seq}`);
          maxSeq.set(c.actor, Math.max(maxSeq.get(c.actor) ?? 0, c.seq));
          const op = c.ops[0];
          assert.ok(
            op?.action === 'set' && op.value === expectedValue(doc, c.actor, c.seq),
            `torn change ${doc} ${c.actor} ${c.seq}; ${context}`,
          );
        }
        for (const id of expected) assert.ok(stored.has(id), `acknowledged change ${doc} ${id} is missing; ${context}`);
        // Batches commit whole: each actor's seqs are 1..max without gaps.
        for (const [actor, max] of maxSeq)
          assert.equal(changes.filter((c) => c.actor === actor).length, max, `gap in ${doc} ${actor}; ${context}`);
        const snap = snaps.get(doc);
        if (snap !== undefined)
          assert.ok((store.latestSnapshot(docId(doc))?.changeCount ?? -1) >= snap, `acknowledged snapshot of ${doc} lost; ${context}`);
      }
      const storedHolds = new Set(store.listHolds().map((h) => h.id));
      for (const id of holds) assert.ok(storedHolds.has(id), `acknowledged hold ${id} is missing; ${context}`);
    } finally {
      store.close();
    }
  }
  assert.ok(total > rounds, `the fixture should have acknowledged changes (got ${total})`);
});

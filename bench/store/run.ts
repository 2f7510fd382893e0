// Document store benchmark (not part of npm test): append throughput and loadChanges latency.
// Run: node --import tsx bench/store/run.ts [--runs 5]
// Prints medians of several runs, with the bare better-sqlite3 insert and the in-memory store side
// by side, so that the store's own overhead is visible next to SQLite's and the codec's.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { actorId, docId } from '../../src/core/ids.ts';
import { ROOT, type Change } from '../../src/engine/crdt/types.ts';
import { MemoryDocStore } from '../../src/engine/store/memory-store.ts';
import { SqliteDocStore, type Durability } from '../../src/engine/store/sqlite-store.ts';
import type { ChangeCodec, DocStore } from '../../src/engine/store/types.ts';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 5;
const ACTORS = 20;
const LARGE = 100_000;

// The binary wire codec is written elsewhere; JSON stands in (stored bytes are ~2x larger).
const codec: ChangeCodec = {
  encode: (change) => new TextEncoder().encode(JSON.stringify(change)),
  decode: (bytes) => JSON.parse(new TextDecoder().decode(bytes)) as Change,
};

const dir = mkdtempSync(join(tmpdir(), 'syncpilot-bench-store-'));
let files = 0;
const freshPath = (): string => join(dir, `b${++files}.db`);

function makeLog(count: number): Change[] {
  const seqs = new Array<number>(ACTORS).fill(0);
  const out: Change[] = [];
  for (let i = 0; i < count; i++) {
    const a = (i * 7919) % ACTORS;
    const seq = ++seqs[a]!;
    out.push({
      actor: actorId(`actor-${a.toString().padStart(2, '0')}-5f0c9a7e`),
      seq,
      startOp: i * 2 + 1,
      deps: { [`actor-${((a + 1) % ACTORS).toString().padStart(2, '0')}-5f0c9a7e`]: seqs[(a + 1) % ACTORS]! },
      time: 1_700_000_000_000 + i,
      ops: [
        { action: 'set', obj: ROOT, key: `field-${i % 50}`, value: `value ${i} lorem ipsum dolor`, pred: [`${i * 2 - 1}@actor`] },
        { action: 'ins', obj: '3@actor-00-5f0c9a7e', after: `${i * 2}@actor`, values: ['a', 'b', 'c'] },
      ],
    });
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function timeMs(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Appends `log` in batches of `batch` to a fresh store; returns changes per second. */
function appendRate(open: () => { store: DocStore; close: () => void }, log: readonly Change[], batch: number): number {
  const { store, close } = open();
  const doc = docId('bench');
  const ms = timeMs(() => {
    for (let i = 0; i < log.length; i += batch) store.appendChanges(doc, log.slice(i, i + batch));
  });
  close();
  return (log.length / ms) * 1000;
}

/** The floor: the same encoded rows into one plain table, one transaction per batch, no bookkeeping. */
function bareRate(log: readonly Change[], batch: number, durability: Durability): number {
  const db = new Database(freshPath());
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durability === 'power' ? 'FULL' : 'NORMAL'}`);
  db.exec('CREATE TABLE changes (actor TEXT, seq INTEGER, data BLOB, PRIMARY KEY (actor, seq))');
  const insert = db.prepare('INSERT OR IGNORE INTO changes VALUES (?, ?, ?)');
  const tx = db.transaction((rows: readonly Change[]) => {
    for (const c of rows) insert.run(c.actor, c.seq, codec.encode(c));
  });
  const ms = timeMs(() => {
    for (let i = 0; i < log.length; i += batch) tx.immediate(log.slice(i, i + batch));
  });
  db.close();
  return (log.length / ms) * 1000;
}

const sqlite = (durability: Durability) => () => {
  const store = SqliteDocStore.open({ path: freshPath(), codec, durability });
  return { store, close: () => store.close() };
};
const memory = () => {
  const store = new MemoryDocStore({ codec });
  return { store, close: () => store.close() };
};

function row(label: string, values: number[], unit: string, digits = 0): void {
  console.log(
    `${label.padEnd(58)} ${fmt(median(values), digits).padStart(12)} ${unit}   (runs: ${values.map((v) => fmt(v, digits)).join(', ')})`,
  );
}

try {
  console.log(
    `node ${process.version}, SQLite ${String(new Database(':memory:').prepare('SELECT sqlite_version()').pluck().get())}, median of ${RUNS} runs, JSON codec\n`,
  );
  const small = makeLog(2000);
  const medium = makeLog(20_000);
  const collect = (fn: () => number): number[] => Array.from({ length: RUNS }, fn);

  console.log('appendChanges throughput');
  row(
    '  batch of 1,   SqliteDocStore durability=process',
    collect(() => appendRate(sqlite('process'), small, 1)),
    'changes/s',
  );
  row(
    '  batch of 1,   bare better-sqlite3 (synchronous=NORMAL)',
    collect(() => bareRate(small, 1, 'process')),
    'changes/s',
  );
  row(
    '  batch of 1,   SqliteDocStore durability=power',
    collect(() => appendRate(sqlite('power'), small.slice(0, 300), 1)),
    'changes/s',
  );
  row(
    '  batch of 1,   bare better-sqlite3 (synchronous=FULL)',
    collect(() => bareRate(small.slice(0, 300), 1, 'power')),
    'changes/s',
  );
  row(
    '  batch of 100, SqliteDocStore durability=process',
    collect(() => appendRate(sqlite('process'), medium, 100)),
    'changes/s',
  );
  row(
    '  batch of 100, bare better-sqlite3 (synchronous=NORMAL)',
    collect(() => bareRate(medium, 100, 'process')),
    'changes/s',
  );
  row(
    '  batch of 100, SqliteDocStore durability=power',
    collect(() => appendRate(sqlite('power'), medium, 100)),
    'changes/s',
  );
  row(
    '  batch of 100, MemoryDocStore (encodes with the codec)',
    collect(() => appendRate(memory, medium, 100)),
    'changes/s',
  );

  const large = makeLog(LARGE);
  const path = freshPath();
  const build = SqliteDocStore.open({ path, codec });
  const mem = new MemoryDocStore({ codec });
  const doc = docId('large');
  for (let i = 0; i < large.length; i += 1000) {
    build.appendChanges(doc, large.slice(i, i + 1000));
    mem.appendChanges(doc, large.slice(i, i + 1000));
  }
  build.close();
  const heads: Record<string, number> = {};
  for (const c of large) heads[c.actor] = c.seq;
  const covering = (fraction: number): Record<string, number> =>
    Object.fromEntries(Object.entries(heads).map(([a, s]) => [a, Math.floor(s * fraction)]));

  console.log(`\nloadChanges of a ${fmt(LARGE)}-change document (${fmt(statSync(path).size / 1e6, 1)} MB file, ${ACTORS} actors)`);
  const openTimes: number[] = [];
  let store: SqliteDocStore | undefined;
  for (let r = 0; r < RUNS; r++) {
    store?.close();
    openTimes.push(timeMs(() => (store = SqliteDocStore.open({ path, codec }))));
  }
  const s = store as unknown as SqliteDocStore;
  row('  open with integrity check (quick_check)', openTimes, 'ms', 1);
  row(
    '  open without integrity check',
    collect(() => timeMs(() => SqliteDocStore.open({ path, codec, integrityCheck: 'none' }).close())),
    'ms',
    1,
  );
  const check = (n: number, expected: number): void => {
    if (n !== expected) throw new Error(`loaded ${n} changes, expected ${expected}`);
  };
  row(
    '  SqliteDocStore, no since (all 100k)',
    collect(() => timeMs(() => check(s.loadChanges(doc).length, LARGE))),
    'ms',
    1,
  );
  const since90 = covering(0.9);
  const n90 = large.filter((c) => c.seq > (since90[c.actor] ?? 0)).length;
  row(
    `  SqliteDocStore, since covers 90% (${fmt(n90)} returned)`,
    collect(() => timeMs(() => check(s.loadChanges(doc, since90).length, n90))),
    'ms',
    1,
  );
  const since99 = covering(0.99);
  const n99 = large.filter((c) => c.seq > (since99[c.actor] ?? 0)).length;
  row(
    `  SqliteDocStore, since covers 99% (${fmt(n99)} returned)`,
    collect(() => timeMs(() => check(s.loadChanges(doc, since99).length, n99))),
    'ms',
    2,
  );
  row(
    '  SqliteDocStore, since covers 100% (0 returned)',
    collect(() => timeMs(() => check(s.loadChanges(doc, heads).length, 0))),
    'ms',
    3,
  );
  row(
    '  MemoryDocStore, no since (decodes too)',
    collect(() => timeMs(() => check(mem.loadChanges(doc).length, LARGE))),
    'ms',
    1,
  );
  row(
    '  MemoryDocStore, since covers 90%',
    collect(() => timeMs(() => check(mem.loadChanges(doc, since90).length, n90))),
    'ms',
    1,
  );
  const encoded = large.map((c) => codec.encode(c));
  row(
    '  codec alone: decode 100k changes (JSON)',
    collect(() => timeMs(() => encoded.forEach((b) => codec.decode(b)))),
    'ms',
    1,
  );
  s.close();
  mem.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

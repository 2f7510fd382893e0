import { monitorEventLoopDelay } from 'node:perf_hooks';
import { WebSocket as NodeWs } from 'ws';
import * as Y from 'yjs';
import { LatencyRecorder } from '../../src/cli/demo/latency-recorder.ts';
import { SyncClient, type WebSocketConstructor } from '../../src/engine/client/sync-client.ts';
import { ROOT, type ObjId } from '../../src/engine/crdt/types.ts';
import { createPrng, type Prng } from '../../src/workload/index.ts';
import { ChildHandle, type ChildStats } from './child-ipc.ts';
import { closeSockets, openSocket } from './replay-yjs.ts';
import type { ServerStore } from './server-child.ts';
import type { LatencySummary } from './stats.ts';

const NodeWebSocket = NodeWs as unknown as WebSocketConstructor;

/** The budget of the issue: p99 end-to-end latency with 100 concurrent typists under 10 ms. */
export const MANY_CLIENTS_P99_BUDGET_MS = 10;

/** Shape of the workload: `docs × perDoc` clients, each typing every 50–100 ms; latency measured after a warm-up. */
export interface ManyClientsOptions {
  readonly docs: number;
  readonly perDoc: number;
  /** Typing before measuring starts: JIT and caches of a fresh server warm up (reported apart). */
  readonly warmupMs: number;
  /** Measured typing after the warm-up. */
  readonly durationMs: number;
  readonly minIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly seed: number;
}

export const DEFAULT_MANY_CLIENTS: ManyClientsOptions = {
  docs: 10,
  perDoc: 10,
  warmupMs: 2_000,
  durationMs: 10_000,
  minIntervalMs: 50,
  maxIntervalMs: 100,
  seed: 7,
};

/** One run: every delivery of every edit to every other client of its document. */
export interface ManyClientsRun {
  readonly clients: number;
  /** Edits made in the measured phase. */
  readonly edits: number;
  /** Deliveries of those edits. */
  readonly deliveries: number;
  readonly expectedDeliveries: number;
  /** Over the measured phase's deliveries. */
  readonly latencyMs: LatencySummary;
  /** Over the warm-up's deliveries (a fresh server process): kept apart, reported for honesty. */
  readonly warmupLatencyMs: LatencySummary;
  /** The client process's event-loop delay while typing (measured phase): how much of the latency is this process being busy. */
  readonly clientLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** The server process's event-loop delay in the measured phase (synchronous SQLite work, GC). */
  readonly serverLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Every edit (warm-up included) reached every other client, and all clients of a document ended with the same text. */
  readonly converged: boolean;
  readonly serverStats: unknown;
}

/** One typist: `edit` makes one keystroke (insert a letter, or sometimes backspace) and returns its delivery key. */
interface Typist {
  edit(rng: Prng): string | undefined;
  text(): string;
  readonly doc: number;
}

const SETTLE_MS = 30_000;

/** When each edit was started, and the latency of each delivery, split into warm-up and measured phases. */
class DeliveryLog {
  readonly #sentAt = new Map<string, number>();
  readonly steady = new LatencyRecorder();
  readonly warmup = new LatencyRecorder();
  measureFrom = Number.POSITIVE_INFINITY;

  sent(key: string, t0: number): void {
    this.#sentAt.set(key, t0);
  }

  delivered(key: string, now: number): void {
    const t = this.#sentAt.get(key);
    if (t === undefined) return;
    (t >= this.measureFrom ? this.steady : this.warmup).record(now - t);
  }

  get count(): number {
    return this.steady.count + this.warmup.count;
  }
}

const summary = (r: LatencyRecorder): LatencySummary => {
  const s = r.summary();
  return { p50: s.p50, p99: s.p99, max: s.max, samples: s.count };
};

/**
 * Runs every typist on its own randomised timer for the warm-up and the measured duration, then
 * waits until every edit reached every other client of its document (or SETTLE_MS passed).
 */
async function type(
  typists: readonly Typist[],
  o: ManyClientsOptions,
  log: DeliveryLog,
  onMeasureStart: () => Promise<void>,
): Promise<{ edits: number; allEdits: number; settled: boolean; loop: ManyClientsRun['clientLoopDelayMs'] }> {
  const rng = createPrng(o.seed);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  let edits = 0;
  let allEdits = 0;
  let stopped = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const schedule = (t: Typist): void => {
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        if (stopped) return;
        const t0 = performance.now();
        const key = t.edit(rng);
        if (key !== undefined) {
          log.sent(key, t0);
          allEdits++;
          if (t0 >= log.measureFrom) edits++;
        }
        schedule(t);
      },
      o.minIntervalMs + rng.next() * (o.maxIntervalMs - o.minIntervalMs),
    );
    timers.add(timer);
  };
  for (const t of typists) schedule(t);
  await new Promise((resolve) => setTimeout(resolve, o.warmupMs));
  await onMeasureStart();
  log.measureFrom = performance.now();
  loop.enable();
  await new Promise((resolve) => setTimeout(resolve, o.durationMs));
  stopped = true;
  for (const timer of timers) clearTimeout(timer);
  loop.disable();
  const expected = allEdits * (o.perDoc - 1);
  const until = performance.now() + SETTLE_MS;
  while (log.count < expected && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
  const ms = (ns: number): number => ns / 1e6;
  return {
    edits,
    allEdits,
    settled: log.count >= expected,
    loop: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
  };
}

function converged(typists: readonly Typist[]): boolean {
  const byDoc = new Map<number, string>();
  for (const t of typists) {
    const text = t.text();
    const seen = byDoc.get(t.doc);
    if (seen === undefined) byDoc.set(t.doc, text);
    else if (seen !== text) return false;
  }
  return true;
}

function result(
  clients: number,
  run: Awaited<ReturnType<typeof type>>,
  log: DeliveryLog,
  o: ManyClientsOptions,
  same: boolean,
  serverStats: ChildStats,
): ManyClientsRun {
  return {
    clients,
    edits: run.edits,
    deliveries: log.steady.count,
    expectedDeliveries: run.edits * (o.perDoc - 1),
    latencyMs: summary(log.steady),
    warmupLatencyMs: summary(log.warmup),
    clientLoopDelayMs: run.loop,
    serverLoopDelayMs: serverStats.loopDelayMs,
    converged: run.settled && same,
    serverStats,
  };
}

/** A keystroke on a text of `length` characters: mostly a letter at a random place, one in ten a backspace. */
function keystroke(rng: Prng, length: number): { pos: number; del: boolean; char: string } {
  if (length > 0 && rng.next() < 0.1) return { pos: rng.int(length), del: true, char: '' };
  return { pos: rng.int(length + 1), del: false, char: String.fromCharCode(97 + rng.int(26)) };
}

/** `docs × perDoc` SyncClients in this process against a fresh server child (default SQLite: the embedded stack). */
export async function manyClientsOurs(
  o: ManyClientsOptions = DEFAULT_MANY_CLIENTS,
  store: ServerStore = 'sqlite',
): Promise<ManyClientsRun> {
  const server = await ChildHandle.start('./server-child.ts', [store]);
  const clients: SyncClient[] = [];
  const log = new DeliveryLog();
  const errors: string[] = [];
  try {
    const typists: Typist[] = [];
    for (let d = 0; d < o.docs; d++) {
      const docName = `many-${d}`;
      const members: SyncClient[] = [];
      for (let i = 0; i < o.perDoc; i++) {
        const c = new SyncClient({ url: server.url, actor: `typist-${d}-${i}`, WebSocket: NodeWebSocket, reconnect: false });
        c.on('error', (e) => errors.push(`${c.actor}: ${e.code} ${e.message}`));
        members.push(c);
        clients.push(c);
      }
      // The first member creates the shared text; the others join once it is durable.
      const first = members[0] as SyncClient;
      const fdoc = first.open(docName);
      await first.connect();
      await fdoc.whenSynced();
      fdoc.change((tx) => void tx.makeText(ROOT, 'text'));
      await fdoc.whenAcked();
      await Promise.all(members.slice(1).map((c) => c.connect()));
      for (const c of members) {
        const doc = c.open(docName);
        await doc.whenSynced();
        const ref = doc.crdt.get(ROOT, 'text');
        if (ref?.kind !== 'object') throw new Error(`${c.actor} did not receive the text object of ${docName}`);
        const text: ObjId = ref.id;
        doc.on('change', (changes, origin) => {
          if (origin !== 'remote') return;
          const now = performance.now();
          for (const ch of changes) log.delivered(`${docName}|${ch.actor}|${ch.seq}`, now);
        });
        typists.push({
          doc: d,
          text: () => doc.crdt.text(text),
          edit(rng) {
            const k = keystroke(rng, doc.crdt.text(text).length);
            const change = doc.change((tx) => (k.del ? tx.deleteText(text, k.pos, 1) : tx.insertText(text, k.pos, k.char)));
            return change === undefined ? undefined : `${docName}|${change.actor}|${change.seq}`;
          },
        });
      }
    }
    const run = await type(typists, o, log, () => server.resetPeak());
    if (errors.length > 0) throw new Error(`ours (many clients): client errors: ${errors.slice(0, 3).join('; ')}`);
    return result(clients.length, run, log, o, converged(typists), await server.stats());
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  }
}

/**
 * The reference: the same typists with bare Yjs over the relay child. Each message is the Yjs
 * update behind an 8-byte header (writer number, edit number) so that receivers can attribute a
 * delivery to its edit; the relay forwards it as is.
 */
export async function manyClientsYjs(o: ManyClientsOptions = DEFAULT_MANY_CLIENTS): Promise<ManyClientsRun> {
  const relay = await ChildHandle.start('./yjs-relay-child.ts', []);
  const sockets: NodeWs[] = [];
  const log = new DeliveryLog();
  try {
    const typists: Typist[] = [];
    let writer = 0;
    for (let d = 0; d < o.docs; d++) {
      for (let i = 0; i < o.perDoc; i++) {
        const ws = await openSocket(`${relay.url}/many-${d}`);
        sockets.push(ws);
        const id = writer++;
        const doc = new Y.Doc();
        const text = doc.getText('text');
        let seq = 0;
        doc.on('update', (update: Uint8Array, origin: unknown) => {
          if (origin === 'remote') return;
          const frame = new Uint8Array(8 + update.byteLength);
          const view = new DataView(frame.buffer);
          view.setUint32(0, id);
          view.setUint32(4, seq);
          frame.set(update, 8);
          ws.send(frame);
        });
        ws.on('message', (data: Buffer) => {
          const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
          const key = `${view.getUint32(0)}|${view.getUint32(4)}`;
          Y.applyUpdate(doc, data.subarray(8), 'remote');
          log.delivered(key, performance.now());
        });
        typists.push({
          doc: d,
          text: () => text.toJSON(),
          edit(rng) {
            const k = keystroke(rng, text.length);
            seq++;
            if (k.del) text.delete(k.pos, 1);
            else text.insert(k.pos, k.char);
            return `${id}|${seq}`;
          },
        });
      }
    }
    const run = await type(typists, o, log, () => relay.resetPeak());
    return result(typists.length, run, log, o, converged(typists), await relay.stats());
  } finally {
    await closeSockets(sockets);
    await relay.close();
  }
}

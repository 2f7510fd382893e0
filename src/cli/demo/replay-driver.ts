import { SyncPilotError } from '../../core/errors.ts';
import type { DocId } from '../../core/ids.ts';
import type { ClientDoc } from '../../engine/client/client-doc.ts';
import { SyncClient, type WebSocketConstructor } from '../../engine/client/sync-client.ts';
import type { Change, VersionVector } from '../../engine/crdt/types.ts';
import type { SyncServer } from '../../engine/server/sync-server.ts';
import type { ConvertedTrace } from '../../workload/types.ts';
import { LatencyRecorder } from './latency-recorder.ts';

export interface ReplayOptions {
  readonly server: SyncServer;
  readonly WebSocket: WebSocketConstructor;
  readonly workload: ConvertedTrace;
  /** Total clients; each document gets one writer per agent, extra clients are readers spread over documents. */
  readonly clients: number;
  /** Stop submitting new changes after this many milliseconds (then let everything settle). */
  readonly durationMs?: number;
  /** Unacknowledged changes one writer may have in flight (like a typist ahead of the network). */
  readonly window?: number;
  readonly onProgress?: (p: ReplayProgress) => void;
  readonly docPrefix?: string;
}

export interface ReplayProgress {
  readonly submitted: number;
  readonly total: number;
  readonly elapsedMs: number;
}

export interface ReplayResult {
  readonly clients: number;
  readonly docs: number;
  readonly writers: number;
  readonly readers: number;
  /** Edits (trace transactions) replayed, over all documents. */
  readonly ops: number;
  readonly complete: boolean;
  readonly converged: boolean;
  /** Whether every replica equals the trace's endContent (undefined when not checkable). */
  readonly matchesEndContent: boolean | undefined;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly samples: number };
  readonly opsPerSec: number;
  readonly elapsedMs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly problems: readonly string[];
}

interface Writer {
  readonly client: SyncClient;
  readonly doc: ClientDoc;
  readonly docId: string;
  readonly changes: readonly Change[];
  next: number;
  done: boolean;
}

const SETTLE_TIMEOUT_MS = 60_000;

function covers(have: VersionVector, need: VersionVector, except: string): boolean {
  for (const [actor, seq] of Object.entries(need)) if (actor !== except && (have[actor] ?? 0) < seq) return false;
  return true;
}

/**
 * Replays a converted trace through real clients and a real server: each simulated user sends its
 * next change once it has seen that change's causal dependencies (as a person types on what they
 * see), with a bounded number of unacknowledged changes in flight. Measures end-to-end latency from
 * a writer's submit to each other client's receipt, and checks convergence at the end.
 */
export async function replayWorkload(options: ReplayOptions): Promise<ReplayResult> {
  const { workload, server } = options;
  const agents = workload.agents.length;
  if (options.clients < agents) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `this workload has ${agents} concurrent users; use --clients ${agents} or more`);
  }
  const docs = Math.max(1, Math.floor(options.clients / agents));
  const readers = options.clients - docs * agents;
  const window = options.window ?? 16;
  const prefix = options.docPrefix ?? 'demo';
  const latency = new LatencyRecorder();
  const sentAt = new Map<string, number>();
  const problems: string[] = [];
  const all: SyncClient[] = [];
  const writers: Writer[] = [];
  const replicas: { docId: string; doc: ClientDoc }[] = [];

  const track = (client: SyncClient, doc: ClientDoc, docId: string): void => {
    doc.on('change', (changes, origin) => {
      if (origin !== 'remote') return;
      const now = performance.now();
      for (const c of changes) {
        const t = sentAt.get(`${docId}|${c.actor}|${c.seq}`);
        if (t !== undefined) latency.record(now - t);
      }
    });
    client.on('error', (e, d) => {
      if (problems.length < 20) problems.push(`${client.actor}${d === undefined ? '' : ` on ${d}`}: ${e.code} ${e.message}`);
    });
    replicas.push({ docId, doc });
  };

  for (let d = 0; d < docs; d++) {
    const docId = `${prefix}-${d}`;
    server.room(docId as DocId).apply([workload.setup]);
    for (const agent of workload.agents) {
      const client = new SyncClient({ url: server.url, actor: agent.actor, WebSocket: options.WebSocket, clientName: 'syncpilot-demo' });
      const doc = client.open(docId);
      all.push(client);
      writers.push({ client, doc, docId, changes: agent.changes, next: 0, done: false });
      track(client, doc, docId);
    }
  }
  for (let r = 0; r < readers; r++) {
    const docId = `${prefix}-${r % docs}`;
    const client = new SyncClient({ url: server.url, WebSocket: options.WebSocket, clientName: 'syncpilot-demo-reader' });
    track(client, client.open(docId), docId);
    all.push(client);
  }

  await Promise.all(all.map((c) => c.connect()));
  await Promise.all(replicas.map((r) => r.doc.whenSynced()));

  const total = writers.reduce((n, w) => n + w.changes.length, 0);
  let submitted = 0;
  const t0 = performance.now();
  const deadline = options.durationMs === undefined ? Number.POSITIVE_INFINITY : t0 + options.durationMs;
  let stopped = false;

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let active = writers.length;
  const pump = (w: Writer): void => {
    if (w.done) return;
    while (w.next < w.changes.length) {
      if (stopped || performance.now() > deadline) {
        stopped = true;
        w.next = w.changes.length;
        break;
      }
      if (w.doc.pending.length >= window) return;
      const c = w.changes[w.next] as Change;
      if (!covers(w.doc.crdt.clock(), c.deps, c.actor)) return;
      sentAt.set(`${w.docId}|${c.actor}|${c.seq}`, performance.now());
      w.doc.submit([c]);
      w.next++;
      submitted++;
    }
    w.done = true;
    if (--active === 0) finish();
  };
  for (const w of writers) {
    const again = (): void => pump(w);
    w.doc.on('change', (_c, origin) => origin === 'remote' && again());
    w.doc.on('acked', again);
  }
  if (writers.length === 0) finish();
  for (const w of writers) pump(w);
  const progress = setInterval(() => options.onProgress?.({ submitted, total, elapsedMs: performance.now() - t0 }), 200);
  // Writers blocked on acks or dependencies need a nudge to notice the deadline.
  const nudge = setInterval(() => performance.now() > deadline && writers.forEach(pump), 50);
  await finished;
  clearInterval(progress);
  clearInterval(nudge);

  await settle(replicas, server, SETTLE_TIMEOUT_MS, problems);
  const elapsedMs = performance.now() - t0;
  options.onProgress?.({ submitted, total, elapsedMs });

  const complete = submitted === total;
  let converged = problems.every((p) => !p.startsWith('settle'));
  let matchesEndContent: boolean | undefined = complete && workload.endContent !== undefined ? true : undefined;
  for (const { docId, doc } of replicas) {
    const serverDoc = server.room(docId as DocId).doc;
    if (JSON.stringify(doc.crdt.toJSON()) !== JSON.stringify(serverDoc.toJSON())) {
      converged = false;
      problems.push(`${docId}: a replica differs from the server`);
    }
    if (matchesEndContent === true) {
      const ref = doc.crdt.get('root', workload.textKey);
      const text = ref?.kind === 'object' ? doc.crdt.text(ref.id) : undefined;
      if (text !== workload.endContent) {
        matchesEndContent = false;
        problems.push(`${docId}: text differs from the trace's endContent`);
      }
    }
  }
  const bytesSent = all.reduce((n, c) => n + c.bytesSent, 0);
  const bytesReceived = all.reduce((n, c) => n + c.bytesReceived, 0);
  await Promise.all(all.map((c) => c.close()));
  const lat = latency.summary();
  return {
    clients: all.length,
    docs,
    writers: writers.length,
    readers,
    ops: submitted,
    complete,
    converged,
    matchesEndContent,
    latencyMs: { p50: lat.p50, p99: lat.p99, max: lat.max, samples: lat.count },
    opsPerSec: submitted / (elapsedMs / 1000),
    elapsedMs,
    bytesSent,
    bytesReceived,
    problems,
  };
}

/** Waits until every replica has every change the server has and all local changes are acknowledged. */
async function settle(
  replicas: readonly { docId: string; doc: ClientDoc }[],
  server: SyncServer,
  timeoutMs: number,
  problems: string[],
): Promise<void> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    let behind = 0;
    for (const { docId, doc } of replicas) {
      const serverClock = server.room(docId as DocId).clock();
      if (doc.pending.length > 0 || !covers(doc.crdt.clock(), serverClock, '')) behind++;
    }
    if (behind === 0) return;
    if (performance.now() > until) {
      problems.push(`settle: ${behind} replicas still behind after ${timeoutMs} ms`);
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

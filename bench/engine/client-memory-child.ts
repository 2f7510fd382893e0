/**
 * Benchmark child: measures the memory one connected client costs, apart from its document's
 * content. In this otherwise idle process, after a warm-up and a full GC at each step:
 *   1. N bare documents with the small content (no client): their delta / N = the content's cost;
 *   2. those dropped, then N connected clients, each with one open document holding the same
 *      content, every change acknowledged: delta / N = a client with its document;
 *   per-client runtime = (2) − (1).
 * Reports through the IPC `stats` request.
 *   forked by client-memory.ts: client-memory-child.ts <ours|yjs> <server url> <count>
 */
import { WebSocket as NodeWs } from 'ws';
import * as Y from 'yjs';
import { actorId } from '../../src/core/ids.ts';
import { SyncClient, type WebSocketConstructor } from '../../src/engine/client/sync-client.ts';
import { CrdtDoc } from '../../src/engine/crdt/crdt-doc.ts';
import type { Transaction } from '../../src/engine/crdt/crdt-doc.ts';
import { ROOT } from '../../src/engine/crdt/types.ts';
import { failToParent, serveParent } from './child-ipc.ts';
import { closeSockets, openSocket } from './replay-yjs.ts';
import { fullGc } from './stats.ts';

const NodeWebSocket = NodeWs as unknown as WebSocketConstructor;

/** Memory deltas per item in bytes. */
export interface PerItem {
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Resident set: also counts native memory outside V8 (socket handles, allocator slack); noisy, not in the budget. */
  readonly rss: number;
}

/** What the child reports. */
export interface ClientMemoryResult {
  readonly clients: number;
  /** A bare document with the small content. */
  readonly docContent: PerItem;
  /** A connected client with its open document (content included). */
  readonly clientWithDoc: PerItem;
}

type Usage = PerItem;

async function usage(): Promise<Usage> {
  await fullGc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss };
}

function perItem(before: Usage, after: Usage, n: number): PerItem {
  return {
    heapUsed: (after.heapUsed - before.heapUsed) / n,
    external: (after.external - before.external) / n,
    arrayBuffers: (after.arrayBuffers - before.arrayBuffers) / n,
    rss: (after.rss - before.rss) / n,
  };
}

/** The small document every client holds: a title and a short text. */
function ourContent(tx: Transaction): void {
  tx.set(ROOT, 'title', 'Notes');
  const text = tx.makeText(ROOT, 'text');
  tx.insertText(text, 0, 'hello, local-first world');
}

function yjsContent(doc: Y.Doc): void {
  doc.transact(() => {
    doc.getMap('root').set('title', 'Notes');
    doc.getText('text').insert(0, 'hello, local-first world');
  });
}

/** Connected clients of ours; resolves once every client's document is synced and its change acknowledged. */
async function ourClients(url: string, n: number, prefix: string): Promise<SyncClient[]> {
  const clients: SyncClient[] = [];
  for (let i = 0; i < n; i++) {
    const c = new SyncClient({ url, actor: `${prefix}-${i}`, WebSocket: NodeWebSocket, reconnect: false });
    const doc = c.open(`${prefix}-doc-${i}`);
    await c.connect();
    await doc.whenSynced();
    doc.change(ourContent);
    await doc.whenAcked();
    clients.push(c);
  }
  return clients;
}

/** Connected Yjs clients: a Y.Doc and a socket each, updates sent and received like the replay's. */
async function yjsClients(url: string, n: number, prefix: string): Promise<{ docs: Y.Doc[]; sockets: NodeWs[] }> {
  const docs: Y.Doc[] = [];
  const sockets: NodeWs[] = [];
  for (let i = 0; i < n; i++) {
    const ws = await openSocket(`${url}/${prefix}-doc-${i}`);
    const doc = new Y.Doc();
    doc.on('update', (update: Uint8Array, origin: unknown) => origin !== 'remote' && ws.send(update));
    ws.on('message', (data: Buffer) => Y.applyUpdate(doc, data, 'remote'));
    yjsContent(doc);
    docs.push(doc);
    sockets.push(ws);
  }
  return { docs, sockets };
}

async function measureOurs(url: string, n: number): Promise<ClientMemoryResult> {
  // Warm-up: load and compile every code path once, so that code and caches are not counted per client.
  const warm = await ourClients(url, 3, 'warm');
  await Promise.all(warm.map((c) => c.close()));
  let bare: CrdtDoc[] = [];
  const m0 = await usage();
  for (let i = 0; i < n; i++) {
    const doc = new CrdtDoc(actorId(`bare-${i}`), { keepHistory: false });
    doc.change(ourContent);
    bare.push(doc);
  }
  const m1 = await usage();
  if (bare.length !== n) throw new Error('unreachable');
  bare = [];
  const m2 = await usage();
  const clients = await ourClients(url, n, 'mem');
  const m3 = await usage();
  const result = { clients: clients.length, docContent: perItem(m0, m1, n), clientWithDoc: perItem(m2, m3, n) };
  await Promise.all(clients.map((c) => c.close()));
  return result;
}

async function measureYjs(url: string, n: number): Promise<ClientMemoryResult> {
  const warm = await yjsClients(url, 3, 'warm');
  await closeSockets(warm.sockets);
  let bare: Y.Doc[] = [];
  const m0 = await usage();
  for (let i = 0; i < n; i++) {
    const doc = new Y.Doc();
    yjsContent(doc);
    bare.push(doc);
  }
  const m1 = await usage();
  if (bare.length !== n) throw new Error('unreachable');
  bare = [];
  const m2 = await usage();
  const { docs, sockets } = await yjsClients(url, n, 'mem');
  const m3 = await usage();
  const result = { clients: docs.length, docContent: perItem(m0, m1, n), clientWithDoc: perItem(m2, m3, n) };
  await closeSockets(sockets);
  return result;
}

async function main(): Promise<void> {
  const [kind, url, count] = process.argv.slice(2);
  const n = Number(count);
  if ((kind !== 'ours' && kind !== 'yjs') || url === undefined || !Number.isInteger(n) || n < 1)
    throw new Error('usage: client-memory-child.ts <ours|yjs> <url> <count>');
  const result = kind === 'ours' ? await measureOurs(url, n) : await measureYjs(url, n);
  serveParent('', { stats: () => result, close: () => Promise.resolve() });
}

main().catch(failToParent);

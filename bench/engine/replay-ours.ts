import { WebSocket } from 'ws';
import { SyncClient, type WebSocketConstructor } from '../../src/engine/client/sync-client.ts';
import { ROOT, type ObjId } from '../../src/engine/crdt/types.ts';
import { ChildHandle, type ChildStats, type MemorySample } from './child-ipc.ts';
import { FlowControl, assertText, type FlowResult } from './flow-control.ts';
import type { ServerStore } from './server-child.ts';
import type { BenchWorkload } from './workload.ts';

const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** One replay run of a system: the flow figures plus the server's memory and traffic. */
export interface ReplayRun extends FlowResult {
  /** Server process memory: idle before the clients came, and after the replay with the document still open. */
  readonly serverMemory: { readonly idle: MemorySample; readonly after: MemorySample };
  readonly writerBytesSent: number;
  readonly readerBytesReceived: number;
  /** The server's figures, with its event-loop delay during the replay. */
  readonly serverStats: ChildStats;
}

/**
 * Replays `workload` through our engine: writer SyncClient → server child (`store`) → reader
 * SyncClient, over loopback WebSocket. The writer makes each trace transaction as one
 * `ClientDoc.change` with insertText / deleteText on its text object. A fresh server process per run.
 * @throws Error when the reader's final text is not the workload's end content, or on a client error.
 */
export async function replayOurs(store: ServerStore, workload: BenchWorkload, window: number): Promise<ReplayRun> {
  const server = await ChildHandle.start('./server-child.ts', [store]);
  const clients: SyncClient[] = [];
  try {
    const idle = await server.memory();
    await server.resetPeak();
    const docId = 'bench-replay';
    const errors: string[] = [];
    const client = (actor: string): SyncClient => {
      const c = new SyncClient({ url: server.url, actor, WebSocket: NodeWebSocket, reconnect: false, clientName: 'bench' });
      c.on('error', (e) => errors.push(`${actor}: ${e.code} ${e.message}`));
      clients.push(c);
      return c;
    };

    // Setup (not timed): the writer creates the text object and any start content, durably.
    const writer = client('bench-writer');
    const wdoc = writer.open(docId);
    await writer.connect();
    await wdoc.whenSynced();
    let text: ObjId | undefined;
    wdoc.change((tx) => {
      text = tx.makeText(ROOT, 'text');
      if (workload.startContent !== '') tx.insertText(text, 0, workload.startContent);
    });
    await wdoc.whenAcked();
    if (text === undefined) throw new Error('setup change made no text object');
    const textId = text;
    const setupSeq = wdoc.crdt.clock()[writer.actor] ?? 0;

    const reader = client('bench-reader');
    const rdoc = reader.open(docId);
    await reader.connect();
    await rdoc.whenSynced();
    if (rdoc.crdt.text(textId) !== workload.startContent) throw new Error('ours: the reader did not get the setup change');

    const edits = workload.edits;
    const flow = new FlowControl(edits.length, window, (i) => {
      const patches = edits[i] ?? [];
      const change = wdoc.change((tx) => {
        for (const [pos, del, ins] of patches) {
          if (del > 0) tx.deleteText(textId, pos, del);
          if (ins !== '') tx.insertText(textId, pos, ins);
        }
      });
      return change !== undefined;
    });
    rdoc.on('change', (changes, origin) => {
      if (origin !== 'remote') return;
      for (const c of changes) if (c.actor === writer.actor) flow.delivered(c.seq - setupSeq - 1);
    });
    const result = await raceErrors(flow.run('ours'), errors);
    assertText('ours', rdoc.crdt.text(textId), workload.endContent);
    await wdoc.whenAcked();
    const after = await server.memory();
    const serverStats = await server.stats();
    return {
      ...result,
      serverMemory: { idle, after },
      writerBytesSent: writer.bytesSent,
      readerBytesReceived: reader.bytesReceived,
      serverStats,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  }
}

/** Resolves with `run`, or rejects as soon as a client reported an error (a stalled replay would hang otherwise). */
async function raceErrors<T>(run: Promise<T>, errors: readonly string[]): Promise<T> {
  let timer: ReturnType<typeof setInterval> | undefined;
  const failed = new Promise<never>((_resolve, reject) => {
    timer = setInterval(() => {
      if (errors.length > 0) reject(new Error(`ours: client error during the replay: ${errors.slice(0, 3).join('; ')}`));
    }, 100);
  });
  try {
    return await Promise.race([run, failed]);
  } finally {
    clearInterval(timer);
  }
}

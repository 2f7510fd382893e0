import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { ChildHandle } from './child-ipc.ts';
import { FlowControl, assertText } from './flow-control.ts';
import type { ReplayRun } from './replay-ours.ts';
import type { BenchWorkload } from './workload.ts';

/** Opens a `ws` connection and resolves once it is open. */
export function openSocket(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.binaryType = 'nodebuffer';
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** Closes sockets and waits for their close handshakes (bounded). */
export async function closeSockets(sockets: readonly WebSocket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.close();
          setTimeout(resolve, 1000).unref();
        }),
    ),
  );
}

/**
 * Code point offset → UTF-16 offset in `chars` (one code point per element). Only used when the
 * workload has characters outside the BMP: the trace counts code points, Y.Text counts UTF-16 units.
 */
function utf16Offset(chars: readonly string[], pos: number): number {
  let n = 0;
  for (let i = 0; i < pos; i++) n += (chars[i] as string).length;
  return n;
}

/**
 * The reference: the same replay through bare Yjs and a `ws` relay child (no persistence, no server
 * state). The writer applies each trace transaction to a Y.Text in one `doc.transact` and sends the
 * update it emits (`doc.on('update')`); the reader applies each with `Y.applyUpdate`. Same flow
 * control and latency definition as ours. A fresh relay process per run.
 * @throws Error when the reader's final text is not the workload's end content.
 */
export async function replayYjs(workload: BenchWorkload, window: number): Promise<ReplayRun> {
  const relay = await ChildHandle.start('./yjs-relay-child.ts', []);
  const sockets: WebSocket[] = [];
  try {
    const idle = await relay.memory();
    await relay.resetPeak();
    const room = `${relay.url}/bench-replay`;
    const writerWs = await openSocket(room);
    const readerWs = await openSocket(room);
    sockets.push(writerWs, readerWs);

    const wdoc = new Y.Doc();
    const rdoc = new Y.Doc();
    const wtext = wdoc.getText('text');
    const rtext = rdoc.getText('text');
    let writerBytesSent = 0;
    let readerBytesReceived = 0;
    let sent = false;
    wdoc.on('update', (update: Uint8Array) => {
      writerBytesSent += update.byteLength;
      sent = true;
      writerWs.send(update);
    });

    // Setup (not timed): start content, received by the reader before the replay starts.
    if (workload.startContent !== '') {
      const got = new Promise<void>((resolve) => readerWs.once('message', () => resolve()));
      wtext.insert(0, workload.startContent);
      await got;
    }
    const mirror = workload.astral ? Array.from(workload.startContent) : undefined;
    const edits = workload.edits;
    const flow = new FlowControl(edits.length, window, (i) => {
      sent = false;
      const patches = edits[i] ?? [];
      wdoc.transact(() => {
        for (const [pos, del, ins] of patches) {
          if (mirror === undefined) {
            if (del > 0) wtext.delete(pos, del);
            if (ins !== '') wtext.insert(pos, ins);
            continue;
          }
          const at = utf16Offset(mirror, pos);
          const removed = mirror.splice(pos, del, ...Array.from(ins));
          const units = removed.reduce((n, c) => n + c.length, 0);
          if (units > 0) wtext.delete(at, units);
          if (ins !== '') wtext.insert(at, ins);
        }
      });
      return sent;
    });
    let received = 0;
    readerWs.on('message', (data: Buffer) => {
      readerBytesReceived += data.byteLength;
      Y.applyUpdate(rdoc, data, 'remote');
      flow.delivered(received++);
    });
    const result = await flow.run('yjs');
    assertText('yjs', rtext.toJSON(), workload.endContent);
    const after = await relay.memory();
    const serverStats = await relay.stats();
    return { ...result, serverMemory: { idle, after }, writerBytesSent, readerBytesReceived, serverStats };
  } finally {
    await closeSockets(sockets);
    await relay.close();
  }
}

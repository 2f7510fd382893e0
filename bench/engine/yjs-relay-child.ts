/**
 * Benchmark child: the reference peer's server, a bare `ws` relay for Yjs. Each connection joins
 * the room named by its URL path; every binary message is forwarded as is to the other peers of the
 * room. No persistence, no document state on the server, no auth, no pipeline: the floor against
 * which our server (which applies, persists to SQLite and acknowledges every change) is compared.
 *   forked by run.ts: yjs-relay-child.ts
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { failToParent, serveParent } from './child-ipc.ts';

async function main(): Promise<void> {
  const http = createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const rooms = new Map<string, Set<WebSocket>>();
  let forwarded = 0;
  wss.on('connection', (ws, req) => {
    const name = req.url ?? '/';
    let room = rooms.get(name);
    if (room === undefined) rooms.set(name, (room = new Set()));
    const peers = room;
    peers.add(ws);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) return;
      for (const peer of peers) {
        if (peer !== ws && peer.readyState === peer.OPEN) {
          peer.send(data, { binary: true });
          forwarded++;
        }
      }
    });
    ws.on('close', () => {
      peers.delete(ws);
      if (peers.size === 0) rooms.delete(name);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  serveParent(`ws://127.0.0.1:${port}`, {
    stats: () => ({ rooms: rooms.size, forwarded }),
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  });
}

main().catch(failToParent);

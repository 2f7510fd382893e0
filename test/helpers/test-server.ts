import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { parseServerConfig, type ServerConfigInput } from '../../src/core/config.ts';
import type { Authenticator, Stage } from '../../src/core/stage.ts';
import { SyncClient, type SyncClientOptions, type WebSocketConstructor } from '../../src/engine/client/sync-client.ts';
import { binaryChangeCodec } from '../../src/engine/protocol/change-codec.ts';
import type { EngineEnvelope } from '../../src/engine/server/envelope.ts';
import { SyncServer } from '../../src/engine/server/sync-server.ts';
import { SqliteDocStore } from '../../src/engine/store/sqlite-store.ts';

export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

export interface TestServer {
  readonly server: SyncServer;
  readonly store: SqliteDocStore;
  readonly dir: string;
  client(options?: Partial<SyncClientOptions>): SyncClient;
  close(): Promise<void>;
}

/** A real server on 127.0.0.1 (free port) over a real SQLite file in a temporary directory. */
export async function startTestServer(
  options: { config?: ServerConfigInput; stages?: readonly Stage<EngineEnvelope>[]; authenticator?: Authenticator } = {},
): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'syncpilot-test-'));
  const config = parseServerConfig({ dataDir: dir, port: 0, ...options.config });
  const store = SqliteDocStore.open({ path: join(dir, 'syncpilot.db'), codec: binaryChangeCodec });
  const server = await SyncServer.start({
    config,
    store,
    ...(options.stages === undefined ? {} : { stages: options.stages }),
    ...(options.authenticator === undefined ? {} : { authenticator: options.authenticator }),
  });
  const clients: SyncClient[] = [];
  return {
    server,
    store,
    dir,
    client(o = {}) {
      const c = new SyncClient({ url: server.url, WebSocket: NodeWebSocket, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...o });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `cond` until true or throws after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

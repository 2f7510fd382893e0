/**
 * Benchmark child: our sync server, as the CLI builds it, in its own process so that its memory is
 * measured alone. `sqlite` is the embedded stack itself (src/cli/embedded-stack.ts: SQLite store with
 * WAL, embedded telemetry log, authz stage, auth mode none). `memory` is the same server, stages and
 * telemetry with MemoryDocStore instead of SQLite, so the cost of durability shows.
 *   forked by run.ts: server-child.ts <sqlite|memory>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthzStage } from '../../src/auth/authz-stage.ts';
import { createVerifier } from '../../src/auth/jwt-verifier.ts';
import { startEmbeddedStack } from '../../src/cli/embedded-stack.ts';
import { parseServerConfig, type ServerConfig } from '../../src/core/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { Stage } from '../../src/core/stage.ts';
import { binaryChangeCodec } from '../../src/engine/protocol/change-codec.ts';
import type { EngineEnvelope } from '../../src/engine/server/envelope.ts';
import { SyncServer } from '../../src/engine/server/sync-server.ts';
import { MemoryDocStore } from '../../src/engine/store/memory-store.ts';
import { EmbeddedLogSink } from '../../src/telemetry/index.ts';
import { failToParent, serveParent } from './child-ipc.ts';

/** Which store the server uses. */
export type ServerStore = 'sqlite' | 'memory';

async function startMemoryServer(config: ServerConfig): Promise<{ server: SyncServer; close: () => Promise<void> }> {
  const store = new MemoryDocStore({ codec: binaryChangeCodec });
  const telemetry = await EmbeddedLogSink.open({ dir: join(config.dataDir, 'telemetry'), segmentBytes: config.telemetry.segmentBytes });
  const stages: Stage<EngineEnvelope>[] = [createAuthzStage()];
  const server = await SyncServer.start({
    config,
    store,
    stages,
    authenticator: createVerifier(config.auth),
    telemetry,
    logger: silentLogger,
  });
  return {
    server,
    async close() {
      await server.close();
      await telemetry.close();
      store.close();
    },
  };
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode !== 'sqlite' && mode !== 'memory') throw new Error('usage: server-child.ts <sqlite|memory>');
  const dataDir = mkdtempSync(join(tmpdir(), `syncpilot-bench-${mode}-`));
  const config = parseServerConfig({ dataDir, port: 0, logLevel: 'error' });
  const stack = mode === 'sqlite' ? await startEmbeddedStack(config, silentLogger) : await startMemoryServer(config);
  serveParent(stack.server.url, {
    stats: () => stack.server.stats(),
    async close() {
      await stack.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

main().catch(failToParent);

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createAuthzStage } from '../auth/authz-stage.ts';
import { createVerifier } from '../auth/jwt-verifier.ts';
import type { ServerConfig } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import type { Stage } from '../core/stage.ts';
import { NullTelemetrySink, type TelemetrySink } from '../core/telemetry.ts';
import { binaryChangeCodec } from '../engine/protocol/change-codec.ts';
import type { EngineEnvelope } from '../engine/server/envelope.ts';
import { SyncServer } from '../engine/server/sync-server.ts';
import { SqliteDocStore } from '../engine/store/sqlite-store.ts';
import { EmbeddedLogSink } from '../telemetry/embedded-log-sink.ts';

export interface EmbeddedStack {
  readonly server: SyncServer;
  readonly store: SqliteDocStore;
  readonly telemetry: TelemetrySink;
  close(): Promise<void>;
}

/**
 * The embedded default: SQLite store and append-only telemetry log under `config.dataDir`, the
 * built-in auth stage, and the sync server. No Kafka or Redis needed.
 */
export async function startEmbeddedStack(
  config: ServerConfig,
  logger: Logger,
  extraStages: readonly Stage<EngineEnvelope>[] = [],
): Promise<EmbeddedStack> {
  mkdirSync(config.dataDir, { recursive: true });
  const store = SqliteDocStore.open({
    path: join(config.dataDir, 'syncpilot.db'),
    codec: binaryChangeCodec,
    durability: config.durability,
  });
  let telemetry: TelemetrySink;
  try {
    telemetry =
      config.telemetry.sink === 'embedded'
        ? await EmbeddedLogSink.open({ dir: join(config.dataDir, 'telemetry'), segmentBytes: config.telemetry.segmentBytes })
        : new NullTelemetrySink();
  } catch (err) {
    store.close();
    throw err;
  }
  let server: SyncServer;
  try {
    server = await SyncServer.start({
      config,
      store,
      stages: [createAuthzStage(), ...extraStages],
      authenticator: createVerifier(config.auth),
      telemetry,
      logger,
    });
  } catch (err) {
    await telemetry.close();
    store.close();
    throw err;
  }
  return {
    server,
    store,
    telemetry,
    async close() {
      await server.close();
      await telemetry.close();
      store.close();
    },
  };
}

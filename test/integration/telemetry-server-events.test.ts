import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startEmbeddedStack } from '../../src/cli/embedded-stack.ts';
import { parseServerConfig } from '../../src/core/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { SyncClient } from '../../src/engine/client/sync-client.ts';
import { readEmbeddedLog } from '../../src/telemetry/embedded-log-reader.ts';
import { parseEvent } from '../../src/telemetry/events/index.ts';
import { NodeWebSocket } from '../helpers/test-server.ts';

test('every event a running server writes to the embedded log matches its versioned schema', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncpilot-tel-'));
  const stack = await startEmbeddedStack(parseServerConfig({ dataDir: dir, port: 0 }), silentLogger);
  try {
    const c = new SyncClient({ url: stack.server.url, WebSocket: NodeWebSocket, reconnect: false });
    await c.connect();
    const d = c.open('tel-doc');
    await d.whenSynced();
    for (let i = 0; i < 20; i++) d.change((tx) => tx.set('root', 'n', i));
    await d.whenAcked();
    await c.close();
    await stack.telemetry.flush();
    const events = await readEmbeddedLog(join(dir, 'telemetry')).toArray();
    const types = new Map<string, number>();
    for (const event of events) {
      const e = parseEvent(event);
      types.set(e.type, (types.get(e.type) ?? 0) + 1);
    }
    assert.equal(types.get('syncpilot.access.v1'), 1);
    assert.ok((types.get('syncpilot.sync-latency.v1') ?? 0) >= 1);
  } finally {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

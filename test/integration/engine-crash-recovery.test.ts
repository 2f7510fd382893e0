import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SyncClient } from '../../src/engine/client/sync-client.ts';
import { NodeWebSocket, waitFor } from '../helpers/test-server.ts';

const CHILD = fileURLToPath(new URL('../fixtures/server-child.ts', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function startChild(dir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`server child exited early (${code})`)));
  });
}

describe('kill -9 of the server process during replay', () => {
  test('every acknowledged change survives, across several random kills, and clients converge', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncpilot-crash-'));
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    let child = await startChild(dir, port);
    const writer = new SyncClient({ url, WebSocket: NodeWebSocket, actor: 'writer-1', reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    await writer.connect();
    const doc = writer.open('crash-doc');
    await doc.whenSynced();
    doc.change((tx) => void tx.makeText('root', 'body'));
    const ref = doc.crdt.get('root', 'body');
    assert.ok(ref?.kind === 'object');
    let maxAcked = 0;
    doc.on('acked', (seq) => (maxAcked = Math.max(maxAcked, seq)));

    let typed = '';
    const kills = 4;
    try {
      for (let round = 0; round < kills; round++) {
        // Type steadily while the server runs; kill it at a random moment.
        const killAfterMs = 150 + Math.floor(Math.random() * 400);
        const start = Date.now();
        while (Date.now() - start < killAfterMs) {
          const ch = String.fromCharCode(97 + (typed.length % 26));
          doc.change((tx) => tx.insertText(ref.id, doc.crdt.length(ref.id), ch));
          typed += ch;
          await new Promise((r) => setImmediate(r));
        }
        const ackedBeforeKill = maxAcked;
        assert.ok(ackedBeforeKill > 0, 'some changes were acknowledged before the kill');
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        child = await startChild(dir, port);
        // A fresh client reading the restarted server must see every acknowledged change.
        const reader = new SyncClient({ url, WebSocket: NodeWebSocket, reconnect: false });
        await reader.connect();
        const rd = reader.open('crash-doc');
        await rd.whenSynced();
        const have = rd.crdt.clock()['writer-1'] ?? 0;
        assert.ok(
          have >= ackedBeforeKill,
          `round ${round}: restarted server has writer seq ${have}, but ${ackedBeforeKill} were acknowledged`,
        );
        await reader.close();
      }
      // The writer reconnects by itself and resends what was never acknowledged: nothing is lost.
      await doc.whenAcked();
      const reader = new SyncClient({ url, WebSocket: NodeWebSocket, reconnect: false });
      await reader.connect();
      const rd = reader.open('crash-doc');
      await rd.whenSynced();
      await waitFor(() => rd.crdt.text(ref.id) === typed, 10_000, 'final text');
      assert.equal(rd.crdt.text(ref.id), typed);
      await reader.close();
    } finally {
      await writer.close();
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

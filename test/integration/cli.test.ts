import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SyncClient } from '../../src/engine/client/sync-client.ts';
import { defaultTracesDir } from '../../src/workload/index.ts';
import { NodeWebSocket } from '../helpers/test-server.ts';

const BIN = fileURLToPath(new URL('../../bin/syncpilot.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the syncpilot CLI', () => {
  const traces = existsSync(join(defaultTracesDir(), 'friendsforever.json.gz'));
  test(
    'demo --json on the default trace converges and reports the documented fields',
    { skip: traces ? false : 'traces absent', timeout: 120_000 },
    async () => {
      const r = await run(['demo', '--json', '--clients', '5']);
      assert.equal(r.code, 0, r.stderr);
      const s = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(s['converged'], true);
      assert.equal(s['matchesEndContent'], true);
      assert.equal(s['clients'], 5);
      assert.equal(s['trace'], 'friendsforever.json.gz');
      assert.equal(typeof s['ops'], 'number');
      assert.ok((s['ops'] as number) > 50_000);
      const lat = s['latencyMs'] as { p50: number; p99: number };
      assert.ok(lat.p50 > 0 && lat.p99 >= lat.p50);
      assert.ok((s['opsPerSec'] as number) > 0);
    },
  );

  test('demo falls back to a synthetic workload when the data folder is absent', { timeout: 120_000 }, async () => {
    const empty = mkdtempSync(join(tmpdir(), 'syncpilot-nodata-'));
    try {
      const r = await run(['demo', '--json'], { SYNCPILOT_DATA_DIR: empty });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /synthetic workload/);
      const s = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(s['converged'], true);
      assert.equal(s['traceKind'], 'synthetic');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('demo --duration stops early and still converges; the readable summary names what it checked', { timeout: 120_000 }, async () => {
    const r = await run(['demo', '--duration', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /converged +yes/);
    assert.match(r.stdout, /latency +p50 [\d.]+ ms, p99 [\d.]+ ms/);
  });

  test('bad flags get a coded error and exit code 2', async () => {
    const r = await run(['demo', '--clients', 'lots']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /SP_ERR_CONFIG_INVALID/);
    const u = await run(['nope']);
    assert.equal(u.code, 2);
  });

  test('serve listens, serves a client, and shuts down cleanly on SIGTERM', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncpilot-serve-'));
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', dir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let log = '';
      await new Promise<void>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          log += d.toString();
          if (log.includes('syncpilot serving')) resolve();
        });
        child.once('exit', () => reject(new Error(`serve exited: ${log}`)));
      });
      const c = new SyncClient({ url: `ws://127.0.0.1:${port}`, WebSocket: NodeWebSocket, reconnect: false });
      await c.connect();
      const d = c.open('cli-doc');
      await d.whenSynced();
      d.change((tx) => tx.set('root', 'hello', 'world'));
      await d.whenAcked();
      await c.close();
      child.kill('SIGTERM');
      const code = await new Promise((r) => child.once('exit', r));
      assert.equal(code, 0);
      assert.ok(existsSync(join(dir, 'syncpilot.db')));
      assert.ok(existsSync(join(dir, 'telemetry')));
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { access, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { SyncPilotError } from '../../src/core/errors.ts';
import { withFileLock } from '../../src/ml/registry/file-lock.ts';
import { tempDir } from '../fixtures/ml-registry-models.ts';

async function lockPath(t: TestContext): Promise<string> {
  const dir = await tempDir('lock');
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, '.lock');
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return child.pid;
}

const owner = (pid: number, host = hostname()) => `${JSON.stringify({ pid, host, token: 'someone-else' })}\n`;

test('holders never overlap, and the lock file is gone afterwards', async (t) => {
  const path = await lockPath(t);
  let inside = 0;
  let maxInside = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      withFileLock(path, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        assert.equal(await exists(path), true);
        await tick();
        order.push(i);
        inside--;
      }),
    ),
  );
  assert.equal(maxInside, 1);
  assert.equal(order.length, 20);
  assert.equal(await exists(path), false);
});

test('a throwing holder releases the lock', async (t) => {
  const path = await lockPath(t);
  await assert.rejects(
    withFileLock(path, async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await exists(path), false);
  assert.equal(await withFileLock(path, async () => 42), 42);
});

test('a lock left by a dead process, or naming this pid but not held here, is taken over', async (t) => {
  const path = await lockPath(t);
  await writeFile(path, owner(await deadPid()));
  assert.equal(await withFileLock(path, async () => 'ran', { timeoutMs: 2000 }), 'ran');
  await writeFile(path, owner(process.pid));
  assert.equal(await withFileLock(path, async () => 'ran again', { timeoutMs: 2000 }), 'ran again');
  assert.equal(await exists(path), false);
});

test('a live holder makes a waiter time out (retryable) without losing its lock', async (t) => {
  const path = await lockPath(t);
  // Our parent process is alive and is not us.
  const live = owner(process.ppid);
  await writeFile(path, live);
  let ran = false;
  await assert.rejects(
    withFileLock(
      path,
      async () => {
        ran = true;
      },
      { timeoutMs: 150 },
    ),
    (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_TIMEOUT' && err.retryable,
  );
  assert.equal(ran, false);
  assert.equal(await readFile(path, 'utf8'), live);
});

test('another host, or unreadable content, is trusted until the lock is older than staleMs', async (t) => {
  const path = await lockPath(t);
  for (const content of [owner(1, 'elsewhere.example'), '']) {
    await writeFile(path, content);
    await assert.rejects(
      withFileLock(path, async () => undefined, { timeoutMs: 100, staleMs: 60_000 }),
      (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_TIMEOUT',
    );
    const old = new Date(Date.now() - 120_000);
    await utimes(path, old, old);
    assert.equal(await withFileLock(path, async () => 'took over', { timeoutMs: 1000, staleMs: 60_000 }), 'took over');
  }
});

import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SyncPilotError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { isProcessAlive } from '../../core/process-alive.ts';

/** Options of {@link withFileLock}. */
export interface FileLockOptions {
  /** How long to wait for a live holder (default 10 000 ms). */
  readonly timeoutMs?: number;
  /**
   * A lock file older than this is taken over even if its owner cannot be checked (another
   * host, unreadable content). Critical sections last milliseconds (default 30 000 ms).
   */
  readonly staleMs?: number;
  readonly logger?: Logger;
}

interface Owner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
}

const HOST = hostname();
// Tokens of the locks this process holds now: a lock naming our pid but not one of these is
// stale (a restarted container reuses pids).
const heldTokens = new Set<string>();
// One holder per lock path inside this process; the file arbitrates between processes.
const localQueues = new Map<string, Promise<unknown>>();
// When this process last released each lock (performance.now()), for yieldToWaiters.
const lastRelease = new Map<string, number>();
const WAITING_SUFFIX = '.waiting';
const YIELD_WINDOW_MS = 50;
const YIELD_MS = 15;

/**
 * Runs `fn` while holding the lock file `path`, exclusive across processes on this machine (and
 * on a shared filesystem with `O_EXCL`). Waits for a live holder with backoff; takes over a lock
 * whose owner is dead (same host, pid gone) or which is older than `staleMs`. Takeover moves the
 * stale file aside and checks it moved the file it judged, putting back one a rival took in the
 * meantime, so two waiters that both see the same stale lock do not both enter.
 * @throws SyncPilotError `SP_ERR_TIMEOUT` (retryable) when a live holder keeps it past `timeoutMs`;
 * whatever `fn` throws
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const key = resolve(path);
  const previous = localQueues.get(key) ?? Promise.resolve();
  const run = previous.then(async () => {
    const release = await acquire(key, options);
    try {
      return await fn();
    } finally {
      await release();
    }
  });
  const tail = run.catch(() => undefined);
  localQueues.set(key, tail);
  void tail.then(() => {
    if (localQueues.get(key) === tail) localQueues.delete(key);
  });
  return run;
}

async function acquire(path: string, options: FileLockOptions): Promise<() => Promise<void>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const staleMs = options.staleMs ?? 30_000;
  const token = randomBytes(12).toString('hex');
  const content = `${JSON.stringify({ pid: process.pid, host: HOST, token })}\n`;
  const deadline = Date.now() + timeoutMs;
  await yieldToWaiters(path);
  let delay = 1;
  for (;;) {
    try {
      await createLockFile(path, content);
      heldTokens.add(token);
      await unlink(`${path}${WAITING_SUFFIX}`).catch(() => undefined);
      return () => release(path, token, content, options.logger);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const seen = await inspect(path);
    if (seen === undefined) continue; // released between our attempt and the look: try again now
    if (isStale(seen.owner, seen.ageMs, staleMs)) {
      await takeOver(path, seen.raw, token, options.logger);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new SyncPilotError(
        'SP_ERR_TIMEOUT',
        `lock ${path} is held by ${seen.owner ? `pid ${seen.owner.pid} on ${seen.owner.host}` : 'an unknown owner'} for more than ${timeoutMs} ms`,
        { retryable: true, details: { lockFile: path, owner: seen.owner } },
      );
    }
    // Tell the holder someone waits (see yieldToWaiters).
    await writeFile(`${path}${WAITING_SUFFIX}`, '').catch(() => undefined);
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 10);
  }
}

/**
 * Fairness: a process that released this lock a moment ago and wants it back would win every
 * race against a waiter polling with backoff, starving it. When a waiter has marked itself
 * recently, step aside for a few milliseconds first.
 */
async function yieldToWaiters(path: string): Promise<void> {
  const released = lastRelease.get(path);
  if (released === undefined || performance.now() - released > YIELD_WINDOW_MS) return;
  const st = await stat(`${path}${WAITING_SUFFIX}`).catch(() => undefined);
  if (st !== undefined && Date.now() - st.mtimeMs < YIELD_WINDOW_MS) await sleep(YIELD_MS);
}

/** Creates the lock file or fails with EEXIST. No fsync: after a crash a lock is stale anyway. */
async function createLockFile(path: string, content: string): Promise<void> {
  const fh = await open(path, 'wx');
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
}

async function inspect(path: string): Promise<{ raw: string; owner: Owner | undefined; ageMs: number } | undefined> {
  try {
    const [raw, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { raw, owner: parseOwner(raw), ageMs: Date.now() - st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function parseOwner(raw: string): Owner | undefined {
  try {
    const v = JSON.parse(raw) as Partial<Owner> | null;
    if (typeof v?.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') {
      return { pid: v.pid, host: v.host, token: v.token };
    }
  } catch {
    // Being written right now (created, not yet filled), or damaged: only age can tell.
  }
  return undefined;
}

function isStale(owner: Owner | undefined, ageMs: number, staleMs: number): boolean {
  if (ageMs > staleMs) return true;
  if (owner === undefined || owner.host !== HOST) return false;
  if (owner.pid === process.pid) return !heldTokens.has(owner.token);
  return !isProcessAlive(owner.pid);
}

async function takeOver(path: string, staleRaw: string, token: string, logger: Logger | undefined): Promise<void> {
  const aside = `${path}.stale-${token}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else removed it first
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved === staleRaw) {
    logger?.warn('took over a stale lock', { lockFile: path, stale: staleRaw.trim() });
  } else {
    // A rival took the lock after we judged the old one stale, and we moved the rival's: put it back.
    // EEXIST: a third process took the free name meanwhile; the rival will notice on release.
    await link(aside, path).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
}

async function release(path: string, token: string, content: string, logger: Logger | undefined): Promise<void> {
  heldTokens.delete(token);
  lastRelease.set(path, performance.now());
  const now = await readFile(path, 'utf8').catch(() => undefined);
  if (now !== content) {
    logger?.warn('a lock this process held was taken over before release (held past its stale age?)', { lockFile: path });
    return;
  }
  await unlink(path).catch(() => undefined);
}

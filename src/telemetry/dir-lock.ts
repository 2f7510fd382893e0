import { open, readFile, realpath, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SyncPilotError } from '../core/errors.ts';
import { isProcessAlive } from '../core/process-alive.ts';

/** The lock file a writer keeps in the log directory while it is open. */
export const LOCK_FILE_NAME = 'LOCK';

// Directories this process holds, so a second sink in the same process is refused too.
const heldHere = new Set<string>();

/**
 * Takes the single-writer lock of a log directory: two writers appending to one segment would
 * interleave records. A lock left by a dead process (kill -9, power loss) is taken over; one
 * naming this process's own pid but not held here is stale too (a restarted container reuses pids).
 * @returns a release function (idempotent)
 * @throws SyncPilotError `SP_ERR_TELEMETRY` when another live writer holds the directory
 */
export async function acquireDirLock(dir: string): Promise<() => Promise<void>> {
  const key = await realpath(dir);
  const path = join(key, LOCK_FILE_NAME);
  if (heldHere.has(key)) {
    throw new SyncPilotError('SP_ERR_TELEMETRY', `telemetry log ${key} is already open in this process`);
  }
  heldHere.add(key);
  try {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isProcessAlive(owner)) {
        throw new SyncPilotError(
          'SP_ERR_TELEMETRY',
          `telemetry log ${key} is locked by live process ${owner}; if it is not a syncpilot writer, delete ${path}`,
          { details: { pid: owner, lockFile: path } },
        );
      }
      await writeFile(path, `${process.pid}\n`);
    }
  } catch (err) {
    heldHere.delete(key);
    throw err;
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    heldHere.delete(key);
    await unlink(path).catch(() => undefined);
  };
}

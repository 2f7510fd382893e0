import { mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SyncPilotError } from '../../src/core/errors.ts';

/** One file of a model directory. */
export interface ModelDirFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/**
 * Creates `dir` holding exactly `files`, atomically: the files are written and fsync'd in a
 * hidden sibling directory, which is then renamed to `dir` (and the parent fsync'd). A reader —
 * or a crash — sees either no directory or the complete one, never a model without its card.
 * `dir` may already exist if it is empty (rename replaces an empty directory). File-system
 * errors other than the ones below are passed through as Node's own errors.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` when `dir` exists and is not an empty directory
 */
export async function writeModelDir(dir: string, files: readonly ModelDirFile[]): Promise<string> {
  const target = resolve(dir);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  await refuseNonEmpty(target);
  const tmp = await mkdtemp(join(parent, `.${basename(target)}.tmp-`));
  try {
    for (const f of files) {
      const fh = await open(join(tmp, f.name), 'wx');
      try {
        await fh.writeFile(f.bytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    try {
      await rename(tmp, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') throw alreadyThere(target, err);
      throw err;
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  await syncDir(parent);
  return target;
}

async function refuseNonEmpty(target: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw alreadyThere(target, err);
    throw err;
  }
  if (entries.length > 0) throw alreadyThere(target);
}

/** Makes the rename durable; best effort, as some file systems refuse to fsync a directory. */
async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (fh === undefined) return;
  try {
    await fh.sync();
  } catch {
    // Not fatal: the rename itself is atomic; only its durability across a power cut is at stake.
  } finally {
    await fh.close();
  }
}

function alreadyThere(target: string, cause?: unknown): SyncPilotError {
  return new SyncPilotError(
    'SP_ERR_CONFIG_INVALID',
    `model output directory ${target} already exists and is not empty`,
    cause === undefined ? {} : { cause },
  );
}

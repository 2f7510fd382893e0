import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { SyncPilotError } from '../../src/core/errors.ts';

/**
 * SHA-256 of a data file, or of a directory tree (every regular file's relative path, size and
 * contents, in sorted path order), so the same data gives the same fingerprint wherever it lies.
 * Hidden entries (`.name`) are skipped: editors and tools leave them beside datasets.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` when `path` is missing or holds no file
 */
export async function fingerprintPath(path: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `cannot read data at ${path}`, { cause: err });
  }
  const hash = createHash('sha256');
  if (info.isFile()) {
    await hashFile(hash, path);
    return hash.digest('hex');
  }
  const files = (await listFiles(path)).sort();
  if (files.length === 0) throw new SyncPilotError('SP_ERR_DATASET_INVALID', `no data files under ${path}`);
  for (const file of files) {
    const size = (await stat(file)).size;
    hash.update(`${relative(path, file).split(sep).join('/')}\0${size}\0`);
    await hashFile(hash, file);
  }
  return hash.digest('hex');
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

async function hashFile(hash: Hash, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

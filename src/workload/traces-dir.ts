import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: this file lives in `<root>/src/workload/`. */
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The shared data folder: `$SYNCPILOT_DATA_DIR` when set, else `../shared/data` relative to the
 * project root. The data is never copied into the repository, so it is referenced by path.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['SYNCPILOT_DATA_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return resolve(PROJECT_ROOT, '../shared/data');
}

/** The folder of editing traces: `<data dir>/traces` (see {@link defaultDataDir}). It may not exist. */
export function defaultTracesDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultDataDir(env), 'traces');
}

/**
 * The trace files (`*.json`, `*.json.gz`) in `dir`, sorted by name, as absolute paths.
 * Returns an empty list when the folder is absent, so callers can fall back to a synthetic workload.
 */
export function listTraceFiles(dir: string = defaultTracesDir()): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json') || name.endsWith('.json.gz'))
    .sort()
    .map((name) => resolve(dir, name));
}

import { SyncPilotError } from './errors.ts';

/** Options of {@link loadOptional}. */
export interface LoadOptionalOptions {
  /** How to import the module (default `import(moduleName)`); tests substitute a failing one. */
  readonly importer?: (() => Promise<unknown>) | undefined;
}

/** Options of {@link loadOptional} that check what the module exports. */
export interface LoadOptionalPickOptions<T> extends LoadOptionalOptions {
  /** What the caller needs from the module, or `undefined` when it lacks it (an unusable version). */
  readonly pick: (mod: unknown) => T | undefined;
  /** What `pick` looks for, as the error names it: `<module> loaded but exports no <exportName>`. */
  readonly exportName: string;
}

/**
 * Imports an optional (heavy) dependency on first use, so that importing syncpilot loads none of
 * them: the one place that turns a missing or broken install into a clear error.
 * @param moduleName the package, as `import()` takes it (and as messages name it)
 * @param installHint what to tell someone whose install lacks it, e.g. `… needs kafkajs: npm install kafkajs@^2.2.4`
 * @returns the module namespace, or what `options.pick` takes from it
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` with `installHint` when the module is missing, fails
 * to load, or (with `pick`) lacks what is needed
 */
export function loadOptional<T>(moduleName: string, installHint: string, options: LoadOptionalPickOptions<T>): Promise<T>;
export function loadOptional(moduleName: string, installHint: string, options?: LoadOptionalOptions): Promise<unknown>;
export async function loadOptional<T>(
  moduleName: string,
  installHint: string,
  options: LoadOptionalOptions & Partial<LoadOptionalPickOptions<T>> = {},
): Promise<unknown> {
  let mod: unknown;
  try {
    mod = await (options.importer ?? (() => import(moduleName) as Promise<unknown>))();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw new SyncPilotError(
      'SP_ERR_CONFIG_INVALID',
      missing ? installHint : `${moduleName} failed to load (${String(err)}); ${installHint}`,
      {
        cause: err,
      },
    );
  }
  if (options.pick === undefined) return mod;
  const picked = options.pick(mod);
  if (picked === undefined) {
    throw new SyncPilotError(
      'SP_ERR_CONFIG_INVALID',
      `${moduleName} loaded but exports no ${options.exportName ?? 'usable API'}; ${installHint}`,
    );
  }
  return picked;
}

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SyncPilotError } from '../core/errors.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` strictly; unknown flags and bad values are SP_ERR_CONFIG_INVALID with the usage text. */
export function parseFlags<O extends Options>(
  argv: readonly string[],
  options: O,
  usage: string,
): ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false; args: string[] }>>['values'] {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
  }
}

/** A positive integer flag value, or `fallback` when absent. */
export function intFlag(value: string | undefined, name: string, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** A positive number flag value, or undefined when absent. */
export function numberFlag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `--${name} must be a positive number, got "${value}"`);
  return n;
}

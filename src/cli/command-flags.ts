import type { ParseArgsConfig } from 'node:util';
import { parseFlags } from './args.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `--help`, which every command takes. */
const HELP = { help: { type: 'boolean' } } as const;

/** The parsed flags of a command whose options are `O` (plus `--help`). */
export type CommandFlags<O extends Options> = ReturnType<typeof parseFlags<O & typeof HELP>>;

/**
 * Parses a command's flags strictly (`parseFlags`), adding `--help`: with it, prints `usage` on
 * stdout and returns `undefined`, and the command exits 0.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` with `usage` for an unknown flag or a bad value
 */
export function commandFlags<O extends Options>(argv: readonly string[], options: O, usage: string): CommandFlags<O> | undefined {
  const flags = parseFlags(argv, { ...options, ...HELP }, usage);
  // parseArgs' value types do not resolve for a generic O; `help` is there, a boolean or absent.
  if ((flags as { readonly help?: boolean }).help !== true) return flags;
  process.stdout.write(usage);
  return undefined;
}

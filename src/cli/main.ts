import { SyncPilotError, toSyncPilotError } from '../core/errors.ts';
import { runDemo } from './commands/demo.ts';
import { runServe } from './commands/serve.ts';
import { runTelemetry } from './commands/telemetry.ts';

const USAGE = `syncpilot — intelligent middleware for local-first sync

Usage:
  syncpilot serve [--data-dir DIR] [--host H] [--port P] [--config FILE.json] [--kafka BROKERS]
  syncpilot demo  [--clients N] [--duration S] [--trace FILE] [--json] [--data-dir DIR] [--kafka BROKERS]
  syncpilot telemetry tail [--kafka BROKERS | --data-dir DIR] [--family F ...] [--count N] [--json] [--from-beginning]
  syncpilot help

Run 'syncpilot <command> --help' for a command's options.
`;

/** The CLI entry point: returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'serve':
        return await runServe(rest);
      case 'demo':
        return await runDemo(rest);
      case 'telemetry':
        return await runTelemetry(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(`syncpilot: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    const e = toSyncPilotError(err);
    process.stderr.write(`syncpilot ${command}: ${e.code}: ${e.message}\n`);
    if (e.code === 'SP_ERR_INTERNAL' && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
    return e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID' ? 2 : 1;
  }
}

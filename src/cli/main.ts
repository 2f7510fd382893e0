import { SyncPilotError, toSyncPilotError } from '../core/errors.ts';
import { runDemo } from './commands/demo.ts';
import { runModels } from './commands/models.ts';
import { runPipeline } from './commands/pipeline.ts';
import { runServe } from './commands/serve.ts';
import { runTelemetry } from './commands/telemetry.ts';
import { runTrain } from './commands/train.ts';
import { runWorker } from './commands/worker.ts';

const USAGE = `syncpilot — intelligent middleware for local-first sync

Usage:
  syncpilot serve [--data-dir DIR] [--host H] [--port P] [--config FILE.json] [--kafka BROKERS]
                  [--models-bus file|redis|kafka] [--redis URL] [--models-registry DIR]
  syncpilot demo  [--clients N] [--duration S] [--trace FILE] [--json] [--data-dir DIR] [--kafka BROKERS]
  syncpilot telemetry tail [--kafka BROKERS | --data-dir DIR] [--family F ...] [--count N] [--json] [--from-beginning]
  syncpilot train <policy> [--data PATH] [--seed N] [--epochs N] [--promote] [--json] [--data-dir DIR]
  syncpilot models list|show|promote|rollback [<policy>] [--version V] [--force] [--margin M] [--json]
  syncpilot worker --redis URL [--prefix P]
  syncpilot pipeline [--redis URL] [--kafka BROKERS] [--labels N] [--every S] [--drift FAMILY.FIELD]
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
      case 'train':
        return await runTrain(rest);
      case 'models':
        return await runModels(rest);
      case 'worker':
        return await runWorker(rest);
      case 'pipeline':
        return await runPipeline(rest);
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

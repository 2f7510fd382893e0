import { SyncPilotError } from '../../core/errors.ts';
import { isPolicy, POLICIES } from '../../ml/policy.ts';
import { formatMetric, formatTable } from '../../../pipelines/cli/format-table.ts';
import { TrainProgressBar } from '../../../pipelines/cli/progress-bar.ts';
import type { CycleResult } from '../../../pipelines/jobs/job-schemas.ts';
import { InProcessRunner } from '../../../pipelines/runner/in-process.ts';
import { intFlag, numberFlag } from '../args.ts';
import { commandFlags } from '../command-flags.ts';
import { openPipelineContext } from '../pipeline-context.ts';

const USAGE = `Usage: syncpilot train <policy> [options]
  Trains a policy's model (${POLICIES.join(', ')}; only compression has a trainer yet), exports it to
  ONNX with its model card, and registers it in DIR/models as a challenger. The same data and
  options train once: asking again reports the version already trained.
  --data PATH        training data: a directory of sample files or a .csv / .jsonl dataset
                     (default: the policy's; compression: ../shared/data/corpora/canterbury)
  --seed N           seed of the split, initialisation and shuffles (default 1)
  --epochs N         most epochs (early stopping may end sooner; default the policy's)
  --promote          then evaluate it against the baseline and the champion and promote it
                     through the gate
  --margin M         relative improvement over the champion the gate requires (default 0.01)
  --data-dir DIR     registry and job records (default .syncpilot, env SYNCPILOT_DATA_DIR)
  --kafka BROKERS    report model lifecycle events to Kafka (env SYNCPILOT_KAFKA_BROKERS)
  --json             print the result as one JSON object on stdout
`;

/** `syncpilot train <policy>`: trains, registers and optionally promotes a model, in this process. */
export async function runTrain(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(USAGE);
    return first === undefined ? 2 : 0;
  }
  const flags = commandFlags(
    rest,
    {
      data: { type: 'string' },
      seed: { type: 'string' },
      epochs: { type: 'string' },
      promote: { type: 'boolean' },
      margin: { type: 'string' },
      'data-dir': { type: 'string' },
      kafka: { type: 'string' },
      json: { type: 'boolean' },
    },
    USAGE,
  );
  if (flags === undefined) return 0;
  if (!isPolicy(first)) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `unknown policy "${first}"; expected one of ${POLICIES.join(', ')}\n\n${USAGE}`);
  }
  const json = flags.json === true;
  const seed = intFlag(flags.seed, 'seed', 1, 0);
  const epochs = flags.epochs === undefined ? undefined : intFlag(flags.epochs, 'epochs', 1);
  const margin = flags.margin === undefined ? undefined : (numberFlag(flags.margin, 'margin') ?? 0.01);
  // A manual cycle reads no labels: --kafka only receives the model lifecycle events.
  const ctx = await openPipelineContext({ dataDir: flags['data-dir'], kafka: flags.kafka, logLevel: 'warn' });
  const { deps } = ctx;
  const bar = new TrainProgressBar(process.stderr, `training ${first}`);
  const runner = new InProcessRunner({ deps, retry: { attempts: 1 }, onProgress: (_id, p) => bar.update(p) });
  let result: CycleResult;
  try {
    bar.start();
    result = await runner.run({
      policy: first,
      seed,
      promote: flags.promote === true,
      trigger: { kind: 'manual', at: Date.now() },
      ...(flags.data === undefined ? {} : { data: flags.data }),
      ...(epochs === undefined ? {} : { epochs }),
      ...(margin === undefined ? {} : { margin }),
    });
  } finally {
    bar.done();
    await runner.close();
    await ctx.close();
  }
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${formatTrainReport(result)}\n`);
  return 0;
}

/** The human report: what was trained, model vs baseline on the held-out split, and the promotion outcome. */
export function formatTrainReport(r: CycleResult): string {
  const t = r.train;
  const primary = t.primary.name;
  const names = [
    primary,
    ...Object.keys(t.metrics)
      .filter((m) => m !== primary)
      .sort(),
  ];
  const rows = [['metric (test split)', 'model', 'baseline', 'change']];
  for (const name of names) {
    const model = t.metrics[name];
    const base = t.baseline[name];
    const change =
      model !== undefined && base !== undefined && base !== 0 ? `${(((model - base) / Math.abs(base)) * 100).toFixed(1)}%` : '-';
    const label = name === primary ? `${name} (primary, ${t.primary.higherIsBetter ? 'higher' : 'lower'} is better)` : name;
    rows.push([label, formatMetric(model), formatMetric(base), change.startsWith('-') || change === '-' ? change : `+${change}`]);
  }
  const head = t.reused
    ? `${t.policy}/${t.name} v${t.version}: already trained from the same data and options (job ${t.jobId.slice(0, 12)}); change --seed, --epochs or the data to train again`
    : `${t.policy}/${t.name} v${t.version} trained in ${(t.trainMs / 1000).toFixed(1)} s and registered as a challenger (job ${t.jobId.slice(0, 12)})`;
  const lines = [head, '', formatTable(rows)];
  if (r.promote !== undefined) {
    lines.push(
      '',
      r.promote.promoted ? `promoted: v${r.promote.version} is the champion (${r.promote.reason})` : `not promoted: ${r.promote.reason}`,
    );
  }
  return lines.join('\n');
}

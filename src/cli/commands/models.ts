import { SyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import type { ModelCard } from '../../ml/model-card.ts';
import { isPolicy, POLICIES, type Policy } from '../../ml/policy.ts';
import { defaultRegistryRoot, ModelRegistry, type PromotionResult } from '../../ml/registry/model-registry.ts';
import type { PromotionBus } from '../../ml/registry/promotion-bus.ts';
import { openAnnounceBus } from '../../../pipelines/cli/announce-bus.ts';
import { formatMetric, formatTable } from '../../../pipelines/cli/format-table.ts';
import { dataDirFrom } from '../../../pipelines/cli/pipeline-telemetry.ts';
import { intFlag, numberFlag } from '../args.ts';
import { commandFlags, type CommandFlags } from '../command-flags.ts';
import { kafkaBrokersFrom } from '../embedded-stack.ts';

const USAGE = `Usage: syncpilot models <command> [options]
  list                          every policy's versions, champion and challengers
  show <policy> [--version V]   a model card (default: the champion's)
  promote <policy> --version V  make V the champion if it beats the current one by the margin
        [--margin M]            relative improvement required (default 0.01)
        [--force]               skip the gate (recorded in the history)
  rollback <policy>             make the previous champion the champion again
Options:
  --data-dir DIR     the registry is DIR/models (default .syncpilot, env SYNCPILOT_DATA_DIR)
  --registry DIR     the registry directory itself
  --redis URL        announce promotions on Redis pub/sub (servers started with the same bus)
  --kafka BROKERS    announce promotions on the Kafka topic syncpilot.model-promotions
                     (default: the registry directory's file watch, for servers on this machine)
  --json             JSON on stdout
`;

const OPTIONS = {
  version: { type: 'string' },
  margin: { type: 'string' },
  force: { type: 'boolean' },
  'data-dir': { type: 'string' },
  registry: { type: 'string' },
  redis: { type: 'string' },
  kafka: { type: 'string' },
  json: { type: 'boolean' },
} as const;

type Flags = CommandFlags<typeof OPTIONS>;

/** `syncpilot models list | show | promote | rollback`. */
export async function runModels(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (!['list', 'show', 'promote', 'rollback'].includes(sub)) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `unknown models command "${sub}"\n\n${USAGE}`);
  }
  const [maybePolicy, ...afterPolicy] = rest;
  const positional = sub !== 'list' && maybePolicy !== undefined && !maybePolicy.startsWith('-') ? maybePolicy : undefined;
  const flags = commandFlags(positional === undefined ? rest : afterPolicy, OPTIONS, USAGE);
  if (flags === undefined) return 0;
  const bus = await openBus(flags);
  const registry = await ModelRegistry.open(flags.registry ?? defaultRegistryRoot(dataDirFrom(flags['data-dir'], process.env)), {
    ...(bus === undefined ? {} : { bus }),
    logger: createLogger('warn'),
  });
  try {
    const json = flags.json === true;
    switch (sub) {
      case 'list':
        return await list(registry, json);
      case 'show': {
        const policy = policyArg(positional);
        const card = await registry.show(policy, flags.version === undefined ? undefined : intFlag(flags.version, 'version', 1));
        const state = await registry.state(policy);
        write(json ? JSON.stringify(card, null, 2) : formatCard(card, state.champion, state.challengers));
        return 0;
      }
      case 'promote': {
        const policy = policyArg(positional);
        if (flags.version === undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `promote needs --version V\n\n${USAGE}`);
        const margin = numberFlag(flags.margin, 'margin');
        const r = await registry.promote(policy, intFlag(flags.version, 'version', 1), {
          force: flags.force === true,
          ...(margin === undefined ? {} : { margin }),
        });
        write(json ? JSON.stringify(r) : formatPromotion(r));
        return 0;
      }
      case 'rollback': {
        const r = await registry.rollback(policyArg(positional));
        write(json ? JSON.stringify(r) : formatPromotion(r));
        return 0;
      }
      default:
        return 2;
    }
  } finally {
    await registry.close();
    await bus?.close();
  }
}

async function list(registry: ModelRegistry, json: boolean): Promise<number> {
  const summaries = await registry.list();
  const rows = await Promise.all(
    summaries.map(async (s) => {
      const card = s.champion === null ? undefined : await registry.show(s.policy, s.champion).catch(() => undefined);
      const primary = card?.metrics.primary.name;
      return {
        ...s,
        model: card?.name ?? null,
        primary: primary === undefined ? null : { name: primary, value: card?.metrics.test[primary] ?? null },
      };
    }),
  );
  if (json) {
    write(JSON.stringify(rows));
    return 0;
  }
  if (rows.length === 0) {
    write('no models registered yet (syncpilot train <policy>)');
    return 0;
  }
  const table = [['policy', 'champion', 'model', 'primary metric', 'challengers', 'versions', 'updated']];
  for (const r of rows) {
    table.push([
      r.policy,
      r.champion === null ? '-' : `v${r.champion}`,
      r.model ?? '-',
      r.primary === null ? '-' : `${r.primary.name} ${formatMetric(r.primary.value ?? undefined)}`,
      r.challengers.length === 0 ? '-' : r.challengers.map((v) => `v${v}`).join(','),
      String(r.versions.length),
      r.updatedAt === null ? '-' : new Date(r.updatedAt).toISOString().replace(/\.\d+Z$/, 'Z'),
    ]);
  }
  write(formatTable(table));
  return 0;
}

/** A model card for people: identity, role, data, training and metrics vs baseline. */
export function formatCard(card: ModelCard, champion: number | null, challengers: readonly number[]): string {
  const role = card.version === champion ? 'champion' : challengers.includes(card.version) ? 'challenger' : 'registered';
  const m = card.metrics;
  const names = [
    m.primary.name,
    ...Object.keys(m.test)
      .filter((n) => n !== m.primary.name)
      .sort(),
  ];
  const metrics = [['metric', 'test', 'validation', 'baseline']];
  for (const n of names) metrics.push([n, formatMetric(m.test[n]), formatMetric(m.validation?.[n]), formatMetric(m.baseline?.[n])]);
  const t = card.training;
  return [
    `${card.policy}/${card.name} v${card.version} (${role}), created ${card.createdAt}`,
    `file      ${card.file.name}  ${card.file.bytes} bytes  sha256 ${card.file.sha256}`,
    `io        ${card.io.inputName}[${card.io.inputs}] -> ${card.io.outputName}[${card.io.outputs}]`,
    `features  ${card.featureSchema.name} v${card.featureSchema.version}`,
    `dataset   ${card.dataset.source}; rows train ${card.dataset.rows.train} / validation ${card.dataset.rows.validation} / test ${card.dataset.rows.test}; ${card.dataset.split.method} split, seed ${card.dataset.split.seed}`,
    `          fingerprint ${card.dataset.fingerprint}`,
    `training  ${t.backend}, seed ${t.seed}, ${t.epochs} epochs, ${(t.durationMs / 1000).toFixed(1)} s`,
    ...(card.parity === undefined
      ? []
      : [`parity    max |TF.js - ONNX| ${card.parity.maxAbsDiff.toExponential(2)} on ${card.parity.samples} inputs`]),
    '',
    `primary metric: ${m.primary.name} (${m.primary.higherIsBetter ? 'higher' : 'lower'} is better)`,
    formatTable(metrics),
  ].join('\n');
}

function formatPromotion(r: PromotionResult): string {
  const verb = r.action === 'rollback' ? 'rolled back to' : 'promoted';
  const head = r.changed
    ? `${r.policy}: ${verb} v${r.champion} (was ${r.previous === null ? 'none' : `v${r.previous}`})`
    : `${r.policy}: v${r.champion} already is the champion`;
  const notes = [
    r.forced ? 'gate skipped (--force)' : '',
    r.notified ? '' : 'servers were not notified (see the warning above); they pick it up on their next reload',
  ];
  return [head, ...notes.filter((n) => n !== '')].join('\n');
}

function policyArg(value: string | undefined): Policy {
  if (value === undefined) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `a policy is required (${POLICIES.join(', ')})\n\n${USAGE}`);
  if (!isPolicy(value))
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `unknown policy "${value}"; expected one of ${POLICIES.join(', ')}`);
  return value;
}

async function openBus(flags: Flags): Promise<PromotionBus | undefined> {
  if (flags.redis !== undefined && flags.kafka !== undefined) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', '--redis and --kafka are alternatives: announce on one bus');
  }
  const kafkaBrokers = kafkaBrokersFrom(flags.kafka, {});
  const kind = flags.redis !== undefined ? 'redis' : kafkaBrokers !== undefined ? 'kafka' : 'file';
  return openAnnounceBus(kind, { redisUrl: flags.redis, kafkaBrokers });
}

function write(text: string): void {
  process.stdout.write(`${text}\n`);
}

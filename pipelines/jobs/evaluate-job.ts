import { SyncPilotError } from '../../src/core/errors.ts';
import type { ModelCard } from '../../src/ml/model-card.ts';
import { readModelFiles } from '../../src/ml/model-files.ts';
import type { ModelRuntime } from '../../src/ml/model-runtime.ts';
import { evaluatePayloadSchema, parseJob, type EvaluatePayload, type EvaluateResult } from './job-schemas.ts';
import { emitLifecycle } from './lifecycle.ts';
import type { PipelineDeps } from './pipeline-deps.ts';

/**
 * Checks a registered version before promotion: its files verify against its card, it loads and
 * answers one row in `deps.runtime` (when given), and its held-out primary metric beats the
 * policy's baseline heuristic and the current champion by `margin` (relative). Only reads; the
 * verdict is the result, a failed gate is not an error.
 * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` / `SP_ERR_MODEL_NOT_FOUND` for a bad registered
 * model, `SP_ERR_MODEL_MISMATCH` when it does not load or answers non-finite values
 */
export async function evaluateJob(input: EvaluatePayload, deps: PipelineDeps): Promise<EvaluateResult> {
  const p = parseJob(evaluatePayloadSchema, input, 'evaluate payload');
  const registry = await deps.openRegistry();
  const files = await readModelFiles(registry.modelDir(p.policy, p.version));
  if (deps.runtime !== undefined) await smokeTest(deps.runtime, files.bytes, files.card);
  const card = files.card;
  const primary = card.metrics.primary;
  const value = metric(card, primary.name);
  const baseline = card.metrics.baseline?.[primary.name];
  const champion = await registry.champion(p.policy);
  const base = { jobId: p.jobId, policy: p.policy, version: p.version, champion };
  const verdict = (eligible: boolean, reason: string, championValue?: number): EvaluateResult => ({
    ...base,
    eligible,
    reason,
    primary: {
      ...primary,
      value,
      ...(championValue === undefined ? {} : { champion: championValue }),
      ...(baseline === undefined ? {} : { baseline }),
    },
  });

  let result: EvaluateResult;
  if (champion === p.version) {
    result = verdict(true, `v${p.version} is already the champion`);
  } else if (baseline !== undefined && !beats(value, baseline, primary.higherIsBetter, 0)) {
    result = verdict(false, `${primary.name} ${fmt(value)} does not beat the baseline's ${fmt(baseline)}`);
  } else if (champion === null) {
    result = verdict(
      true,
      `no champion yet; ${primary.name} ${fmt(value)}${baseline === undefined ? '' : ` vs baseline ${fmt(baseline)}`}`,
    );
  } else {
    const other = await registry.show(p.policy, champion);
    if (other.metrics.primary.name !== primary.name) {
      result = verdict(false, `champion v${champion} is measured by ${other.metrics.primary.name}, this model by ${primary.name}`);
    } else if (other.featureSchema.name !== card.featureSchema.name || other.featureSchema.version !== card.featureSchema.version) {
      result = verdict(false, `feature schema ${card.featureSchema.name}@${card.featureSchema.version} differs from the champion's`);
    } else {
      const championValue = metric(other, primary.name);
      const ok = beats(value, championValue, primary.higherIsBetter, p.margin);
      result = verdict(
        ok,
        `${primary.name} ${fmt(value)} vs champion v${champion} ${fmt(championValue)}: ${ok ? 'beats' : 'does not beat'} it by the ${p.margin * 100}% margin`,
        championValue,
      );
    }
  }
  emitLifecycle(deps, p.policy, card, 'evaluated', { metrics: card.metrics.test, reason: result.reason });
  return result;
}

/**
 * Whether `value` improves on `reference` by at least `margin` of it (relative), strictly.
 * The same rule as the registry's promotion gate, so a verdict here predicts the gate's.
 */
export function beats(value: number, reference: number, higherIsBetter: boolean, margin: number): boolean {
  const improvement = higherIsBetter ? value - reference : reference - value;
  return improvement > 0 && improvement >= margin * Math.abs(reference);
}

function metric(card: ModelCard, name: string): number {
  const v = card.metrics.test[name];
  if (v === undefined) throw new SyncPilotError('SP_ERR_MODEL_CARD_INVALID', `${card.policy} v${card.version}: no test metric ${name}`);
  return v;
}

async function smokeTest(runtime: ModelRuntime, bytes: Uint8Array, card: ModelCard): Promise<void> {
  const model = await runtime.load(bytes, card);
  try {
    const out = await model.run(new Float32Array(model.inputs), 1);
    if (out.length !== model.outputs || !out.every(Number.isFinite)) {
      throw new SyncPilotError(
        'SP_ERR_MODEL_MISMATCH',
        `${card.policy} v${card.version} answered ${out.length} values, not ${model.outputs} finite ones`,
      );
    }
  } finally {
    await model.close();
  }
}

function fmt(n: number): string {
  return Number(n.toPrecision(4)).toString();
}

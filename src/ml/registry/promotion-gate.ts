import { SyncPilotError } from '../../core/errors.ts';
import type { ModelCard } from '../model-card.ts';

/** How a challenger compared with the champion on the held-out primary metric. */
export interface GateOutcome {
  readonly metric: string;
  readonly higherIsBetter: boolean;
  readonly champion: number;
  readonly challenger: number;
  /** Relative margin asked for. */
  readonly margin: number;
  /** The improvement the margin requires: `margin * |champion|`. */
  readonly required: number;
  /** Signed so that positive is better: `challenger - champion`, or the reverse when lower is better. */
  readonly improvement: number;
}

/**
 * The promotion gate: the challenger must use the champion's feature schema and primary metric
 * (same name and direction), and its held-out value must beat the champion's by at least
 * `margin` relative to the champion's value (and strictly). A champion whose value is 0 needs
 * any strict improvement.
 * @returns the comparison, when it passes
 * @throws SyncPilotError `SP_ERR_PROMOTION_REJECTED` naming the reason and both values
 */
export function checkPromotionGate(champion: ModelCard, challenger: ModelCard, margin: number): GateOutcome {
  const tag = `${challenger.policy} v${challenger.version} vs champion v${champion.version}`;
  const fa = champion.featureSchema;
  const fb = challenger.featureSchema;
  if (fa.name !== fb.name || fa.version !== fb.version) {
    throw rejected(
      `${tag}: feature schema ${fb.name}@${fb.version} differs from the champion's ${fa.name}@${fa.version} (use force to migrate)`,
    );
  }
  const pa = champion.metrics.primary;
  const pb = challenger.metrics.primary;
  if (pa.name !== pb.name || pa.higherIsBetter !== pb.higherIsBetter) {
    throw rejected(`${tag}: primary metric ${describe(pb)} differs from the champion's ${describe(pa)}`);
  }
  const a = champion.metrics.test[pa.name];
  const b = challenger.metrics.test[pb.name];
  if (a === undefined || b === undefined) {
    // parseModelCard guarantees both; a card built in code might not.
    throw rejected(`${tag}: a card lacks its primary metric "${pa.name}" on the test split`);
  }
  const improvement = pa.higherIsBetter ? b - a : a - b;
  const required = margin * Math.abs(a);
  const outcome: GateOutcome = {
    metric: pa.name,
    higherIsBetter: pa.higherIsBetter,
    champion: a,
    challenger: b,
    margin,
    required,
    improvement,
  };
  if (!(improvement > 0 && improvement >= required)) {
    throw new SyncPilotError(
      'SP_ERR_PROMOTION_REJECTED',
      `${tag}: ${pa.name} ${b} does not beat ${a} by the margin ${margin} (${pa.higherIsBetter ? 'higher' : 'lower'} is better; needs an improvement of at least ${required}, has ${improvement})`,
      { details: { ...outcome } },
    );
  }
  return outcome;
}

function describe(p: { name: string; higherIsBetter: boolean }): string {
  return `"${p.name}" (${p.higherIsBetter ? 'higher' : 'lower'} is better)`;
}

function rejected(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_PROMOTION_REJECTED', message);
}

import { SyncPilotError } from '../src/core/errors.ts';

/** Regression metrics over every output value: mean absolute error, root mean squared error, R². */
export interface RegressionMetrics {
  readonly mae: number;
  readonly rmse: number;
  /** 1 − SSE / SST over the true values' mean; 0 when the truth is constant and matched, −∞ is clamped to −1e9. */
  readonly r2: number;
  readonly count: number;
}

/**
 * Regression metrics of `predicted` against `actual` (same length, ≥ 1 value).
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` for empty or mismatched arrays
 */
export function regressionMetrics(actual: ArrayLike<number>, predicted: ArrayLike<number>): RegressionMetrics {
  checkLengths(actual, predicted);
  const n = actual.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += actual[i] as number;
  mean /= n;
  let abs = 0;
  let sse = 0;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    const a = actual[i] as number;
    const e = a - (predicted[i] as number);
    abs += Math.abs(e);
    sse += e * e;
    sst += (a - mean) * (a - mean);
  }
  const r2 = sst === 0 ? (sse === 0 ? 1 : -1e9) : Math.max(-1e9, 1 - sse / sst);
  return { mae: abs / n, rmse: Math.sqrt(sse / n), r2, count: n };
}

/** Classification metrics: accuracy, mean log loss, F1 (binary: of the positive class; multi-class: macro). */
export interface ClassificationMetrics {
  readonly accuracy: number;
  readonly logLoss: number;
  readonly f1: number;
  readonly count: number;
}

/** Probabilities are clipped to [ε, 1 − ε] for the log loss. */
const EPS = 1e-7;

/**
 * Classification metrics for `rows` rows of `outputs` columns. `outputs === 1`: `actual` holds 0/1
 * labels and `probabilities` P(class 1), thresholded at 0.5. `outputs > 1`: `actual` is one-hot
 * (argmax taken) and `probabilities` a distribution per row, predicted class = argmax.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` for empty or mismatched arrays
 */
export function classificationMetrics(actual: ArrayLike<number>, probabilities: ArrayLike<number>, outputs = 1): ClassificationMetrics {
  checkLengths(actual, probabilities);
  if (!Number.isInteger(outputs) || outputs < 1 || actual.length % outputs !== 0) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `${actual.length} values are not rows of ${outputs} outputs`);
  }
  const rows = actual.length / outputs;
  const classes = outputs === 1 ? 2 : outputs;
  const tp = new Float64Array(classes);
  const fp = new Float64Array(classes);
  const fn = new Float64Array(classes);
  let correct = 0;
  let logLoss = 0;
  for (let r = 0; r < rows; r++) {
    let truth: number;
    let guess: number;
    if (outputs === 1) {
      const p = clip(probabilities[r] as number);
      truth = (actual[r] as number) >= 0.5 ? 1 : 0;
      guess = p >= 0.5 ? 1 : 0;
      logLoss -= truth === 1 ? Math.log(p) : Math.log(1 - p);
    } else {
      truth = argmax(actual, r * outputs, outputs);
      guess = argmax(probabilities, r * outputs, outputs);
      logLoss -= Math.log(clip(probabilities[r * outputs + truth] as number));
    }
    if (truth === guess) {
      correct++;
      tp[truth] = (tp[truth] as number) + 1;
    } else {
      fp[guess] = (fp[guess] as number) + 1;
      fn[truth] = (fn[truth] as number) + 1;
    }
  }
  const f1Of = (c: number): number => {
    const denominator = 2 * (tp[c] as number) + (fp[c] as number) + (fn[c] as number);
    return denominator === 0 ? 0 : (2 * (tp[c] as number)) / denominator;
  };
  let f1 = 0;
  if (outputs === 1) f1 = f1Of(1);
  else {
    for (let c = 0; c < classes; c++) f1 += f1Of(c);
    f1 /= classes;
  }
  return { accuracy: correct / rows, logLoss: logLoss / rows, f1, count: rows };
}

function clip(p: number): number {
  return Math.min(1 - EPS, Math.max(EPS, p));
}

function argmax(values: ArrayLike<number>, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if ((values[offset + j] as number) > (values[offset + best] as number)) best = j;
  return best;
}

function checkLengths(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length === 0 || a.length !== b.length) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `cannot evaluate ${b.length} predictions against ${a.length} values`);
  }
}

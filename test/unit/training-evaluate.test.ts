import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { classificationMetrics, regressionMetrics } from '../../training/evaluate.ts';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

describe('regressionMetrics', () => {
  test('hand-computed values', () => {
    // errors 0.5, -0.5, 1, 0 → |e| mean 0.5, e² mean 0.375; truth mean 2.5, SST = 5
    const m = regressionMetrics([1, 2, 3, 4], [0.5, 2.5, 2, 4]);
    close(m.mae, 0.5);
    close(m.rmse, Math.sqrt(0.375));
    close(m.r2, 1 - 1.5 / 5);
    assert.equal(m.count, 4);
  });

  test('perfect predictions and constant truth', () => {
    assert.deepEqual(regressionMetrics([1, 2], [1, 2]), { mae: 0, rmse: 0, r2: 1, count: 2 });
    assert.equal(regressionMetrics([3, 3], [3, 3]).r2, 1);
    assert.equal(regressionMetrics([3, 3], [3, 4]).r2, -1e9);
  });

  test('mismatched or empty inputs are refused', () => {
    assert.throws(
      () => regressionMetrics([], []),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_DATASET_INVALID',
    );
    assert.throws(() => regressionMetrics([1, 2], [1]), SyncPilotError);
  });
});

describe('classificationMetrics', () => {
  test('binary: accuracy, log loss, F1 of the positive class', () => {
    // truth 1,1,0,0 ; p .9,.4,.2,.6 → predicted 1,0,0,1: tp=1 fp=1 fn=1 → F1 = 2/(2+1+1) = 0.5
    const m = classificationMetrics([1, 1, 0, 0], [0.9, 0.4, 0.2, 0.6]);
    close(m.accuracy, 0.5);
    close(m.f1, 0.5);
    close(m.logLoss, -(Math.log(0.9) + Math.log(0.4) + Math.log(0.8) + Math.log(0.4)) / 4);
  });

  test('probabilities of 0 and 1 are clipped, so log loss stays finite', () => {
    const m = classificationMetrics([1, 0], [0, 1]);
    assert.ok(Number.isFinite(m.logLoss) && m.logLoss > 10);
    assert.equal(m.accuracy, 0);
  });

  test('multi-class: one-hot truth, argmax prediction, macro F1', () => {
    const truth = [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1];
    const probs = [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.5, 0.3, 0.1, 0.1, 0.8];
    const m = classificationMetrics(truth, probs, 3);
    close(m.accuracy, 0.75);
    // class 0: tp1 ; class 1: tp1 fp1 ; class 2: tp1 fn1 → F1 = (1 + 2/3 + 2/3) / 3
    close(m.f1, (1 + 2 / 3 + 2 / 3) / 3);
    close(m.logLoss, -(Math.log(0.7) + Math.log(0.8) + Math.log(0.3) + Math.log(0.8)) / 4);
    assert.throws(() => classificationMetrics([1, 0, 0], [1, 0, 0], 2), SyncPilotError);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import type { ModelCard } from '../../src/ml/model-card.ts';
import { checkPromotionGate } from '../../src/ml/registry/promotion-gate.ts';
import { championStack, type HistoryEntry } from '../../src/ml/registry/registry-state.ts';
import { testCard, type TestModelSpec } from '../fixtures/ml-registry-models.ts';

function card(version: number, spec: TestModelSpec): ModelCard {
  return { ...testCard(new Uint8Array([version, 1, 2, 3]), spec), version };
}

const rejected = (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_PROMOTION_REJECTED';

test('lower-is-better: accepted only when the challenger is lower by at least the relative margin', () => {
  const champion = card(1, { metric: 0.5 });
  // margin 0.01 of 0.5 = 0.005
  const ok = checkPromotionGate(champion, card(2, { metric: 0.49 }), 0.01);
  assert.equal(ok.metric, 'mae');
  assert.equal(ok.higherIsBetter, false);
  assert.ok(Math.abs(ok.improvement - 0.01) < 1e-12);
  assert.ok(Math.abs(ok.required - 0.005) < 1e-12);
  assert.throws(() => checkPromotionGate(champion, card(2, { metric: 0.498 }), 0.01), rejected, 'better, but by less than the margin');
  assert.throws(() => checkPromotionGate(champion, card(2, { metric: 0.6 }), 0.01), rejected, 'worse');
  assert.throws(() => checkPromotionGate(champion, card(2, { metric: 0.5 }), 0), rejected, 'equal is not better even with margin 0');
  checkPromotionGate(champion, card(2, { metric: 0.4999 }), 0);
});

test('higher-is-better: the direction flips', () => {
  const spec = { metricName: 'accuracy', higherIsBetter: true } as const;
  const champion = card(1, { ...spec, metric: 0.8 });
  // margin 0.05 of 0.8 = 0.04
  checkPromotionGate(champion, card(2, { ...spec, metric: 0.85 }), 0.05);
  assert.throws(() => checkPromotionGate(champion, card(2, { ...spec, metric: 0.83 }), 0.05), rejected);
  assert.throws(() => checkPromotionGate(champion, card(2, { ...spec, metric: 0.7 }), 0.05), rejected, 'lower is worse here');
});

test('a different primary metric, direction or feature schema is refused whatever the values', () => {
  const champion = card(1, { metric: 0.5 });
  assert.throws(() => checkPromotionGate(champion, card(2, { metricName: 'rmse', metric: 0.1 }), 0.01), /primary metric "rmse"/);
  assert.throws(() => checkPromotionGate(champion, card(2, { metric: 0.1, higherIsBetter: true }), 0.01), rejected);
  assert.throws(
    () => checkPromotionGate(champion, card(2, { metric: 0.1, featureSchema: { name: 'compression-size', version: 2 } }), 0.01),
    (err: unknown) => rejected(err) && /feature schema compression-size@2/.test((err as Error).message),
  );
});

test('a rejection carries both values in its details', () => {
  try {
    checkPromotionGate(card(1, { metric: 0.5 }), card(2, { metric: 0.7 }), 0.01);
    assert.fail('should reject');
  } catch (err) {
    assert.ok(err instanceof SyncPilotError);
    assert.equal(err.details.champion, 0.5);
    assert.equal(err.details.challenger, 0.7);
  }
});

test('championStack replays promotions and rollbacks', () => {
  const e = (action: HistoryEntry['action'], version: number): HistoryEntry => ({ at: 0, action, version, previous: null, origin: 't' });
  assert.deepEqual(championStack([]), []);
  assert.deepEqual(championStack([e('register', 1), e('promote', 1), e('promote', 2), e('promote', 3)]), [1, 2, 3]);
  assert.deepEqual(championStack([e('promote', 1), e('promote', 2), e('promote', 3), e('rollback', 2)]), [1, 2]);
  assert.deepEqual(championStack([e('promote', 1), e('promote', 2), e('rollback', 1), e('promote', 3)]), [1, 3]);
  assert.deepEqual(championStack([e('promote', 1), e('add-challenger', 2), e('remove-challenger', 2)]), [1]);
});

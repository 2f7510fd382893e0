import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SyncPilotError } from '../../src/core/errors.ts';
import { docId, peerId } from '../../src/core/ids.ts';
import { Pipeline, type HeldMessage } from '../../src/core/pipeline.ts';
import type { Envelope, Phase, Stage, StageResult } from '../../src/core/stage.ts';

function envelope(phase: Phase = 'inbound', payload: unknown = ['x']): Envelope {
  return { id: 'm1', phase, kind: 'changes', doc: docId('d'), peer: peerId('p'), payload, bytes: 1, receivedAt: 0, annotations: {} };
}

function stage(name: string, order: number, process: Stage['process'], extra: Partial<Stage> = {}): Stage {
  return { name, order, kind: 'optimizing', phases: ['inbound'], process, ...extra };
}

function memoryHolds(): { holds: { put(r: HeldMessage): void }; held: HeldMessage[] } {
  const held: HeldMessage[] = [];
  return { holds: { put: (r) => void held.push(r) }, held };
}

describe('Pipeline', () => {
  test('runs stages by order, then name, and only in their phases', () => {
    const seen: string[] = [];
    const mk = (name: string, order: number, phases: Phase[] = ['inbound']): Stage =>
      stage(name, order, () => (seen.push(name), { type: 'continue' }), { phases });
    const p = new Pipeline([mk('c', 2), mk('b', 1), mk('a', 2), mk('out', 0, ['outbound'])]);
    const r = p.run(envelope());
    assert.ok(!(r instanceof Promise));
    assert.equal(r.type, 'continue');
    assert.deepEqual(seen, ['b', 'a', 'c']);
  });

  test('an empty pipeline returns the same message synchronously', () => {
    const m = envelope();
    const r = new Pipeline([]).run(m);
    assert.ok(!(r instanceof Promise));
    assert.equal(r.type === 'continue' && r.message, m);
  });

  test('continue may replace the message and add replies; later stages see the replacement', () => {
    let seenByB: unknown;
    const a = stage('a', 1, (m) => ({
      type: 'continue',
      message: { ...m, annotations: { tag: 1 } },
      replies: [{ kind: 'hint', data: 1 }],
    }));
    const b = stage('b', 2, (m) => ((seenByB = m.annotations['tag']), { type: 'continue', replies: [{ kind: 'hint', data: 2 }] }));
    const r = new Pipeline([a, b]).run(envelope());
    assert.ok(!(r instanceof Promise) && r.type === 'continue');
    assert.equal(seenByB, 1);
    assert.deepEqual(
      r.replies.map((x) => x.data),
      [1, 2],
    );
  });

  test('reject stops the pipeline; later stages never run', () => {
    let ran = false;
    const p = new Pipeline([
      stage('deny', 1, () => ({ type: 'reject', code: 'SP_ERR_FORBIDDEN', reason: 'no' }), { kind: 'protecting' }),
      stage('later', 2, () => ((ran = true), { type: 'continue' })),
    ]);
    const r = p.run(envelope());
    assert.ok(!(r instanceof Promise));
    assert.deepEqual(r, { type: 'reject', stage: 'deny', code: 'SP_ERR_FORBIDDEN', reason: 'no' });
    assert.equal(ran, false);
  });

  test('an optimizing stage that throws fails open: the message passes unchanged and is counted', () => {
    const m = envelope();
    const p = new Pipeline([
      stage('boom', 1, () => {
        throw new Error('bug');
      }),
    ]);
    const r = p.run(m);
    assert.ok(!(r instanceof Promise) && r.type === 'continue');
    assert.equal(r.message, m);
    assert.equal(p.stats().get('boom')?.errors, 1);
  });

  test('a protecting stage that throws fails safe: the message is held durably and the peer told why', () => {
    const { holds, held } = memoryHolds();
    const m = envelope();
    const p = new Pipeline(
      [
        stage(
          'guard',
          1,
          () => {
            throw new Error('model crashed');
          },
          { kind: 'protecting' },
        ),
      ],
      { holds },
    );
    const r = p.run(m);
    assert.ok(!(r instanceof Promise) && r.type === 'hold');
    assert.equal(r.code, 'SP_ERR_STAGE_FAILED');
    assert.equal(held.length, 1);
    assert.equal(held[0]?.envelope, m);
    assert.equal(held[0]?.id, r.holdId);
  });

  test('without a hold store a failing protecting stage rejects (the sender keeps the data)', () => {
    const p = new Pipeline([
      stage(
        'guard',
        1,
        () => {
          throw new Error('x');
        },
        { kind: 'protecting' },
      ),
    ]);
    const r = p.run(envelope());
    assert.ok(!(r instanceof Promise) && r.type === 'reject');
  });

  test('a failing hold store propagates, so the caller does not acknowledge', () => {
    const p = new Pipeline(
      [stage('guard', 1, () => ({ type: 'hold', code: 'SP_ERR_HELD', reason: 'suspicious' }), { kind: 'protecting' })],
      {
        holds: {
          put: () => {
            throw new SyncPilotError('SP_ERR_STORE', 'disk full');
          },
        },
      },
    );
    assert.throws(
      () => p.run(envelope()),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_STORE',
    );
  });

  test('a sync optimizing stage over budget is ignored (fail open); a protecting one still decides', () => {
    let now = 0;
    const clock = { now: () => 0, monotonic: () => now };
    const slowAnnotate = stage('slow', 1, (m) => ((now += 10), { type: 'continue', message: { ...m, annotations: { late: true } } }), {
      budgetMs: 1,
    });
    const p = new Pipeline([slowAnnotate], { clock });
    const m = envelope();
    const r = p.run(m);
    assert.ok(!(r instanceof Promise) && r.type === 'continue');
    assert.equal(r.message, m);
    assert.equal(p.stats().get('slow')?.overBudget, 1);

    const slowGuard = stage('guard', 1, () => ((now += 10), { type: 'reject', code: 'SP_ERR_FORBIDDEN', reason: 'no' }), {
      budgetMs: 1,
      kind: 'protecting',
    });
    const r2 = new Pipeline([slowGuard], { clock }).run(envelope());
    assert.ok(!(r2 instanceof Promise) && r2.type === 'reject');
  });

  test('async stages: timeout aborts the signal; optimizing passes, protecting holds', async () => {
    let aborted = false;
    const hang = (kind: 'optimizing' | 'protecting'): Stage =>
      stage(
        'hang',
        1,
        (_m, ctx) =>
          new Promise<StageResult>((resolve) =>
            ctx.signal.addEventListener('abort', () => ((aborted = true), resolve({ type: 'continue' }))),
          ),
        {
          mode: 'async',
          budgetMs: 20,
          kind,
        },
      );
    const m = envelope();
    const r = await new Pipeline([hang('optimizing')]).run(m);
    assert.equal(r.type, 'continue');
    assert.equal(r.type === 'continue' && r.message, m);
    assert.equal(aborted, true);
    const { holds, held } = memoryHolds();
    const r2 = await new Pipeline([hang('protecting')], { holds }).run(envelope());
    assert.equal(r2.type, 'hold');
    assert.equal(r2.type === 'hold' && r2.code, 'SP_ERR_STAGE_TIMEOUT');
    assert.equal(held.length, 1);
  });

  test('async then sync stages keep their order', async () => {
    const seen: string[] = [];
    const p = new Pipeline([
      stage('a', 1, async () => (seen.push('a'), { type: 'continue' }), { mode: 'async' }),
      stage('b', 2, () => (seen.push('b'), { type: 'continue' })),
    ]);
    const r = p.run(envelope());
    assert.ok(r instanceof Promise);
    assert.equal((await r).type, 'continue');
    assert.deepEqual(seen, ['a', 'b']);
  });

  test('a sync stage returning a promise is a failure, not a silent await', () => {
    const p = new Pipeline([
      stage('oops', 1, () => Promise.resolve<StageResult>({ type: 'reject', code: 'SP_ERR_FORBIDDEN', reason: '' })),
    ]);
    const r = p.run(envelope());
    assert.ok(!(r instanceof Promise) && r.type === 'continue');
    assert.equal(p.stats().get('oops')?.errors, 1);
  });

  test('duplicate stage names are a config error', () => {
    const s = stage('same', 1, () => ({ type: 'continue' }));
    assert.throws(
      () => new Pipeline([s, { ...s }]),
      (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID',
    );
  });

  test('property: optimizing stages never change the outcome type, whatever they throw', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('ok', 'throw', 'annotate'), { maxLength: 8 }), (kinds) => {
        const m = envelope();
        const stages = kinds.map((k, i) =>
          stage(`s${i}`, i, (msg) => {
            if (k === 'throw') throw new Error('x');
            return k === 'annotate'
              ? { type: 'continue', message: { ...msg, annotations: { ...msg.annotations, [`s${i}`]: true } } }
              : { type: 'continue' };
          }),
        );
        const r = new Pipeline(stages).run(m);
        assert.ok(!(r instanceof Promise) && r.type === 'continue');
        assert.equal(r.message.payload, m.payload);
        assert.deepEqual(Object.keys(r.message.annotations).sort(), kinds.flatMap((k, i) => (k === 'annotate' ? [`s${i}`] : [])).sort());
        assert.deepEqual(m.annotations, {});
      }),
      { numRuns: 500 },
    );
  });
});

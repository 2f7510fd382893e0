import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import type { SourcedEvent } from '../../src/telemetry/source/telemetry-source.ts';
import type { EnqueueResult, PipelineEnqueuer } from '../../pipelines/jobs/cycle-steps.ts';
import type { TrainRequestInput } from '../../pipelines/jobs/job-schemas.ts';
import { DriftTrigger } from '../../pipelines/triggers/drift-trigger.ts';
import { LabelTrigger } from '../../pipelines/triggers/label-trigger.ts';
import { populationStabilityIndex } from '../../pipelines/triggers/psi.ts';
import { startScheduleTrigger } from '../../pipelines/triggers/schedule-trigger.ts';

let seq = 0;
function compression(rawBytes: number, decision: 'compress' | 'raw' = 'compress'): SourcedEvent {
  seq++;
  const event = {
    type: 'syncpilot.compression.v1',
    id: `e${seq}`,
    time: seq,
    tenant: 'default',
    key: 'p1',
    data: {
      peer: 'p1',
      decision,
      codec: decision === 'raw' ? 'raw' : 'brotli',
      rawBytes,
      encodedBytes: Math.round(rawBytes / 3),
      encodeMicros: 1,
    },
  } as SyncPilotEvent;
  return { event, position: `0:${seq}` };
}

class RecordingEnqueuer implements PipelineEnqueuer {
  readonly requests: TrainRequestInput[] = [];
  failNext = 0;
  async enqueue(request: TrainRequestInput): Promise<EnqueueResult> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('queue down');
    }
    this.requests.push(request);
    return { jobId: `job${this.requests.length}`, duplicate: false };
  }
}

/** A deterministic pseudo-random sample. */
function sample(n: number, f: (u: number) => number, seed = 1): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return f(s / 2 ** 31);
  });
}

describe('population stability index', () => {
  test('near zero for the same distribution, large for a shifted one', () => {
    const ref = sample(2000, (u) => u * 100, 1);
    assert.ok(
      populationStabilityIndex(
        ref,
        sample(2000, (u) => u * 100, 2),
      ) < 0.02,
    );
    assert.ok(
      populationStabilityIndex(
        ref,
        sample(2000, (u) => 40 + u * 100, 3),
      ) > 0.25,
    );
  });

  test('is non-negative and zero against itself', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
        (a, b) => {
          assert.ok(populationStabilityIndex(a, b) >= 0);
          assert.ok(Math.abs(populationStabilityIndex(a, a)) < 1e-12);
        },
      ),
    );
  });
});

describe('LabelTrigger', () => {
  test('enqueues after every N labels, with a watermark that moves with the labels', async () => {
    const q = new RecordingEnqueuer();
    const t = new LabelTrigger({ policy: 'compression', enqueuer: q, threshold: 3, request: { seed: 4 } });
    await t.observe([compression(10), compression(20, 'raw'), compression(30)]);
    assert.equal(q.requests.length, 0, 'the raw decision is not a label');
    await t.observe([compression(40), compression(50)]);
    assert.equal(q.requests.length, 1);
    const first = q.requests[0]!;
    assert.equal(first.policy, 'compression');
    assert.equal(first.seed, 4);
    assert.equal(first.trigger?.kind, 'labels');
    assert.equal(first.watermark?.count, 4);
    assert.equal(t.state.pending, 0);
    await t.observe([compression(1), compression(2), compression(3)]);
    assert.equal(q.requests.length, 2);
    assert.equal(q.requests[1]!.watermark?.count, 7);
    assert.notEqual(q.requests[1]!.watermark?.digest, first.watermark?.digest);
  });

  test('a failed enqueue is tried again with the next batch', async () => {
    const q = new RecordingEnqueuer();
    q.failNext = 1;
    const t = new LabelTrigger({ policy: 'compression', enqueuer: q, threshold: 2 });
    await t.observe([compression(1), compression(2)]);
    assert.equal(q.requests.length, 0);
    assert.equal(t.state.pending, 2);
    await t.observe([compression(3)]);
    assert.equal(q.requests.length, 1);
    assert.equal(q.requests[0]!.watermark?.count, 3);
  });

  test('counts survive a restart through the state file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-pipelines-labels-'));
    try {
      const stateFile = join(dir, 'labels.json');
      const q = new RecordingEnqueuer();
      await new LabelTrigger({ policy: 'compression', enqueuer: q, threshold: 4, stateFile }).observe([
        compression(1),
        compression(2),
        compression(3),
      ]);
      const again = new LabelTrigger({ policy: 'compression', enqueuer: q, threshold: 4, stateFile });
      await again.observe([compression(4)]);
      assert.equal(q.requests.length, 1);
      assert.equal(q.requests[0]!.watermark?.count, 4);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('DriftTrigger', () => {
  test('PSI: a shifted window after the reference enqueues a retraining', async () => {
    const q = new RecordingEnqueuer();
    const t = new DriftTrigger({
      policy: 'compression',
      enqueuer: q,
      families: ['compression'],
      name: 'rawBytes',
      value: (e) => (e.type === 'syncpilot.compression.v1' ? e.data.rawBytes : undefined),
      detector: { kind: 'psi', threshold: 0.2 },
      window: 200,
    });
    await t.observe(sample(200, (u) => Math.round(1000 + u * 1000)).map((v) => compression(v)));
    await t.observe(sample(200, (u) => Math.round(1000 + u * 1000), 9).map((v) => compression(v)));
    assert.equal(q.requests.length, 0);
    assert.ok((t.lastScore ?? 1) < 0.2);
    await t.observe(sample(200, (u) => Math.round(1600 + u * 1000), 5).map((v) => compression(v)));
    assert.equal(q.requests.length, 1);
    assert.equal(q.requests[0]!.trigger?.kind, 'drift');
    assert.match(q.requests[0]!.trigger?.detail ?? '', /PSI .* of rawBytes/);
    assert.equal(q.requests[0]!.watermark?.count, 600);
  });

  test('error: a window whose mean error is worse than the card by the threshold enqueues', async () => {
    const q = new RecordingEnqueuer();
    const t = new DriftTrigger({
      policy: 'compression',
      enqueuer: q,
      families: ['compression'],
      name: 'abs error',
      value: (e) => (e.type === 'syncpilot.compression.v1' ? e.data.rawBytes / 1000 : undefined),
      detector: { kind: 'error', threshold: 0.2, reference: async () => 0.05 },
      window: 10,
    });
    await t.observe(Array.from({ length: 10 }, () => compression(55))); // +10 %
    assert.equal(q.requests.length, 0);
    await t.observe(Array.from({ length: 10 }, () => compression(70))); // +40 %
    assert.equal(q.requests.length, 1);
  });
});

describe('schedule trigger', () => {
  test('fires at start when asked, and stops', async () => {
    const q = new RecordingEnqueuer();
    const stop = startScheduleTrigger({ enqueuer: q, everyMs: 60_000, request: { policy: 'compression' }, immediately: true });
    stop();
    await new Promise((r) => setImmediate(r));
    assert.equal(q.requests.length, 1);
    assert.equal(q.requests[0]!.trigger?.kind, 'schedule');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { MicroBatcher, type BatchOutcome } from '../../src/ml/micro-batcher.ts';

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A batcher whose run doubles numbers and records every batch it was given. */
function doubling(opts: { maxBatch?: number; maxWaitMs?: number; maxInFlight?: number; deadlineMs?: number; gate?: () => Promise<void> }) {
  const batches: number[][] = [];
  const batcher = new MicroBatcher<number, number>({
    ...opts,
    run: async (items) => {
      batches.push([...items]);
      await opts.gate?.();
      return items.map((x) => x * 2);
    },
  });
  return { batcher, batches };
}

const values = (outcomes: BatchOutcome<number>[]): (number | string)[] => outcomes.map((o) => (o.ok ? o.value : o.code));

describe('MicroBatcher', () => {
  test('coalesces concurrent submits into one run and answers each in order', async () => {
    const { batcher, batches } = doubling({ maxWaitMs: 5 });
    const out = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit(i)));
    assert.deepEqual(values(out), [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    assert.deepEqual(batches, [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    assert.equal(batcher.stats().batches, 1);
    assert.equal(batcher.stats().largestBatch, 10);
    await batcher.close();
  });

  test('a full batch runs at once, without waiting for maxWaitMs', async () => {
    const { batcher, batches } = doubling({ maxBatch: 4, maxWaitMs: 60_000, maxInFlight: 3 });
    const out = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((x) => batcher.submit(x));
    // Two full batches started synchronously inside submit; the ninth item waits for the timer
    // (a slot is free, so the end of another batch does not send it).
    assert.deepEqual(batches.slice(0, 1), [[1, 2, 3, 4]]);
    assert.deepEqual(values(await Promise.all(out.slice(0, 8))), [2, 4, 6, 8, 10, 12, 14, 16]);
    assert.deepEqual(batches, [
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    assert.equal(batcher.queued, 1);
    await batcher.close(); // close sends the ninth without waiting a minute
    assert.deepEqual(values([await out[8]!]), [18]);
  });

  test('a lone item waits maxWaitMs for company, then runs alone', async () => {
    const { batcher, batches } = doubling({ maxWaitMs: 30 });
    const t0 = performance.now();
    const out = await batcher.submit(21);
    assert.ok(performance.now() - t0 >= 25, 'waited for the batch window');
    assert.deepEqual(values([out]), [42]);
    assert.deepEqual(batches, [[21]]);
    await batcher.close();
  });

  test('maxWaitMs 0 batches what arrives in one turn of the event loop', async () => {
    const { batcher, batches } = doubling({ maxWaitMs: 0 });
    const first = [1, 2, 3].map((x) => batcher.submit(x));
    await Promise.all(first);
    await Promise.all([4, 5].map((x) => batcher.submit(x)));
    assert.deepEqual(batches, [
      [1, 2, 3],
      [4, 5],
    ]);
    await batcher.close();
  });

  test('while a batch runs, newcomers gather into the next one (maxInFlight 1)', async () => {
    const gate = deferred();
    let calls = 0;
    const { batcher, batches } = doubling({ maxBatch: 64, maxWaitMs: 0, gate: () => (++calls === 1 ? gate.promise : Promise.resolve()) });
    const a = batcher.submit(1);
    await new Promise((r) => setImmediate(r));
    assert.equal(batches.length, 1, 'first batch running');
    const rest = Array.from({ length: 20 }, (_, i) => batcher.submit(100 + i));
    await new Promise((r) => setImmediate(r));
    assert.equal(batches.length, 1, 'second batch held back while the first runs');
    assert.equal(batcher.stats().inFlight, 1);
    gate.resolve();
    assert.deepEqual(values([await a]), [2]);
    await Promise.all(rest);
    assert.equal(batches.length, 2);
    assert.equal(batches[1]!.length, 20);
    await batcher.close();
  });

  test('a failing run fails every item of its batch with its code; later batches are unaffected', async () => {
    let n = 0;
    const batcher = new MicroBatcher<number, number>({
      maxWaitMs: 0,
      run: (items) => {
        n++;
        if (n === 1) throw new SyncPilotError('SP_ERR_MODEL_CORRUPT', 'boom');
        if (n === 2) return Promise.reject(new Error('plain'));
        if (n === 3) return [1]; // wrong count
        return items.map((x) => -x);
      },
    });
    assert.deepEqual(values(await Promise.all([batcher.submit(1), batcher.submit(2)])), ['SP_ERR_MODEL_CORRUPT', 'SP_ERR_MODEL_CORRUPT']);
    assert.deepEqual(values(await Promise.all([batcher.submit(1)])), ['SP_ERR_INFERENCE_FAILED']);
    assert.deepEqual(values(await Promise.all([batcher.submit(1), batcher.submit(2)])), ['SP_ERR_INTERNAL', 'SP_ERR_INTERNAL']);
    assert.deepEqual(values(await Promise.all([batcher.submit(3)])), [-3]);
    assert.equal(batcher.stats().failed, 5);
    await batcher.close();
  });

  test('deadlines: late items end with SP_ERR_TIMEOUT, and expired queued items are never run', async () => {
    const gate = deferred();
    const { batcher, batches } = doubling({ maxWaitMs: 0, deadlineMs: 40, gate: () => gate.promise });
    const running = [batcher.submit(1), batcher.submit(2)];
    await new Promise((r) => setImmediate(r));
    const queued = [batcher.submit(3), batcher.submit(4), batcher.submit(5)];
    const t0 = performance.now();
    const all = await Promise.all([...running, ...queued]);
    assert.ok(performance.now() - t0 >= 30, 'answered at the deadline, not before');
    assert.deepEqual(values(all), Array(5).fill('SP_ERR_TIMEOUT'));
    assert.equal(batcher.queued, 0);
    gate.resolve();
    await batcher.close();
    assert.deepEqual(batches, [[1, 2]], 'the expired queued items were dropped, not run');
    assert.equal(batcher.stats().timedOut, 5);
  });

  test('deadlines do not touch items answered in time', async () => {
    const { batcher } = doubling({ maxWaitMs: 0, deadlineMs: 50 });
    for (let round = 0; round < 20; round++) {
      const out = await Promise.all(Array.from({ length: 16 }, (_, i) => batcher.submit(i)));
      assert.ok(out.every((o) => o.ok));
    }
    assert.equal(batcher.stats().timedOut, 0);
    await batcher.close();
  });

  test('close runs what is queued, waits for running batches, then refuses with SP_ERR_CLOSED', async () => {
    const gate = deferred();
    let calls = 0;
    const { batcher, batches } = doubling({ maxWaitMs: 60_000, gate: () => (++calls === 1 ? gate.promise : Promise.resolve()) });
    const first = [batcher.submit(1), batcher.submit(2)];
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    const late = await batcher.submit(3);
    assert.deepEqual(values([late]), ['SP_ERR_CLOSED']);
    await new Promise((r) => setImmediate(r));
    assert.equal(closed, false, 'close waits for the running batch');
    gate.resolve();
    await closing;
    assert.deepEqual(values(await Promise.all(first)), [2, 4]);
    assert.deepEqual(batches, [[1, 2]]);
    await batcher.close();
  });

  test('rejects a bad configuration with SP_ERR_CONFIG_INVALID', () => {
    const run = (items: readonly number[]): number[] => [...items];
    for (const bad of [{ maxBatch: 0 }, { maxBatch: 1.5 }, { maxInFlight: 0 }, { maxWaitMs: -1 }, { deadlineMs: 0 }]) {
      assert.throws(() => new MicroBatcher({ run, ...bad }), { code: 'SP_ERR_CONFIG_INVALID' }, JSON.stringify(bad));
    }
  });
});

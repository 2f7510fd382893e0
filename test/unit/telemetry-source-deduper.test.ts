import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SyncPilotError } from '../../src/core/errors.ts';
import { Deduper, dedupe } from '../../src/telemetry/source/deduper.ts';
import type { SourcedEvent, TelemetrySource, TelemetrySourceStats } from '../../src/telemetry/source/telemetry-source.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';

describe('Deduper', () => {
  test('remembers ids; add reports whether an id was new', () => {
    const d = new Deduper({ capacity: 10 });
    assert.equal(d.has('a'), false);
    assert.equal(d.add('a'), true);
    assert.equal(d.add('a'), false);
    assert.equal(d.has('a'), true);
    assert.equal(d.has('b'), false);
    assert.equal(d.size, 1);
    assert.equal(new Deduper().capacity, 1_000_000);
  });

  test('forgets the oldest id beyond its capacity', () => {
    const d = new Deduper({ capacity: 3 });
    for (const id of ['a', 'b', 'c', 'd']) d.add(id);
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((id) => d.has(id)),
      [false, true, true, true],
    );
    assert.equal(d.size, 3);
    assert.equal(d.add('a'), true, 'a forgotten id is new again');
    assert.equal(d.has('b'), false);
  });

  test('matches a reference window on random sequences (probing and deletion stay consistent)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 24 }), fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 400 }), (capacity, seq) => {
        const d = new Deduper({ capacity });
        const model: string[] = [];
        for (const n of seq) {
          const id = `evt-${n}`;
          const fresh = !model.includes(id);
          assert.equal(d.add(id), fresh);
          if (fresh) {
            model.push(id);
            if (model.length > capacity) model.shift();
          }
          assert.equal(d.size, model.length);
        }
        for (let n = 0; n <= 60; n++) assert.equal(d.has(`evt-${n}`), model.includes(`evt-${n}`), `evt-${n}`);
      }),
      { numRuns: 300 },
    );
  });

  test('exact over a large window: the last N of 2N distinct ids are remembered, the first N forgotten', () => {
    const n = 100_000;
    const d = new Deduper({ capacity: n });
    const id = (i: number): string => `m3k${i.toString(36)}-a1b2c3d4-${(i * 7).toString(36)}`;
    for (let i = 0; i < 2 * n; i++) assert.ok(d.add(id(i)));
    let remembered = 0;
    let forgotten = 0;
    for (let i = 0; i < n; i++) if (!d.has(id(i))) forgotten++;
    for (let i = n; i < 2 * n; i++) if (d.has(id(i))) remembered++;
    assert.equal(forgotten, n);
    assert.equal(remembered, n);
  });

  test('a bad capacity is SP_ERR_CONFIG_INVALID', () => {
    for (const capacity of [0, -1, 1.5, 2 ** 29]) {
      assert.throws(
        () => new Deduper({ capacity }),
        (e: unknown) => e instanceof SyncPilotError && e.code === 'SP_ERR_CONFIG_INVALID',
      );
    }
  });
});

function ev(id: string): SourcedEvent {
  const event = {
    type: 'syncpilot.access.v1',
    id,
    time: 1,
    tenant: 'default',
    key: 'd',
    data: { doc: 'd', peer: 'p', action: 'open' },
  } as SyncPilotEvent;
  return { event, position: `0:${id}` };
}

/** A source that delivers `batches` in order, re-delivering a batch whose handler threw (once). */
function scripted(batches: readonly (readonly SourcedEvent[])[]): TelemetrySource {
  let received = 0;
  return {
    async run(handle) {
      for (const b of batches) {
        received += b.length;
        try {
          await handle(b);
        } catch {
          received += b.length;
          await handle(b);
        }
      }
    },
    stats: (): TelemetrySourceStats => ({ received, invalid: 0, duplicates: 0, committed: 0 }),
    close: async () => {},
  };
}

describe('dedupe(source)', () => {
  test('hands each id on once, across and within batches, and counts the rest', async () => {
    const source = dedupe(scripted([[ev('a'), ev('b'), ev('a')], [ev('b'), ev('c')], [ev('a')]]));
    const seen: string[] = [];
    await source.run(async (b) => void seen.push(...b.map((e) => e.event.id)), { signal: new AbortController().signal });
    assert.deepEqual(seen, ['a', 'b', 'c']);
    assert.equal(source.stats().duplicates, 3);
    assert.equal(source.stats().received, 6);
  });

  test('ids of a batch whose handler threw are not remembered: the re-delivery is handed on in full', async () => {
    const source = dedupe(scripted([[ev('a'), ev('b')], [ev('c')]]));
    const seen: string[][] = [];
    let failed = false;
    await source.run(
      async (b) => {
        if (!failed) {
          failed = true;
          throw new Error('transient');
        }
        seen.push(b.map((e) => e.event.id));
      },
      { signal: new AbortController().signal },
    );
    assert.deepEqual(seen, [['a', 'b'], ['c']]);
    assert.equal(source.stats().duplicates, 0);
  });

  test('a shared Deduper keeps the window across sources', async () => {
    const deduper = new Deduper({ capacity: 100 });
    const first: string[] = [];
    await dedupe(scripted([[ev('a'), ev('b')]]), { deduper }).run(async (b) => void first.push(...b.map((e) => e.event.id)), {
      signal: new AbortController().signal,
    });
    const second: string[] = [];
    const s2 = dedupe(scripted([[ev('b'), ev('c')]]), { deduper });
    await s2.run(async (b) => void second.push(...b.map((e) => e.event.id)), { signal: new AbortController().signal });
    assert.deepEqual(first, ['a', 'b']);
    assert.deepEqual(second, ['c']);
    assert.equal(s2.stats().duplicates, 1);
  });
});

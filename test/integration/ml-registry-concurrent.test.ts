// Two processes change one registry at once: the lock file keeps state and history consistent.
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import type { HistoryEntry, PolicyState } from '../../src/ml/registry/registry-state.ts';
import { TestChild } from '../fixtures/ml-registry-child-process.ts';
import { tempDir, writeTestModel } from '../fixtures/ml-registry-models.ts';

const PER_CHILD = 30;

/** Replays the history from the empty state, checking that each change was made against the state before it. */
function replay(history: readonly HistoryEntry[]): { champion: number | null; challengers: number[] } {
  let champion: number | null = null;
  let challengers: number[] = [];
  for (const [i, e] of history.entries()) {
    assert.equal(
      e.previous,
      champion,
      `entry ${i} (${e.action} ${e.version} by ${e.origin}) saw champion ${e.previous}, was ${champion}: a lost update`,
    );
    switch (e.action) {
      case 'register':
        break;
      case 'promote':
      case 'rollback':
        assert.notEqual(e.version, champion, `entry ${i} changed nothing`);
        champion = e.version;
        challengers = challengers.filter((c) => c !== e.version);
        break;
      case 'add-challenger':
        assert.ok(!challengers.includes(e.version), `entry ${i} added a challenger twice`);
        challengers.push(e.version);
        break;
      case 'remove-challenger':
        assert.ok(challengers.includes(e.version), `entry ${i} removed an absent challenger`);
        challengers = challengers.filter((c) => c !== e.version);
        break;
    }
  }
  return { champion, challengers };
}

test('promotions from two processes at once: state consistent, history complete', async (t) => {
  const base = await tempDir('concurrent');
  t.after(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'models');
  const registry = await ModelRegistry.open(root, { logger: silentLogger, bus: null });
  t.after(() => registry.close());
  for (let i = 0; i < 6; i++) await registry.register((await writeTestModel(join(base, 'in'))).dir, { challenger: false });
  await registry.promote('compression', 1);

  const children = [
    new TestChild('./ml-registry-promote-child.ts', ['promote', root, 'compression', '1,2', '5', String(PER_CHILD)]),
    new TestChild('./ml-registry-promote-child.ts', ['promote', root, 'compression', '3,4', '6', String(PER_CHILD)]),
  ];
  t.after(() => Promise.all(children.map((c) => c.kill())));
  await Promise.all(children.map((c) => c.line((l) => l === 'READY')));
  const t0 = performance.now();
  for (const c of children) c.send('GO');
  const done = await Promise.all(children.map((c) => c.line((l) => l.startsWith('DONE '), 120_000)));
  const ms = performance.now() - t0;

  const state: PolicyState = await registry.state('compression');
  const origins = done.map((l) => l.split(' ')[2]);
  for (const [i, line] of done.entries()) {
    assert.equal(Number(line.split(' ')[1]), 3 * PER_CHILD, `child ${i} changed the state on every call`);
    const mine = state.history.filter((h) => h.origin === origins[i]);
    assert.equal(mine.length, 3 * PER_CHILD, `every change of child ${i} is in the history`);
  }
  assert.equal(state.history.length, 6 + 1 + 6 * PER_CHILD);
  const replayed = replay(state.history);
  assert.equal(state.champion, replayed.champion);
  assert.deepEqual(state.challengers, replayed.challengers);
  assert.deepEqual(state.challengers, []);
  // Both really interleaved: otherwise the lock was never contended.
  const byOrigin = state.history.slice(7).map((h) => h.origin);
  const switches = byOrigin.filter((o, i) => i > 0 && o !== byOrigin[i - 1]).length;
  t.diagnostic(
    `${6 * PER_CHILD} changes from 2 processes in ${ms.toFixed(0)} ms (${((6 * PER_CHILD) / (ms / 1000)).toFixed(0)}/s), ${switches} hand-overs`,
  );
  assert.ok(switches >= 2, `the two processes did not interleave (${switches} hand-overs)`);
  const leftovers = (await readdir(join(root, 'compression'))).filter((n) => n.startsWith('.'));
  assert.deepEqual(leftovers, [], 'no lock, temporary or staging file left');
});

test('a process killed while holding the lock does not block the registry', async (t) => {
  const base = await tempDir('killed');
  t.after(() => rm(base, { recursive: true, force: true }));
  const root = join(base, 'models');
  const registry = await ModelRegistry.open(root, { logger: silentLogger, bus: null, lockTimeoutMs: 5000 });
  t.after(() => registry.close());
  await registry.register((await writeTestModel(join(base, 'in'))).dir, { challenger: false });
  const holder = new TestChild('./ml-registry-promote-child.ts', ['hold', root, 'compression']);
  t.after(() => holder.kill());
  await holder.line((l) => l === 'HELD');
  // While it lives, a change waits and times out.
  const waiting = await ModelRegistry.open(root, { logger: silentLogger, bus: null, lockTimeoutMs: 200 });
  await assert.rejects(waiting.promote('compression', 1), (err: unknown) => (err as { code?: string }).code === 'SP_ERR_TIMEOUT');
  await holder.kill();
  const t0 = performance.now();
  const r = await registry.promote('compression', 1);
  assert.equal(r.champion, 1);
  assert.ok(performance.now() - t0 < 2000, 'the dead holder was detected at once, not after staleLockMs');
});

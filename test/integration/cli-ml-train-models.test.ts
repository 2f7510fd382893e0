import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../fixtures/pipelines-cli.ts', import.meta.url));
const CANTERBURY = fileURLToPath(new URL('../../../shared/data/corpora/canterbury/', import.meta.url));

function run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe(
  'syncpilot train and models',
  { skip: existsSync(CANTERBURY) ? false : '../shared/data/corpora/canterbury absent', timeout: 180_000 },
  () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sp-cli-ml-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    test('train --json trains, registers and promotes a compression model that beats its baseline', async () => {
      const r = await run(['train', 'compression', '--data-dir', dir, '--epochs', '8', '--promote', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'no progress bar when stderr is not a terminal');
      const out = JSON.parse(r.stdout) as {
        train: {
          version: number;
          reused: boolean;
          metrics: Record<string, number>;
          baseline: Record<string, number>;
          primary: { name: string };
        };
        promote: { promoted: boolean; champion: number };
      };
      assert.equal(out.train.version, 1);
      assert.equal(out.train.reused, false);
      assert.equal(out.train.primary.name, 'mae');
      assert.ok(
        out.train.metrics.mae! < out.train.baseline.mae!,
        `model mae ${out.train.metrics.mae} vs baseline ${out.train.baseline.mae}`,
      );
      assert.deepEqual({ promoted: out.promote.promoted, champion: out.promote.champion }, { promoted: true, champion: 1 });
    });

    test('the same training asked again is not trained again; the table says so', async () => {
      const r = await run(['train', 'compression', '--data-dir', dir, '--epochs', '8']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /v1: already trained from the same data and options/);
      assert.match(r.stdout, /mae \(primary, lower is better\)\s+[\d.]+\s+[\d.]+\s+-[\d.]+%/);
    });

    test('models list / show / promote / rollback', async () => {
      const list = await run(['models', 'list', '--data-dir', dir, '--json']);
      assert.equal(list.code, 0, list.stderr);
      const rows = JSON.parse(list.stdout) as { policy: string; champion: number; versions: number[]; primary: { name: string } }[];
      assert.deepEqual(
        rows.map((x) => [x.policy, x.champion, x.versions, x.primary.name]),
        [['compression', 1, [1], 'mae']],
      );
      const table = await run(['models', 'list', '--data-dir', dir]);
      assert.match(table.stdout, /^policy\s+champion.*\ncompression\s+v1\s+size-regressor\s+mae /);

      const show = await run(['models', 'show', 'compression', '--data-dir', dir, '--json']);
      assert.equal(show.code, 0, show.stderr);
      const card = JSON.parse(show.stdout) as { version: number; policy: string; parity: { maxAbsDiff: number } };
      assert.equal(card.version, 1);
      assert.ok(card.parity.maxAbsDiff <= 1e-4);
      const human = await run(['models', 'show', 'compression', '--version', '1', '--data-dir', dir]);
      assert.match(human.stdout, /compression\/size-regressor v1 \(champion\)/);

      // A second, different model (another seed), then the gate, force, and rollback.
      const second = await run(['train', 'compression', '--data-dir', dir, '--epochs', '3', '--seed', '2', '--json']);
      assert.equal(second.code, 0, second.stderr);
      assert.equal((JSON.parse(second.stdout) as { train: { version: number } }).train.version, 2);
      const forced = await run(['models', 'promote', 'compression', '--version', '2', '--force', '--json', '--data-dir', dir]);
      assert.equal(forced.code, 0, forced.stderr);
      assert.deepEqual(
        (({ champion, previous, forced: f }) => ({ champion, previous, forced: f }))(JSON.parse(forced.stdout) as Record<string, unknown>),
        {
          champion: 2,
          previous: 1,
          forced: true,
        },
      );
      const back = await run(['models', 'rollback', 'compression', '--data-dir', dir]);
      assert.equal(back.code, 0, back.stderr);
      assert.match(back.stdout, /rolled back to v1 \(was v2\)/);
    });

    test('errors carry their codes and exit statuses', async () => {
      const unknown = await run(['models', 'show', 'nope', '--data-dir', dir]);
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /SP_ERR_CONFIG_INVALID: unknown policy "nope"/);
      const missing = await run(['models', 'show', 'compression', '--version', '9', '--data-dir', dir]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /SP_ERR_MODEL_NOT_FOUND/);
      const noTrainer = await run(['train', 'anomaly', '--data-dir', dir]);
      assert.equal(noTrainer.code, 2);
      assert.match(noTrainer.stderr, /SP_ERR_CONFIG_INVALID: no trainer yet for the anomaly policy/);
      const badData = await run(['train', 'compression', '--data', join(dir, 'nothing-here'), '--data-dir', dir]);
      assert.equal(badData.code, 1);
      assert.match(badData.stderr, /SP_ERR_DATASET_INVALID/);
    });
  },
);

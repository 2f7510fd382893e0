// ModelServing's periodic re-read of the registry: the safety net for promotion notices a bus lost.
// The promoting registry here announces nothing (`bus: null`), so the server's bus (the file watch of
// the same directory) never delivers a notice: only the re-read can bring a promotion in.
import assert from 'node:assert/strict';
import { access, mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ModelServing } from '../../src/cli/model-serving.ts';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger, type Logger } from '../../src/core/logger.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import { NOTICE_FILE } from '../../src/ml/registry/file-watch-bus.ts';
import { createJsRuntime } from '../../src/ml/runtime/js-runtime.ts';
import { testInputs } from '../../src/testing/model-runtime-conformance.ts';
import { sumBaseline, writeExportedModel } from '../fixtures/ml-runtime-models.ts';

const INTERVAL_MS = 40;

/** A logger that keeps every message and lets a test await one. */
class LogCapture {
  readonly lines: string[] = [];
  readonly #waiters = new Set<{ match: RegExp; resolve: () => void }>();
  readonly logger: Logger = {
    debug: (m) => this.#add(m),
    info: (m) => this.#add(m),
    warn: (m) => this.#add(m),
    error: (m) => this.#add(m),
  };

  /** Resolves once a message matching `match` was logged (already, or later). */
  waitFor(match: RegExp, ms = 5000): Promise<void> {
    if (this.lines.some((l) => match.test(l))) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { match, resolve: () => (clearTimeout(timer), resolve()) };
      const timer = setTimeout(() => {
        this.#waiters.delete(w);
        reject(new Error(`no log line matching ${match} in ${ms} ms; got:\n${this.lines.join('\n')}`));
      }, ms);
      this.#waiters.add(w);
    });
  }

  count(match: RegExp): number {
    return this.lines.filter((l) => match.test(l)).length;
  }

  #add(m: string): void {
    this.lines.push(m);
    for (const w of this.#waiters) {
      if (!w.match.test(m)) continue;
      this.#waiters.delete(w);
      w.resolve();
    }
  }
}

describe('ModelServing re-reads the registry (resyncIntervalMs)', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-serving-resync-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  let n = 0;
  /** A data directory whose registry holds versions 1..count (v1 champion), and a registry on it that announces nothing. */
  async function setUp(count: number): Promise<{ dataDir: string; silent: ModelRegistry }> {
    const dataDir = join(root, `d${n++}`);
    const silent = await ModelRegistry.open(join(dataDir, 'models'), { bus: null, logger: silentLogger });
    for (let v = 1; v <= count; v++) {
      const { dir } = await writeExportedModel(join(dataDir, 'exports', String(v)), v);
      assert.equal((await silent.register(dir, { challenger: false })).version, v);
    }
    await silent.promote('compression', 1, { force: true });
    return { dataDir, silent };
  }

  interface Running {
    readonly dataDir: string;
    /** Promotes and rolls back without announcing anything. */
    readonly silent: ModelRegistry;
    readonly serving: ModelServing;
    readonly log: LogCapture;
  }

  /** Runs `fn` against a server (file bus) following a registry of `count` versions, v1 the champion. */
  async function withServing(count: number, resyncIntervalMs: number, fn: (r: Running) => Promise<void>): Promise<void> {
    const { dataDir, silent } = await setUp(count);
    const log = new LogCapture();
    const serving = await ModelServing.start({
      config: { bus: 'file' },
      dataDir,
      logger: log.logger,
      runtime: createJsRuntime(),
      predictors: { compression: { baseline: sumBaseline } },
      resyncIntervalMs,
    });
    try {
      await serving.listening();
      await fn({ dataDir, silent, serving, log });
    } finally {
      await serving.close();
      await silent.close();
    }
  }

  const noticeWritten = (dataDir: string): Promise<boolean> =>
    access(join(dataDir, 'models', 'compression', NOTICE_FILE)).then(
      () => true,
      () => false,
    );

  test('a promotion whose notice never arrives is served after the next re-read', () =>
    withServing(2, INTERVAL_MS, async ({ dataDir, silent, serving, log }) => {
      const p = serving.predictor('compression');
      assert.equal(p.champion?.version, 1);
      await silent.promote('compression', 2, { force: true });
      await log.waitFor(/^models: compression\/test-model v2 serving \(was v1\)$/);
      assert.equal(await noticeWritten(dataDir), false, 'the bus had nothing to deliver');
      assert.deepEqual(
        serving.serving().map((s) => [s.policy, s.champion?.version]),
        [['compression', 2]],
      );
      const r = await p.predict(testInputs(1, 4, 7));
      assert.equal(r.source, 'model');
      assert.equal(r.model?.version, 2);
      // A rollback is a change too.
      await silent.rollback('compression');
      await log.waitFor(/^models: compression\/test-model v1 serving \(was v2\)$/);
    }));

  test('an unchanged state is not refreshed: a refused model is tried once, not every interval', () =>
    withServing(3, INTERVAL_MS, async ({ silent, serving, log }) => {
      await truncate(join(silent.modelDir('compression', 2), 'model.onnx'), 10);
      await silent.promote('compression', 2, { force: true });
      const refused = /^models: refused compression v2: SP_ERR_MODEL_CORRUPT/;
      await log.waitFor(refused);
      // Ten intervals: a re-read that refreshed every time would refuse v2 about ten more times.
      await sleep(INTERVAL_MS * 10);
      assert.equal(log.count(refused), 1, log.lines.join('\n'));
      assert.equal(serving.host.serving('compression').champion, 1, 'v1 keeps serving');
      // The re-reads still run: the next change is followed.
      await silent.promote('compression', 3, { force: true });
      await log.waitFor(/^models: compression\/test-model v3 serving \(was v1\)$/);
      assert.equal(log.count(refused), 1);
    }));

  test('0 turns it off: without a notice the promotion is not followed', () =>
    withServing(2, 0, async ({ silent, serving, log }) => {
      await silent.promote('compression', 2, { force: true });
      // What the re-read above does within one interval does not happen in ten.
      await sleep(INTERVAL_MS * 10);
      assert.equal(serving.host.serving('compression').champion, 1);
      assert.equal(log.count(/v2 serving/), 0);
    }));

  test('a bad interval is refused', async () => {
    for (const bad of [-1, 1.5, Number.NaN]) {
      await assert.rejects(
        ModelServing.start({ config: { bus: 'file' }, dataDir: root, resyncIntervalMs: bad }),
        (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID',
        String(bad),
      );
    }
  });
});

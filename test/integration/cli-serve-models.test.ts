import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SyncClient } from '../../src/engine/client/sync-client.ts';
import { FEATURE_SCHEMA } from '../../src/ml/features/compression-size.ts';
import { ModelRegistry } from '../../src/ml/registry/model-registry.ts';
import { EmbeddedTelemetrySource } from '../../src/telemetry/source/embedded-telemetry-source.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import { testModelBytes, testModelCard, testNetwork, type TestArchitecture } from '../../src/testing/model-runtime-conformance.ts';
import { ensureKafka, ensureRedis, servicesSkip } from '../helpers/services.ts';
import { NodeWebSocket, waitFor } from '../helpers/test-server.ts';

// `syncpilot serve` hosting the registry's champions, with promotions and rollbacks made by
// `syncpilot models` in another process, over each promotion bus.

const BIN = fileURLToPath(new URL('../../bin/syncpilot.js', import.meta.url));
/** Shaped like the compression size regressor, so the server's expectations for the policy hold. */
const ARCH: TestArchitecture = { widths: [12, 8, 1], activations: ['relu', 'linear'] };
/** A promotion must be serving within this (the issue: "within ~2 s"). */
const SWAP_LIMIT_MS = 2000;

interface LogLine {
  readonly t?: string;
  readonly level?: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** A `syncpilot serve` child process whose JSON log lines can be awaited. */
class Serve {
  readonly lines: LogLine[] = [];
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;
  #buffer = '';

  constructor(args: readonly string[]) {
    this.#child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], { stdio: 'pipe' });
    this.#child.stdout.resume();
    this.#child.stderr.on('data', (d: Buffer) => {
      this.#buffer += d.toString();
      let nl: number;
      while ((nl = this.#buffer.indexOf('\n')) >= 0) {
        const raw = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        if (raw.trim() === '') continue;
        try {
          this.lines.push(JSON.parse(raw) as LogLine);
        } catch {
          this.lines.push({ msg: raw });
        }
        for (const w of this.#waiters) w();
      }
    });
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const w of this.#waiters) w();
    });
  }

  /** The first log line from index `from` on whose message matches. */
  async line(match: RegExp, from = 0, ms = 15_000): Promise<LogLine> {
    const find = (): LogLine | undefined => this.lines.slice(from).find((l) => match.test(l.msg));
    let dead = false;
    void this.exited.then(() => (dead = true));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no log line ${match} within ${ms} ms; log:\n${this.log()}`)), ms);
      const check = (): void => {
        const l = find();
        if (l !== undefined) done(undefined, l);
        else if (dead) done(new Error(`serve exited before logging ${match}; log:\n${this.log()}`));
      };
      const done = (err: Error | undefined, l?: LogLine): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err === undefined) resolve(l!);
        else reject(err);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** The sync server's URL, once listening. */
  async url(): Promise<string> {
    const l = await this.line(/^syncpilot serving$/);
    return String(l.url);
  }

  log(): string {
    return this.lines.map((l) => JSON.stringify(l)).join('\n');
  }

  /** SIGTERM; resolves the exit code. */
  async stop(): Promise<number | null> {
    this.#child.kill('SIGTERM');
    return this.exited;
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

function cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `models promote|rollback … --json`; resolves when the change was made (ms since the epoch). */
async function change(args: readonly string[]): Promise<{ at: number; champion: number }> {
  const r = await cli(['models', ...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { at: number; champion: number };
}

/** Promotion (registry change) → the server's "serving" line, in ms. */
function swapMs(changedAt: number, line: LogLine): number {
  return Date.parse(String(line.t)) - changedAt;
}

describe('syncpilot serve hosts the registry champions and follows promotions', { timeout: 120_000 }, () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'sp-serve-models-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  let n = 0;
  /**
   * A data dir whose registry holds compression versions 1..metrics.length (lower mae is better,
   * so each beats the one before through the gate), v1 the champion. `challengers: false`
   * registers the others outside the challenger list, so the server has not loaded them.
   */
  async function dataDir(metrics: readonly number[], opts: { challengers?: boolean } = {}): Promise<string> {
    const dir = join(root, `d${n++}`);
    const registry = await ModelRegistry.open(join(dir, 'models'), { bus: null });
    try {
      for (const [i, mae] of metrics.entries()) {
        const net = testNetwork(ARCH, 7000 + n * 10 + i);
        const bytes = testModelBytes(net);
        const card = testModelCard(net, bytes, {
          name: 'size-regressor',
          featureSchema: FEATURE_SCHEMA,
          primary: { name: 'mae', value: mae, higherIsBetter: false },
        });
        const exported = join(dir, 'exports', `m${i}`);
        await mkdir(exported, { recursive: true });
        await writeFile(join(exported, 'model.onnx'), bytes);
        await writeFile(join(exported, 'card.json'), JSON.stringify(card));
        await registry.register(exported, { challenger: i > 0 && opts.challengers !== false });
      }
      await registry.promote('compression', 1);
    } finally {
      await registry.close();
    }
    return dir;
  }

  async function lifecycleEvents(dir: string): Promise<SyncPilotEvent[]> {
    const source = new EmbeddedTelemetrySource({ dir: join(dir, 'telemetry'), fromBeginning: true });
    const events: SyncPilotEvent[] = [];
    const ctrl = new AbortController();
    const run = source.run(
      async (batch) => {
        events.push(...batch.map((b) => b.event));
      },
      { signal: ctrl.signal, families: ['model-lifecycle'] },
    );
    // The log is complete (the server exited); a short wait for the reader to reach its end.
    await new Promise((r) => setTimeout(r, 500));
    ctrl.abort();
    await run;
    await source.close();
    return events;
  }

  /** Promote v2, then roll back, through `bus` (extra args for serve and for `models`). */
  async function promoteAndRollBack(
    t: TestContext,
    name: string,
    serveArgs: readonly string[],
    modelsArgs: readonly string[],
  ): Promise<{ dir: string; ms: number[] }> {
    const dir = await dataDir([0.1, 0.08]);
    const serve = new Serve(['--data-dir', dir, ...serveArgs]);
    try {
      await serve.line(/^models: compression\/size-regressor v1 serving \(was the baseline\)$/);
      await serve.line(/^models: compression challengers in shadow: size-regressor v2$/);
      await serve.url();
      // Pub/sub keeps nothing: promote only once the server listens.
      await serve.line(/^models: following promotions on /);

      let from = serve.lines.length;
      const promoted = await change(['promote', 'compression', '--version', '2', '--data-dir', dir, ...modelsArgs]);
      assert.equal(promoted.champion, 2);
      const up = await serve.line(/^models: compression\/size-regressor v2 serving \(was v1\)$/, from, 10_000);

      from = serve.lines.length;
      const rolled = await change(['rollback', 'compression', '--data-dir', dir, ...modelsArgs]);
      assert.equal(rolled.champion, 1);
      const back = await serve.line(/^models: compression\/size-regressor v1 serving \(was v2\)$/, from, 10_000);

      const ms = [swapMs(promoted.at, up), swapMs(rolled.at, back)];
      t.diagnostic(`${name}: promotion → serving ${ms[0]} ms, rollback → serving ${ms[1]} ms`);
      for (const m of ms) assert.ok(m >= 0 && m < SWAP_LIMIT_MS, `${name}: swap took ${m} ms`);
      assert.equal(await serve.stop(), 0, serve.log());
      assert.equal(serve.lines.filter((l) => l.level === 'error').length, 0, serve.log());
      return { dir, ms };
    } finally {
      serve.kill();
    }
  }

  test('file watch (embedded default): promote and rollback from another process reach the server; lifecycle telemetry', async (t) => {
    const { dir } = await promoteAndRollBack(t, 'file watch', [], []);
    const events = (await lifecycleEvents(dir)).flatMap((e) =>
      e.type === 'syncpilot.model-lifecycle.v1' ? [`${e.data.event} ${e.data.model.id} v${e.data.model.version}`] : [],
    );
    // v1, and v2 as a shadow, at start; the promotion swaps to the v2 already loaded (v1, no longer
    // champion nor challenger, is closed); the rollback loads v1 again.
    assert.deepEqual(events, [
      'loaded compression/size-regressor v1',
      'loaded compression/size-regressor v2',
      'loaded compression/size-regressor v1',
    ]);
  });

  test('redis pub/sub: --models-bus redis', { skip: servicesSkip }, async (t) => {
    const { url } = await ensureRedis();
    await promoteAndRollBack(t, 'redis', ['--models-bus', 'redis', '--redis', url], ['--redis', url]);
  });

  test('kafka topic: --models-bus kafka with the --kafka brokers', { skip: servicesSkip }, async (t) => {
    const { brokers } = await ensureKafka();
    const b = brokers.join(',');
    await promoteAndRollBack(t, 'kafka', ['--models-bus', 'kafka', '--kafka', b], ['--kafka', b]);
  });

  test('a corrupt version promoted with --force is refused, the champion keeps serving, and sync clients never notice', async (t) => {
    const dir = await dataDir([0.1, 0.09, 0.08], { challengers: false });
    // Damage v2's file in the registry after registration: its SHA-256 no longer matches the card.
    const file = join(dir, 'models', 'compression', '2', 'model.onnx');
    const bytes = await readFile(file);
    await writeFile(
      file,
      bytes.map((b) => b ^ 0xff),
    );

    const serve = new Serve(['--data-dir', dir]);
    try {
      await serve.line(/^models: compression\/size-regressor v1 serving \(was the baseline\)$/);
      const url = await serve.url();
      await serve.line(/^models: following promotions on /);

      const live = new SyncClient({ url, WebSocket: NodeWebSocket, reconnect: false });
      const errors: string[] = [];
      live.on('error', (e) => errors.push(e.code));
      live.on('disconnect', (code) => errors.push(`disconnect ${code}`));
      await live.connect();
      const doc = live.open('serve-models-doc');
      await doc.whenSynced();
      let edits = 0;
      let stop = false;
      const editing = (async () => {
        while (!stop) {
          const k = edits++;
          doc.change((tx) => tx.set('root', `k${k}`, k));
          await doc.whenAcked();
        }
      })();

      let from = serve.lines.length;
      const forced = await change(['promote', 'compression', '--version', '2', '--force', '--data-dir', dir]);
      assert.equal(forced.champion, 2, 'the registry takes the forced promotion');
      const refused = await serve.line(/^models: refused compression v2: /, from, 10_000);
      assert.match(refused.msg, /^models: refused compression v2: SP_ERR_MODEL_CORRUPT .*, v1 keeps serving$/);
      assert.equal(refused.level, 'warn');
      const editsAtRefusal = edits;

      // v1 really kept serving: the next promotion reports it as the model replaced.
      from = serve.lines.length;
      const next = await change(['promote', 'compression', '--version', '3', '--force', '--data-dir', dir]);
      const up = await serve.line(/^models: compression\/size-regressor v3 serving \(was v1\)$/, from, 10_000);
      t.diagnostic(`file watch: forced promotion → serving ${swapMs(next.at, up)} ms`);
      assert.equal(serve.lines.filter((l) => /serving \(was/.test(l.msg)).length, 2, `only v1 and v3 ever served:\n${serve.log()}`);

      await waitFor(() => edits > editsAtRefusal + 20, 10_000, 'edits after the refusal');
      stop = true;
      await editing;
      assert.deepEqual(errors, []);

      // Everything the writer did arrived: a fresh client sees every key.
      const reader = new SyncClient({ url, WebSocket: NodeWebSocket, reconnect: false });
      await reader.connect();
      const seen = reader.open('serve-models-doc');
      await seen.whenSynced();
      for (let k = 0; k < edits; k++) assert.deepEqual(seen.crdt.get('root', `k${k}`), { kind: 'scalar', value: k }, `k${k}`);
      t.diagnostic(`${edits} edits acknowledged across the refusal and the swap`);
      await reader.close();
      await live.close();
      assert.equal(await serve.stop(), 0, serve.log());
      const events = (await lifecycleEvents(dir)).flatMap((e) =>
        e.type === 'syncpilot.model-lifecycle.v1' ? [`${e.data.event} v${e.data.model.version}`] : [],
      );
      assert.deepEqual(events, ['loaded v1', 'refused v2', 'loaded v3']);
    } finally {
      serve.kill();
    }
  });

  test('a registry that cannot be read or opened does not stop sync traffic', async () => {
    const corrupt = await dataDir([0.1]);
    await writeFile(join(corrupt, 'models', 'compression', 'state.json'), '{ not json');
    const notADir = join(root, 'a-file');
    await writeFile(notADir, 'x');
    for (const [args, expected] of [
      [['--data-dir', corrupt], /^models: cannot read the registry state of compression: SP_ERR_STORE_CORRUPT /],
      [['--data-dir', join(root, `d${n++}`), '--models-registry', notADir], /^models: cannot open the registry at /],
    ] as const) {
      const serve = new Serve(args);
      try {
        const problem = await serve.line(expected);
        assert.equal(problem.level, 'warn');
        const c = new SyncClient({ url: await serve.url(), WebSocket: NodeWebSocket, reconnect: false });
        await c.connect();
        const d = c.open('still-serving');
        await d.whenSynced();
        d.change((tx) => tx.set('root', 'ok', true));
        await d.whenAcked();
        await c.close();
        assert.equal(await serve.stop(), 0, serve.log());
      } finally {
        serve.kill();
      }
    }
  });

  test('bad model-serving options are refused at the edge with SP_ERR_CONFIG_INVALID', async () => {
    const noRedis = await cli(['serve', '--port', '0', '--data-dir', join(root, 'unused'), '--models-bus', 'redis']);
    assert.equal(noRedis.code, 2);
    assert.match(noRedis.stderr, /SP_ERR_CONFIG_INVALID: invalid configuration: models\.redisUrl: the redis bus needs --redis URL/);
    const unknown = await cli(['serve', '--port', '0', '--data-dir', join(root, 'unused'), '--models-bus', 'carrier-pigeon']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /models\.bus/);
  });
});

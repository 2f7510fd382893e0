// The telemetry side of the CLI: `demo --kafka`, `serve --kafka` and `telemetry tail` against the
// real broker, and `telemetry tail` over the embedded log (no broker needed).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/core/logger.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { SyncClient } from '../../src/engine/client/sync-client.ts';
import { EmbeddedLogSink } from '../../src/telemetry/embedded-log-sink.ts';
import { parseEvent } from '../../src/telemetry/events/validate.ts';
import { KafkaSink } from '../../src/telemetry/kafka/kafka-sink.ts';
import { KafkaTelemetrySource } from '../../src/telemetry/source/kafka-telemetry-source.ts';
import { accessEvent, sampleEvents } from '../../src/testing/telemetry-source-conformance.ts';
import { ensureKafka, servicesSkip } from '../helpers/services.ts';
import { NodeWebSocket } from '../helpers/test-server.ts';

const BIN = fileURLToPath(new URL('../../bin/syncpilot.js', import.meta.url));
// The CLI would pick Kafka up from the environment; these tests say what they want explicitly.
const BASE_ENV: NodeJS.ProcessEnv = { ...process.env, SYNCPILOT_KAFKA_BROKERS: '' };

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, done, output: () => ({ stdout, stderr }) };
}

async function run(args: readonly string[], timeoutMs = 60_000): Promise<Run> {
  const p = start(args);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  try {
    return await p.done;
  } finally {
    clearTimeout(timer);
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

async function kafkaOrSkip(): Promise<{ brokers: string[]; skip: false } | { brokers: []; skip: string }> {
  if (servicesSkip !== false) return { brokers: [], skip: servicesSkip };
  try {
    return { brokers: (await ensureKafka()).brokers, skip: false };
  } catch (err) {
    return { brokers: [], skip: `no Kafka broker: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}` };
  }
}

const kafka = await kafkaOrSkip();
const brokerList = kafka.brokers.join(',');

describe('syncpilot CLI with Kafka telemetry', { skip: kafka.skip }, () => {
  test('demo --kafka --json: every emitted event is acknowledged by the broker', { timeout: 120_000 }, async () => {
    const r = await run(['demo', '--kafka', brokerList, '--json', '--duration', '2']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as {
      converged: boolean;
      telemetry: { sink: string; emitted: number; delivered: number; dropped: number };
    };
    assert.equal(s.converged, true);
    assert.equal(s.telemetry.sink, 'kafka');
    assert.ok(s.telemetry.emitted > 100, `emitted ${s.telemetry.emitted}`);
    assert.equal(s.telemetry.delivered, s.telemetry.emitted);
    assert.equal(s.telemetry.dropped, 0);
  });

  test(
    'telemetry tail --kafka --family access --count 1 --json --from-beginning prints a valid access event',
    { timeout: 120_000 },
    async () => {
      // Make sure the topic holds an access event whatever ran before.
      const spoolDir = await mkdtemp(join(tmpdir(), 'sp-cli-spool-'));
      try {
        const sink = await KafkaSink.open({ brokers: kafka.brokers, spoolDir, logger: silentLogger });
        sink.emit(accessEvent(1, `cli-tail-${randomUUID().slice(0, 8)}`));
        await sink.close();
        assert.equal(sink.stats().written, 1);
      } finally {
        await rm(spoolDir, { recursive: true, force: true });
      }
      const r = await run(['telemetry', 'tail', '--kafka', brokerList, '--family', 'access', '--count', '1', '--json', '--from-beginning']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 1, r.stdout);
      const event = parseEvent(JSON.parse(lines[0] ?? ''));
      assert.equal(event.type, 'syncpilot.access.v1');
    },
  );

  test('serve --kafka sends its telemetry to Kafka, spooling under the data directory', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-cli-serve-kafka-'));
    const port = await freePort();
    const doc = `cli-serve-${randomUUID().slice(0, 8)}`;
    const serve = start(['serve', '--data-dir', dir, '--port', String(port), '--kafka', brokerList]);
    try {
      await until(() => serve.output().stderr.includes('syncpilot serving'), 30_000, 'serve to listen');
      assert.match(serve.output().stderr, /"telemetry":"kafka"/);
      const c = new SyncClient({ url: `ws://127.0.0.1:${port}`, WebSocket: NodeWebSocket, reconnect: false });
      await c.connect();
      const d = c.open(doc);
      await d.whenSynced();
      d.change((tx) => tx.set('root', 'hello', 'kafka'));
      await d.whenAcked();
      await c.close();
      serve.child.kill('SIGTERM');
      const r = await serve.done;
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(join(dir, 'telemetry-spool')));
      assert.ok(!existsSync(join(dir, 'telemetry')), 'no embedded log when telemetry goes to Kafka');

      // The server's access event for this document is on the topic.
      const source = new KafkaTelemetrySource({
        brokers: kafka.brokers,
        groupId: `sp-test-cli-${randomUUID().slice(0, 8)}`,
        fromBeginning: true,
        deleteGroupOnClose: true,
        logger: silentLogger,
      });
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), 60_000);
      let found: TelemetryEvent | undefined;
      await source.run(
        async (batch) => {
          found ??= batch.find((e) => e.event.key === doc)?.event;
          if (found !== undefined) ctrl.abort();
        },
        { signal: ctrl.signal, families: ['access'] },
      );
      clearTimeout(timer);
      await source.close();
      assert.equal(found?.type, 'syncpilot.access.v1', 'the access event reached Kafka');
    } finally {
      serve.child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('syncpilot telemetry tail over the embedded log', () => {
  async function logWith(events: readonly TelemetryEvent[]): Promise<{ dataDir: string; sink: EmbeddedLogSink }> {
    const dataDir = await mkdtemp(join(tmpdir(), 'sp-cli-tail-'));
    const sink = await EmbeddedLogSink.open({ dir: join(dataDir, 'telemetry'), logger: silentLogger });
    for (const e of events) sink.emit(e);
    await sink.flush();
    return { dataDir, sink };
  }

  test('--from-beginning --count prints readable lines: time, type, key, fields', { timeout: 60_000 }, async () => {
    const events = sampleEvents(7, 'doc-7');
    const { dataDir, sink } = await logWith(events);
    try {
      const r = await run(['telemetry', 'tail', '--data-dir', dataDir, '--from-beginning', '--count', '3']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 3);
      const iso = new Date(events[0]?.time ?? 0).toISOString();
      assert.equal(lines[0], `${iso}  access.v1  doc-7  doc=doc-7  peer=peer-7  action=open`);
      assert.match(lines[1] ?? '', /^\S+ {2}conflict\.v1 {2}doc-7 {2}caseId=case-7 .*field="título ✓" .*siblings=2$/);
      assert.match(lines[2] ?? '', /^\S+ {2}review-decision\.v1 {2}doc-7 {2}.*decision=accept/);
    } finally {
      await sink.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('--family --json prints only that family, as the events themselves', { timeout: 60_000 }, async () => {
    const events = [...sampleEvents(1), ...sampleEvents(2)];
    const { dataDir, sink } = await logWith(events);
    try {
      const r = await run([
        'telemetry',
        'tail',
        '--data-dir',
        dataDir,
        '--from-beginning',
        '--family',
        'anomaly,sync-latency',
        '--count',
        '4',
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const got = r.stdout
        .trim()
        .split('\n')
        .map((l) => parseEvent(JSON.parse(l)));
      const want = events.filter((e) => e.type === 'syncpilot.anomaly.v1' || e.type === 'syncpilot.sync-latency.v1');
      assert.deepEqual(got, want);
    } finally {
      await sink.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('without --from-beginning only events appended after the start are printed', { timeout: 60_000 }, async () => {
    const { dataDir, sink } = await logWith([accessEvent(1), accessEvent(2)]);
    try {
      const tail = start(['telemetry', 'tail', '--data-dir', dataDir, '--count', '1', '--json']);
      // Give the tail time to find the end of the log before appending.
      await new Promise((r) => setTimeout(r, 1500));
      const fresh = accessEvent(3, 'doc-live');
      sink.emit(fresh);
      await sink.flush();
      const r = await tail.done;
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.trim()), fresh);
    } finally {
      await sink.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('bad flags and subcommands exit 2 with SP_ERR_CONFIG_INVALID', async () => {
    for (const args of [
      ['telemetry', 'tail', '--family', 'no-such-family'],
      ['telemetry', 'tail', '--count', '0'],
      ['telemetry', 'tail', '--kafka', 'not a broker'],
      ['telemetry', 'nope'],
      ['demo', '--kafka', 'localhost'],
    ]) {
      const r = await run(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /SP_ERR_CONFIG_INVALID/);
    }
  });
});

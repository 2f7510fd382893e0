// Round trips against the local services of scripts/services (or those named by KAFKA_BROKERS,
// REDIS_URL, DATABASE_URL): each proves the service answers real requests, not just a port.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ensureKafka,
  ensurePostgres,
  ensureRedis,
  projectRoot,
  runServiceScript,
  servicesSkip,
  startPrivateKafka,
} from '../helpers/services.ts';

function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

interface ProbeResult {
  ok: boolean;
  error?: string;
  brokers?: string[];
  topics?: { name: string; partitions: number; leaderless: number; errorCode: number }[];
}

/** The raw-protocol probe (ApiVersions + Metadata) against one broker; never throws. */
async function probe(broker: string, ...args: string[]): Promise<ProbeResult> {
  const script = join(projectRoot, 'scripts', 'services', 'kafka-probe.mjs');
  return new Promise((resolve) => {
    execFile(process.execPath, [script, broker, '--timeout', '3000', ...args], (_err, stdout) => {
      resolve(JSON.parse(stdout) as ProbeResult);
    });
  });
}

const unique = `${process.pid}_${Date.now()}`;

describe('local services', { skip: servicesSkip }, () => {
  test('kafka: a topic created with the admin tool shows in the list and in a Metadata response', async () => {
    const { brokers } = await ensureKafka();
    const broker = brokers[0];
    assert.ok(broker !== undefined, 'at least one broker address');
    const env = { ...process.env, KAFKA_BROKERS: brokers.join(',') };
    const topic = `svc-check-${unique}`;
    await runServiceScript('kafka.sh', ['topics', '--create', '--topic', topic, '--partitions', '2'], { env });
    try {
      const listed = (await runServiceScript('kafka.sh', ['topics', '--list'], { env })).stdout.split('\n');
      assert.ok(listed.includes(topic), `--list names ${topic}`);
      const md = await probe(broker, '--expect-topic', topic);
      assert.equal(md.ok, true, md.error);
      const t = md.topics?.find((x) => x.name === topic);
      assert.deepEqual(t, { name: topic, partitions: 2, leaderless: 0, errorCode: 0 });
      // The broker must not create topics on request: our sink creates them explicitly.
      const missing = await probe(broker, '--expect-topic', `${topic}-absent`);
      assert.equal(missing.ok, false);
    } finally {
      await runServiceScript('kafka.sh', ['topics', '--delete', '--topic', topic], { env });
    }
  });

  test('kafka: a private broker keeps its topics across a graceful stop and a crash', async () => {
    const kafka = await startPrivateKafka();
    try {
      const broker = kafka.brokers[0] ?? '';
      await kafka.run(['topics', '--create', '--topic', 'durable', '--partitions', '3']);
      assert.equal((await probe(broker, '--expect-topic', 'durable')).ok, true);

      await kafka.stop();
      const down = await probe(broker);
      assert.equal(down.ok, false, 'no answer while stopped');
      await kafka.start();
      assert.equal((await probe(broker, '--expect-topic', 'durable')).ok, true, 'topic survives a graceful stop');

      await kafka.kill();
      assert.equal((await probe(broker)).ok, false, 'no answer after SIGKILL');
      await kafka.start();
      const after = await probe(broker, '--expect-topic', 'durable');
      assert.equal(after.ok, true, after.error);
      assert.equal(after.topics?.find((t) => t.name === 'durable')?.leaderless, 0, 'every partition has a leader again');
    } finally {
      await kafka.close();
    }
    const shared = (await ensureKafka()).brokers[0] ?? '';
    assert.equal((await probe(shared)).ok, true, 'the shared broker is untouched');
  });

  test('redis: SET then GET returns the value, and the policy never evicts', async () => {
    const { url } = await ensureRedis();
    const key = `svc-check:${unique}`;
    assert.equal((await run('redis-cli', ['-u', url, 'SET', key, 'héllo wörld', 'EX', '60'])).trim(), 'OK');
    assert.equal((await run('redis-cli', ['-u', url, 'GET', key])).trim(), 'héllo wörld');
    assert.equal((await run('redis-cli', ['-u', url, 'DEL', key])).trim(), '1');
    assert.equal((await run('redis-cli', ['-u', url, 'GET', key])).trim(), '');
    const policy = (await run('redis-cli', ['-u', url, 'CONFIG', 'GET', 'maxmemory-policy'])).trim().split('\n');
    assert.equal(policy[1], 'noeviction');
  });

  test('postgres: create table, insert, select as the syncpilot user; a wrong password is refused', async () => {
    const { url } = await ensurePostgres();
    const table = `svc_check_${unique}`;
    const sql = [
      `CREATE TABLE ${table} (id int PRIMARY KEY, body text NOT NULL)`,
      `INSERT INTO ${table} VALUES (1, 'one'), (2, 'two')`,
      `SELECT string_agg(id || '=' || body, ',' ORDER BY id) FROM ${table}`,
      `DROP TABLE ${table}`,
    ];
    const out = await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-tA', url, ...sql.flatMap((s) => ['-c', s])]);
    assert.equal(out.trim(), '1=one,2=two');
    const who = await run('psql', ['-X', '-tA', url, '-c', "select current_user || '@' || current_database()"]);
    assert.equal(who.trim(), 'syncpilot@syncpilot');
    const bad = new URL(url);
    bad.password = 'wrong-password';
    await assert.rejects(run('psql', ['-X', '-tA', bad.toString(), '-c', 'select 1']), /password authentication failed/);
  });

  test('up.sh is a no-op when everything is healthy', async () => {
    await Promise.all([ensureKafka(), ensureRedis(), ensurePostgres()]);
    const before = await runServiceScript('status.sh');
    const t0 = Date.now();
    const again = await runServiceScript('up.sh');
    const ms = Date.now() - t0;
    const after = await runServiceScript('status.sh');
    assert.equal(after.stdout, before.stdout, 'same processes (pids) before and after');
    assert.match(again.stdout, /^KAFKA_BROKERS=.+\nREDIS_URL=redis:\/\/.+\nDATABASE_URL=postgres:\/\/.+\n$/);
    assert.ok(ms < 10_000, `second up.sh took ${ms} ms`);
  });
});

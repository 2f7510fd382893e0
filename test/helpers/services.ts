import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/helpers/services.ts). */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));
const scriptsDir = join(projectRoot, 'scripts', 'services');
const servicesDir = process.env.SERVICES_DIR ?? join(projectRoot, '.services');

/** First start downloads the Kafka jars and may install Debian packages: minutes, not seconds. */
const UP_TIMEOUT_MS = 15 * 60_000;

export interface ScriptResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `scripts/services/<script>` with bash and resolves its output; rejects with the script's
 * stderr in the message when it exits non-zero or runs past `timeoutMs`.
 */
export function runServiceScript(
  script: string,
  args: readonly string[] = [],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [join(scriptsDir, script), ...args],
      { cwd: projectRoot, env: options.env ?? process.env, timeout: options.timeoutMs ?? UP_TIMEOUT_MS, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          const tail = stderr.trim().split('\n').slice(-15).join('\n');
          reject(new Error(`scripts/services/${script} ${args.join(' ')} failed: ${err.message}\n${tail}`, { cause: err }));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

type ServiceName = 'kafka' | 'redis' | 'postgres';
const ENV_VAR: Record<ServiceName, string> = { kafka: 'KAFKA_BROKERS', redis: 'REDIS_URL', postgres: 'DATABASE_URL' };
const started = new Map<ServiceName, Promise<string>>();

/**
 * The address of a service: its env var when set (CI sources .services/env), else `up.sh <name>`
 * once per test process (parallel test files are serialised by the scripts' locks).
 */
function ensure(name: ServiceName): Promise<string> {
  const given = process.env[ENV_VAR[name]];
  if (given !== undefined && given !== '') return Promise.resolve(given);
  let p = started.get(name);
  if (p === undefined) {
    p = runServiceScript('up.sh', [name]).then(({ stdout }) => {
      const prefix = `${ENV_VAR[name]}=`;
      const line = stdout.split('\n').find((l) => l.startsWith(prefix));
      if (line === undefined) throw new Error(`up.sh ${name} printed no ${prefix} line:\n${stdout}`);
      return line.slice(prefix.length).trim();
    });
    // A failed start is not cached: the next caller tries again and sees the real error.
    p.catch(() => started.delete(name));
    started.set(name, p);
  }
  return p;
}

/** A single-node Kafka 4.x (KRaft) on loopback: `KAFKA_BROKERS`, else started by `scripts/services/up.sh kafka`. */
export async function ensureKafka(): Promise<{ brokers: string[] }> {
  const list = await ensure('kafka');
  return {
    brokers: list
      .split(',')
      .map((b) => b.trim())
      .filter((b) => b !== ''),
  };
}

/** Redis on loopback (noeviction, no persistence): `REDIS_URL`, else started by `up.sh redis`. */
export async function ensureRedis(): Promise<{ url: string }> {
  return { url: await ensure('redis') };
}

/** PostgreSQL on loopback, database and user/password `syncpilot`: `DATABASE_URL`, else started by `up.sh postgres`. */
export async function ensurePostgres(): Promise<{ url: string }> {
  return { url: await ensure('postgres') };
}

/** True when the shared broker is the one our scripts manage (not an external `KAFKA_BROKERS`). */
function sharedKafkaIsOurs(): boolean {
  const given = process.env.KAFKA_BROKERS;
  return given === undefined || given === '' || given === `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`;
}

/**
 * Stops the shared broker, keeping its data (`hard`: SIGKILL, a crash; default: graceful SIGTERM).
 * Every test file using Kafka shares this broker and test files run in parallel, so a test that
 * stops it should rather use {@link startPrivateKafka}. Throws for an external `KAFKA_BROKERS`.
 */
export async function stopKafkaBroker(options: { hard?: boolean } = {}): Promise<void> {
  if (!sharedKafkaIsOurs()) throw new Error(`KAFKA_BROKERS=${process.env.KAFKA_BROKERS ?? ''} is not managed by scripts/services`);
  await runServiceScript('kafka.sh', [options.hard === true ? 'kill-broker' : 'stop-broker']);
}

/** Starts the shared broker again with its data and waits until it answers Metadata requests. */
export async function startKafkaBroker(): Promise<void> {
  if (!sharedKafkaIsOurs()) throw new Error(`KAFKA_BROKERS=${process.env.KAFKA_BROKERS ?? ''} is not managed by scripts/services`);
  await runServiceScript('kafka.sh', ['start-broker']);
}

/** A broker of one's own, for tests that stop, crash or fill it. */
export interface PrivateKafka {
  readonly brokers: string[];
  /** The state directory (data, logs, pid) of this broker. */
  readonly dir: string;
  /** Graceful stop (SIGTERM), keeping the data. */
  stop(): Promise<void>;
  /** SIGKILL, keeping the data: a crash. */
  kill(): Promise<void>;
  /** Starts again on the same ports with the same data; resolves when healthy. */
  start(): Promise<void>;
  /** Runs `kafka.sh ARGS` against this broker (e.g. `['topics', '--list']`, `['health']`). */
  run(args: readonly string[]): Promise<ScriptResult>;
  /** Stops it and deletes its directory. */
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a second, private single-node Kafka on free loopback ports with its own data directory
 * (under .services/private-kafka-*), sharing the cached jars. About 7 s and up to 512 MB of heap;
 * always `close()` it.
 */
export async function startPrivateKafka(): Promise<PrivateKafka> {
  await runServiceScript('kafka.sh', ['install']);
  mkdirSync(servicesDir, { recursive: true });
  const dir = mkdtempSync(join(servicesDir, 'private-kafka-'));
  mkdirSync(join(dir, 'kafka'), { recursive: true });
  symlinkSync(join(servicesDir, 'kafka', 'libs'), join(dir, 'kafka', 'libs'));
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SERVICES_DIR: dir,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(controllerPort),
    KAFKA_BROKERS: `127.0.0.1:${port}`,
  };
  const run = (args: readonly string[]): Promise<ScriptResult> => runServiceScript('kafka.sh', args, { env });
  try {
    await run(['start']);
  } catch (err) {
    await run(['stop']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    brokers: [`127.0.0.1:${port}`],
    dir,
    stop: async () => void (await run(['stop-broker'])),
    kill: async () => void (await run(['kill-broker'])),
    start: async () => void (await run(['start-broker'])),
    run,
    close: async () => {
      await run(['stop']);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A reason to skip service-backed tests, or `false`: set `SYNCPILOT_SERVICES=off` to run the
 * integration suite without starting Kafka, Redis or PostgreSQL (e.g. on a machine without root).
 */
export const servicesSkip: string | false =
  process.env.SYNCPILOT_SERVICES === 'off' ? 'SYNCPILOT_SERVICES=off: tests needing Kafka/Redis/PostgreSQL are skipped' : false;

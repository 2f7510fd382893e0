import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { silentLogger } from '../../src/core/logger.ts';
import { EmbeddedLogSink, listSegments, readEmbeddedLog } from '../../src/telemetry/index.ts';
import { conformanceEvent } from '../../src/testing/telemetry-sink-conformance.ts';

const fixture = fileURLToPath(new URL('../fixtures/telemetry-crash-writer.ts', import.meta.url));
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Runs the writer until it has reported `flushes` flushes, kills it with SIGKILL, returns the last count it reported. */
function runAndKill(dir: string, first: number, flushes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir, String(first)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let seen = 0;
    let last = first;
    let killed = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer made only ${seen} flushes in 60 s; stderr: ${err}`));
    }, 60_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /^flushed (\d+)$/.exec(line);
        if (m?.[1] === undefined || killed) continue;
        last = Number(m[1]);
        if (++seen >= flushes) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && killed) resolve(last);
      else reject(new Error(`writer exited early (${code ?? signal}); stderr: ${err}`));
    });
  });
}

test('events reported flushed survive kill -9 of the writer, three crashes in a row', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-telemetry-crash-'));
  dirs.push(dir);
  let inLog = 0;
  for (let round = 0; round < 3; round++) {
    const flushedCount = await runAndKill(dir, inLog, 30 + round * 10);
    const reader = readEmbeddedLog(dir);
    const got = (await reader.toArray()).map((e) => e.data['i']);
    assert.ok(got.length >= flushedCount, `round ${round}: ${got.length} events in the log, ${flushedCount} were reported durable`);
    // Nothing lost or duplicated before the crash point: the log is exactly 0..n-1.
    assert.deepEqual(
      got,
      Array.from({ length: got.length }, (_, i) => i),
      `round ${round}: log is not a gapless prefix`,
    );
    assert.equal(reader.report().warnings.length, 0, `round ${round}: ${JSON.stringify(reader.report().warnings)}`);
    t.diagnostic(`round ${round}: reported durable ${flushedCount}, found ${got.length} (${got.length - inLog} new)`);
    inLog = got.length;
  }
  assert.ok((await listSegments(dir)).length > 1, 'the writer rotated segments');

  // The parent can take over the directory (stale lock) and append after the crashes.
  const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
  sink.emit({ ...conformanceEvent(0), data: { i: inLog } });
  await sink.close();
  const final = (await readEmbeddedLog(dir).toArray()).map((e) => e.data['i']);
  assert.deepEqual(
    final,
    Array.from({ length: inLog + 1 }, (_, i) => i),
  );
});

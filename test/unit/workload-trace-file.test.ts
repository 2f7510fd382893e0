import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { SyncPilotError } from '../../src/core/errors.ts';
import { loadTrace, parseTrace } from '../../src/workload/trace-file.ts';
import { defaultDataDir, defaultTracesDir, listTraceFiles } from '../../src/workload/traces-dir.ts';
import type { EditingTrace, TracePatch } from '../../src/workload/types.ts';

const tracesDir = defaultTracesDir();
const traceFiles = listTraceFiles(tracesDir);
const noData = traceFiles.length === 0 ? `no trace files in ${tracesDir} (set SYNCPILOT_DATA_DIR to the shared data folder)` : false;

/** The README's example concurrent trace. */
const README_EXAMPLE = {
  kind: 'concurrent',
  endContent: 'yoooo ho ho\n',
  numAgents: 2,
  txns: [
    { parents: [], numChildren: 1, agent: 0, time: '2023-11-22T04:49:00+00:00', patches: [[0, 0, 'hi there\n']] },
    {
      parents: [0],
      numChildren: 1,
      agent: 0,
      time: '2023-11-22T04:50:00+00:00',
      patches: [
        [0, 8, ''],
        [0, 0, 'yoooo'],
      ],
    },
    { parents: [1], numChildren: 0, agent: 1, time: '2023-11-22T04:51:00+00:00', patches: [[5, 0, ' ho ho']] },
  ],
};

/** Replays patches on a string with code point offsets (the trace format's unit). */
function replay(start: string, txns: readonly { patches: readonly TracePatch[] }[]): string {
  let content = start;
  // Fast path: without surrogates, code points and UTF-16 units coincide.
  const astral = (s: string): boolean => /[\uD800-\uDFFF]/.test(s);
  let points: string[] | undefined;
  for (const { patches } of txns) {
    for (const [pos, del, ins] of patches) {
      if (points === undefined && (astral(ins) || astral(content))) points = Array.from(content);
      if (points !== undefined) points.splice(pos, del, ...Array.from(ins));
      else content = content.slice(0, pos) + ins + content.slice(pos + del);
    }
  }
  return points === undefined ? content : points.join('');
}

const dir = mkdtempSync(join(tmpdir(), 'workload-trace-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function rejectsInvalid(path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadTrace(path), (err: unknown) => {
    assert.ok(err instanceof SyncPilotError, `expected SyncPilotError, got ${String(err)}`);
    assert.equal(err.code, 'SP_ERR_TRACE_INVALID');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('traces dir', () => {
  test('defaults beside the project root and honours SYNCPILOT_DATA_DIR', () => {
    assert.match(defaultTracesDir({}), /[/\\]shared[/\\]data[/\\]traces$/);
    assert.equal(defaultDataDir({ SYNCPILOT_DATA_DIR: '/somewhere/data' }), '/somewhere/data');
    assert.equal(defaultTracesDir({ SYNCPILOT_DATA_DIR: '/somewhere/data' }), '/somewhere/data/traces');
  });
  test('an absent folder lists no files', () => {
    assert.deepEqual(listTraceFiles(join(dir, 'absent')), []);
  });
});

describe('loadTrace on the real traces', { skip: noData }, () => {
  for (const path of traceFiles) {
    test(basename(path), async () => {
      const trace: EditingTrace = await loadTrace(path);
      assert.ok(trace.txns.length > 0);
      if (trace.kind === 'sequential') {
        // The data README's correctness check: replaying every patch gives endContent.
        assert.equal(replay(trace.startContent, trace.txns), trace.endContent);
      } else {
        assert.ok(trace.numAgents >= 2);
        assert.deepEqual(trace.txns[0]!.parents, []);
        assert.ok(trace.txns.every((t, i) => t.parents.every((p) => p < i) && t.agent < trace.numAgents));
        assert.ok(trace.endContent.length > 1000);
      }
      assert.ok(trace.txns.every((t) => Number.isFinite(t.time)));
    });
  }
});

describe('loadTrace on valid hand-made files', () => {
  test('plain JSON concurrent trace (the README example); times become epoch ms', async () => {
    const trace = await loadTrace(file('example.json', JSON.stringify(README_EXAMPLE)));
    assert.equal(trace.kind, 'concurrent');
    assert.equal(trace.txns[0]!.time, Date.UTC(2023, 10, 22, 4, 49));
    assert.deepEqual(trace.txns[1]!.patches, [
      [0, 8, ''],
      [0, 0, 'yoooo'],
    ]);
  });
  test('gzipped sequential trace; `timestamp` accepted, missing time is 0, extra fields dropped', async () => {
    const json = {
      startContent: 'a',
      endContent: 'ab😀c',
      extra: 1,
      txns: [{ timestamp: '2021-04-19T06:06:58.000Z', patches: [[1, 0, 'b😀']] }, { patches: [[3, 0, 'c']] }],
    };
    const trace = await loadTrace(file('seq.json.gz', gzipSync(JSON.stringify(json))));
    assert.equal(trace.kind, 'sequential');
    assert.ok(!('extra' in trace));
    assert.deepEqual(
      trace.txns.map((t) => t.time),
      [Date.UTC(2021, 3, 19, 6, 6, 58), 0],
    );
    assert.equal(replay(trace.kind === 'sequential' ? trace.startContent : '', trace.txns), 'ab😀c');
  });
});

describe('loadTrace on malformed input throws SP_ERR_TRACE_INVALID', () => {
  const concurrent = (patch: (t: typeof README_EXAMPLE) => unknown): string => JSON.stringify(patch(structuredClone(README_EXAMPLE)));
  const cases: [string, string | Buffer, RegExp][] = [
    ['not-json.json', '{"startContent": ', /not JSON/],
    ['fake.json.gz', '{}', /not gzip/],
    ['truncated.json.gz', gzipSync('{"startContent":"", "endContent":"", "txns":[]}').subarray(0, 20), /gunzip failed/],
    ['array.json', '[1,2]', /\(root\)/],
    ['no-end.json', JSON.stringify({ startContent: '', txns: [] }), /endContent/],
    [
      'neg-pos.json',
      JSON.stringify({ startContent: '', endContent: '', txns: [{ time: '2021-01-01T00:00:00Z', patches: [[-1, 0, 'x']] }] }),
      /txns\[0\]\.patches\[0\]\[0\]/,
    ],
    ['bad-patch.json', JSON.stringify({ startContent: '', endContent: '', txns: [{ patches: [[0, 'x']] }] }), /txns\[0\]\.patches\[0\]/],
    ['bad-time.json', concurrent((t) => ((t.txns[1]!.time = 'yesterday'), t)), /txns\[1\]\.time: not an RFC 3339 timestamp/],
    ['bad-kind.json', concurrent((t) => ((t.kind = 'sequential'), t)), /kind/],
    ['agent-range.json', concurrent((t) => ((t.txns[2]!.agent = 2), t)), /txns\[2\]\.agent 2 is not below numAgents 2/],
    ['forward-parent.json', concurrent((t) => ((t.txns[1]!.parents = [2]), t)), /txns\[1\]\.parents names 2/],
    ['orphan.json', concurrent((t) => ((t.txns[2]!.parents = []), t)), /txns\[2\] has no parents/],
    ['first-parent.json', concurrent((t) => ((t.txns[0]!.parents = [0]), t)), /txns\[0\] must have no parents/],
    ['no-txns.json', concurrent((t) => ((t.txns = []), t)), /txns is empty/],
  ];
  for (const [name, content, pattern] of cases) {
    test(name, () => rejectsInvalid(file(name, content), pattern));
  }
  test('missing file', () => rejectsInvalid(join(dir, 'nope.json.gz'), /cannot read/));
  test('many issues are summarised', () => {
    const txns = Array.from({ length: 9 }, () => ({ patches: [[0, 0, 1]] }));
    assert.throws(() => parseTrace({ startContent: '', endContent: '', txns }), /and 4 more issue/);
  });
});

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { COMPRESSION_SIZE_FEATURES, FEATURE_SCHEMA } from '../../src/ml/features/compression-size.ts';
import { EmbeddedLogSink } from '../../src/telemetry/embedded-log-sink.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import { EmbeddedTelemetrySource } from '../../src/telemetry/source/embedded-telemetry-source.ts';
import { readJsonlDataset } from '../../training/dataset/file-readers.ts';
import { COMPRESSION_LABEL_ROWS } from '../../training/policies/compression/telemetry-rows.ts';
import { collectLabels } from '../../pipelines/jobs/collect-labels.ts';
import { LABELS_FILE } from '../../pipelines/jobs/job-labels.ts';
import { JobLedger } from '../../pipelines/jobs/job-ledger.ts';
import { parseTrainRequest, type Watermark } from '../../pipelines/jobs/job-schemas.ts';
import { DEFAULT_LABELS } from '../../pipelines/jobs/label-events.ts';
import type { PipelineDeps, TelemetryRowsInput } from '../../pipelines/jobs/pipeline-deps.ts';
import { prepareTrainPayload } from '../../pipelines/jobs/prepare-train.ts';
import { trainJob } from '../../pipelines/jobs/train-job.ts';
import { InProcessRunner } from '../../pipelines/runner/in-process.ts';
import { LabelTrigger } from '../../pipelines/triggers/label-trigger.ts';
import { WatermarkCounter } from '../../pipelines/triggers/telemetry-trigger.ts';
import { chunksOf, labelEvent } from '../fixtures/compression-labels.ts';
import { createFakeDeps } from '../fixtures/pipelines-fake-deps.ts';

const TEXT = new TextEncoder().encode(
  'Every decision and outcome is streamed as telemetry; pipelines turn telemetry into datasets, and better models are promoted. '.repeat(
    40,
  ),
);
const isLabel = DEFAULT_LABELS.compression.isLabel;

/** Valid labels of chunks of TEXT, one document per label. */
function goodLabels(n: number, size = 300): SyncPilotEvent[] {
  return chunksOf(TEXT, size, n).map((c, i) => labelEvent(c, { doc: `doc-${i % 3}` }));
}

function watermarkOf(events: readonly SyncPilotEvent[]): Watermark {
  const c = new WatermarkCounter();
  for (const e of events) if (isLabel(e)) c.add(e.id);
  const w = c.value;
  assert.ok(w !== undefined);
  return w;
}

describe('telemetry labels become training rows', () => {
  let dir = '';
  let sink: EmbeddedLogSink;
  const logDir = (): string => join(dir, 'telemetry');
  const openSource = () => new EmbeddedTelemetrySource({ dir: logDir(), fromBeginning: true, pollIntervalMs: 10, logger: silentLogger });
  const append = async (events: readonly SyncPilotEvent[]): Promise<void> => {
    for (const e of events) sink.emit(e);
    await sink.flush();
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-pipelines-labels-'));
    sink = await EmbeddedLogSink.open({ dir: logDir(), logger: silentLogger, flushIntervalMs: 1 });
  });
  afterEach(async () => {
    await sink.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('collectLabels: every label through the watermark, bad ones counted by reason, none after it', async () => {
    const [a, b, c, d] = goodLabels(4);
    const features = (a as { data: { features: number[] } }).data.features;
    const wrongSchema = labelEvent(TEXT.subarray(0, 200), { data: { featureSchema: { name: FEATURE_SCHEMA.name, version: 99 } } });
    const wrongCount = labelEvent(TEXT.subarray(0, 200), { data: { features: features.slice(0, COMPRESSION_SIZE_FEATURES - 2) } });
    const rawDecision = labelEvent(TEXT.subarray(0, 20), { data: { decision: 'raw', codec: 'raw', encodedBytes: 20 } });
    const events = [a!, wrongSchema, rawDecision, b!, wrongCount, c!];
    await append([...events, d!]);
    const source = openSource();
    const file = join(dir, 'rows.jsonl');
    try {
      const r = await collectLabels(source, { isLabel, mapper: COMPRESSION_LABEL_ROWS, watermark: watermarkOf(events), file });
      assert.equal(r.labels, 5, 'the raw decision is not a label; d came after the watermark');
      assert.equal(r.rows, 3);
      assert.deepEqual(r.skipped, { featureSchema: 1, featureCount: 1 });
      assert.equal(r.file, file);
    } finally {
      await source.close();
    }
    const ds = await readJsonlDataset(file, {
      features: COMPRESSION_LABEL_ROWS.featureNames,
      targets: COMPRESSION_LABEL_ROWS.targetNames,
      groupBy: 'group',
    });
    assert.equal(ds.rows, 3);
    assert.deepEqual(ds.groups, ['telemetry:default/doc:doc-0', 'telemetry:default/doc:doc-1', 'telemetry:default/doc:doc-2']);
    const first = a as { data: { encodedBytes: number; rawBytes: number } };
    assert.equal(ds.y[0], Math.fround(first.data.encodedBytes / first.data.rawBytes));
  });

  test('collectLabels: labels before the trigger started counting are used too; all-skipped labels give no file', async () => {
    const bad = Array.from({ length: 3 }, () => labelEvent(TEXT.subarray(0, 100), { data: { featureSchema: { name: 'x', version: 1 } } }));
    await append(bad);
    const source = openSource();
    const file = join(dir, 'rows.jsonl');
    try {
      // A trigger that counted only the last label (it started after the first two).
      const r = await collectLabels(source, { isLabel, mapper: COMPRESSION_LABEL_ROWS, watermark: watermarkOf(bad.slice(2)), file });
      assert.deepEqual([r.labels, r.rows, r.skipped, r.file], [3, 0, { featureSchema: 3 }, undefined]);
      assert.equal(existsSync(file), false);
    } finally {
      await source.close();
    }
  });

  test('collectLabels: a watermark whose label never arrives is a retryable SP_ERR_DATASET_INVALID', async () => {
    await append(goodLabels(2));
    const source = openSource();
    try {
      await assert.rejects(
        collectLabels(source, {
          isLabel,
          mapper: COMPRESSION_LABEL_ROWS,
          watermark: { count: 3, through: 'not-in-the-log', digest: 'a'.repeat(64) },
          file: join(dir, 'rows.jsonl'),
          idleMs: 300,
        }),
        (e: unknown) =>
          e instanceof SyncPilotError && e.code === 'SP_ERR_DATASET_INVALID' && e.retryable && /not-in-the-log/.test(e.message),
      );
    } finally {
      await source.close();
    }
  });

  /** Fake deps whose trainer records the telemetry it was given, and the rows in its file at that moment. */
  function depsWithLabels(): { deps: PipelineDeps; seen: { telemetry: TelemetryRowsInput | undefined; fileRows: number }[] } {
    const fake = createFakeDeps({ dir: join(dir, 'fake') });
    const seen: { telemetry: TelemetryRowsInput | undefined; fileRows: number }[] = [];
    const deps: PipelineDeps = {
      ...fake,
      labels: { openSource, mapperFor: async (p) => (p === 'compression' ? COMPRESSION_LABEL_ROWS : undefined), idleMs: 1000 },
      trainPolicy: async (policy, opts) => {
        const file = opts.telemetry?.file;
        const fileRows = file === undefined ? 0 : (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '').length;
        seen.push({ telemetry: opts.telemetry, fileRows });
        return fake.trainPolicy(policy, opts);
      },
    };
    return { deps, seen };
  }

  test('trainJob: a labels cycle trains on its labels, collected once; the rows file goes once the result is recorded', async () => {
    const labels = [...goodLabels(4), labelEvent(TEXT.subarray(0, 64), { data: { features: [1, 2, 3] } })];
    await append(labels);
    const { deps, seen } = depsWithLabels();
    const watermark = watermarkOf(labels);
    const p = await prepareTrainPayload(
      parseTrainRequest({ policy: 'compression', epochs: 2, trigger: { kind: 'labels', at: 1 }, watermark }),
      deps,
    );
    const r = await trainJob(p, deps);
    assert.equal(r.version, 1);
    assert.equal(seen.length, 1);
    assert.deepEqual(
      { ...seen[0]!.telemetry, file: seen[0]!.telemetry?.file !== undefined },
      { labels: 5, skipped: { featureCount: 1 }, through: watermark.through, file: true },
    );
    assert.equal(seen[0]!.fileRows, 4);
    const ledger = new JobLedger(deps.workDir, p.jobId);
    assert.equal(existsSync(join(ledger.dir, LABELS_FILE)), false, 'the rows file is removed after the result');
    const note = JSON.parse(await readFile(join(ledger.dir, 'labels.json'), 'utf8')) as { rows: number; labels: number };
    assert.deepEqual([note.labels, note.rows], [5, 4]);
    // A rerun returns the recorded result: no second collection or training.
    assert.equal((await trainJob(p, deps)).reused, true);
    assert.equal(seen.length, 1);
  });

  test('trainJob: other triggers, or no labels dependency, train on the policy data only', async () => {
    const labels = goodLabels(2);
    await append(labels);
    const { deps, seen } = depsWithLabels();
    const watermark = watermarkOf(labels);
    const drift = await prepareTrainPayload(
      parseTrainRequest({ policy: 'compression', trigger: { kind: 'drift', at: 1 }, watermark }),
      deps,
    );
    await trainJob(drift, deps);
    const { labels: _l, ...without } = deps;
    const labelled = await prepareTrainPayload(
      parseTrainRequest({ policy: 'compression', seed: 2, trigger: { kind: 'labels', at: 1 }, watermark }),
      without,
    );
    await trainJob(labelled, without);
    assert.deepEqual(
      seen.map((s) => s.telemetry),
      [undefined, undefined],
    );
  });

  test('the same labels give the same cycle; new labels a new one, trained on all labels so far', async () => {
    const { deps, seen } = depsWithLabels();
    const runner = new InProcessRunner({ deps, retry: { attempts: 1 } });
    const ids: string[] = [];
    const trigger = () =>
      new LabelTrigger({
        policy: 'compression',
        enqueuer: runner,
        threshold: 3,
        request: { epochs: 2 },
        onEnqueued: (r) => ids.push(r.jobId),
      });
    const first = trigger();
    const observe = async (t: LabelTrigger, events: readonly SyncPilotEvent[]) =>
      t.observe(events.map((event, i) => ({ event, position: `0:${i}` })));
    try {
      const batch1 = goodLabels(3);
      await append(batch1);
      await observe(first, batch1);
      assert.equal(ids.length, 1);
      const c1 = await runner.result(ids[0]!);
      // Another trigger that saw the same labels (a restart without state, a second pipeline): the same cycle.
      const again = trigger();
      await observe(again, batch1);
      assert.equal(ids[1], ids[0]);

      const batch2 = goodLabels(3, 500);
      await append(batch2);
      await observe(first, batch2);
      assert.equal(ids.length, 3);
      assert.notEqual(ids[2], ids[0]);
      const c2 = await runner.result(ids[2]!);
      assert.equal(c2.train.version, c1.train.version + 1);
      assert.deepEqual(
        seen.map((s) => [s.telemetry?.labels, s.fileRows]),
        [
          [3, 3],
          [6, 6],
        ],
      );
    } finally {
      await runner.close();
    }
  });
});

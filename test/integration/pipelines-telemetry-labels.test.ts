import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { silentLogger } from '../../src/core/logger.ts';
import { FEATURE_SCHEMA } from '../../src/ml/features/compression-size.ts';
import { EmbeddedLogSink } from '../../src/telemetry/embedded-log-sink.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';
import { EmbeddedTelemetrySource } from '../../src/telemetry/source/embedded-telemetry-source.ts';
import { createPipelineDeps } from '../../pipelines/default-deps.ts';
import type { EnqueueResult } from '../../pipelines/jobs/cycle-steps.ts';
import type { Watermark } from '../../pipelines/jobs/job-schemas.ts';
import { InProcessRunner } from '../../pipelines/runner/in-process.ts';
import { LabelTrigger } from '../../pipelines/triggers/label-trigger.ts';
import { runTelemetryTriggers } from '../../pipelines/triggers/telemetry-trigger.ts';
import { chunksOf, labelEvent } from '../fixtures/compression-labels.ts';

const DATA = new URL('../../../shared/data/', import.meta.url);
const CANTERBURY = fileURLToPath(new URL('corpora/canterbury/', DATA));
const TRACE = fileURLToPath(new URL('traces/seph-blog1.json.gz', DATA));
const skip = !existsSync(CANTERBURY) || !existsSync(TRACE) ? '../shared/data (canterbury corpus, seph-blog1 trace) absent' : false;

/** Real labels: chunks of a blog's text with their serving features and real brotli sizes. */
async function realLabels(count: number, size: number): Promise<SyncPilotEvent[]> {
  const { endContent } = JSON.parse(gunzipSync(await readFile(TRACE)).toString('utf8')) as { endContent: string };
  return chunksOf(new TextEncoder().encode(endContent), size, count).map((c, i) => labelEvent(c, { doc: `post-${i % 4}` }));
}

describe('labels in the embedded log → rows of the next model', { skip, timeout: 240_000 }, () => {
  test('the trigger starts a cycle that trains on the corpus plus the labels; the card counts them; new labels make a new cycle', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'sp-pipelines-telemetry-labels-'));
    const sink = await EmbeddedLogSink.open({ dir: join(dataDir, 'telemetry'), logger: silentLogger, flushIntervalMs: 1 });
    const deps = createPipelineDeps({ dataDir, logger: silentLogger });
    const runner = new InProcessRunner({ deps, retry: { attempts: 1 } });
    const enqueued: (EnqueueResult & { readonly watermark: Watermark })[] = [];
    let notify = (): void => undefined;
    const trigger = new LabelTrigger({
      policy: 'compression',
      enqueuer: runner,
      threshold: 45,
      request: { epochs: 8 },
      onEnqueued: (r) => {
        enqueued.push(r);
        notify();
      },
    });
    const nextEnqueue = (n: number): Promise<void> =>
      new Promise((resolve) => {
        notify = () => (enqueued.length >= n ? resolve() : undefined);
        notify();
      });
    const source = new EmbeddedTelemetrySource({
      dir: join(dataDir, 'telemetry'),
      fromBeginning: true,
      pollIntervalMs: 10,
      logger: silentLogger,
    });
    const ctrl = new AbortController();
    const watching = runTelemetryTriggers(source, [trigger], ctrl.signal);
    try {
      const good = await realLabels(80, 700);
      const features = (good[0] as { data: { features: number[] } }).data.features;
      const bad = [
        ...[1, 2, 3].map(() =>
          labelEvent(new Uint8Array(300).fill(7), { data: { featureSchema: { name: FEATURE_SCHEMA.name, version: 2 } } }),
        ),
        ...[1, 2].map(() => labelEvent(new Uint8Array(300).fill(9), { data: { features: features.slice(0, 5) } })),
      ];
      for (const e of [...good.slice(0, 20), ...bad, ...good.slice(20, 40)]) sink.emit(e);
      await sink.flush();
      await nextEnqueue(1);
      const first = await runner.result(enqueued[0]!.jobId);
      const registry = await deps.registry();
      const card1 = await registry.show('compression', first.train.version);
      assert.deepEqual(
        [card1.training.config['telemetryLabels'], card1.training.config['telemetryRows'], card1.training.config['telemetrySkipped']],
        [45, 40, 5],
      );
      assert.match(
        card1.dataset.source,
        /\+ telemetry: 40 rows in 4 groups from 45 labels through \S+ \(5 skipped: featureCount 2, featureSchema 3\)/,
      );
      assert.match(card1.dataset.split.groupBy ?? '', /telemetry/);

      // The same labels (a restarted trigger without its state) ask for the same cycle: nothing trains.
      const again = await runner.enqueue({
        policy: 'compression',
        epochs: 8,
        trigger: { kind: 'labels', at: 1 },
        watermark: enqueued[0]!.watermark,
      });
      assert.deepEqual(again, { jobId: enqueued[0]!.jobId, duplicate: true });

      // 45 new labels: a new cycle, trained on all 85 labels so far.
      for (const e of good.slice(40, 80)) sink.emit(e);
      for (const e of bad) sink.emit({ ...e, id: `${e.id}-again` });
      await sink.flush();
      await nextEnqueue(2);
      assert.notEqual(enqueued[1]!.jobId, enqueued[0]!.jobId);
      const second = await runner.result(enqueued[1]!.jobId);
      const card2 = await registry.show('compression', second.train.version);
      assert.equal(second.train.version, first.train.version + 1);
      assert.deepEqual([card2.training.config['telemetryLabels'], card2.training.config['telemetryRows']], [90, 80]);
      assert.notEqual(card2.dataset.fingerprint, card1.dataset.fingerprint);
      // The corpus's held-out files stay the test split: the two versions are compared on the same rows.
      assert.equal(card2.dataset.rows.test, card1.dataset.rows.test);
      assert.equal(card2.dataset.rows.train, card1.dataset.rows.train + 40);
    } finally {
      ctrl.abort();
      await watching.catch(() => undefined);
      await source.close();
      await runner.close();
      await sink.close();
      await deps.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/core/logger.ts';
import { EmbeddedLogSink, readEmbeddedLog } from '../../src/telemetry/index.ts';
import { runTelemetrySinkConformance } from '../../src/testing/telemetry-sink-conformance.ts';

runTelemetrySinkConformance('EmbeddedLogSink', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-telemetry-conf-'));
  const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
  return { sink, readAll: () => readEmbeddedLog(dir).toArray(), teardown: () => rm(dir, { recursive: true, force: true }) };
});

// Small segments and a tiny buffer threshold exercise rotation and back-to-back batches under the same suite.
runTelemetrySinkConformance('EmbeddedLogSink (4 KiB segments)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-telemetry-conf-'));
  const sink = await EmbeddedLogSink.open({ dir, segmentBytes: 4096, flushIntervalMs: 1, logger: silentLogger });
  return { sink, readAll: () => readEmbeddedLog(dir).toArray(), teardown: () => rm(dir, { recursive: true, force: true }) };
});

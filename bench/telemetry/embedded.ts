/**
 * Embedded telemetry sink benchmark (never part of `npm test`).
 *   node --import tsx bench/telemetry/embedded.ts [--runs 5] [--events 1000000]
 *
 * 1. ns per emit (hot path): 100k pre-built events emitted in a synchronous loop, timed in blocks
 *    of 1000; median block, then median over runs. Side by side: NullTelemetrySink (the floor)
 *    and JSON.stringify per event (what emit would cost if it serialised eagerly).
 * 2. Sustained events/s: a producer builds and emits events in chunks of 1000, yielding to the
 *    event loop between chunks as a server would, then flushes; events written per second of
 *    wall time, with drops. Side by side: a bare writer (JSON lines, same batch size, no framing,
 *    no crc, no sink) fed the same events.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../../src/core/logger.ts';
import { NullTelemetrySink } from '../../src/core/telemetry.ts';
import type { TelemetryEvent, TelemetrySink } from '../../src/core/telemetry.ts';
import { EmbeddedLogSink } from '../../src/telemetry/index.ts';
import { hasNativeCrc32 } from '../../src/telemetry/crc32.ts';
import { BLOCK, CHUNK, HOT_EVENTS, makeEvent, median, yieldLoop } from './bench-common.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, events: { type: 'string', default: '1000000' } } });
const RUNS = Number(values.runs);
const SUSTAINED_EVENTS = Number(values.events);

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'sp-bench-telemetry-'));
}

function nsPerEmit(sink: TelemetrySink, events: readonly TelemetryEvent[]): number {
  const blocks: number[] = [];
  for (let i = 0; i < events.length; i += BLOCK) {
    const t0 = process.hrtime.bigint();
    for (let k = i; k < i + BLOCK; k++) sink.emit(events[k] as TelemetryEvent);
    blocks.push(Number(process.hrtime.bigint() - t0) / BLOCK);
  }
  return median(blocks);
}

function nsPerStringify(events: readonly TelemetryEvent[]): number {
  const blocks: number[] = [];
  let sink = 0;
  for (let i = 0; i < events.length; i += BLOCK) {
    const t0 = process.hrtime.bigint();
    for (let k = i; k < i + BLOCK; k++) sink += JSON.stringify(events[k]).length;
    blocks.push(Number(process.hrtime.bigint() - t0) / BLOCK);
  }
  if (sink === 0) throw new Error('unreachable');
  return median(blocks);
}

async function hotPath(): Promise<{ embedded: number; nullSink: number; stringify: number }> {
  const embedded: number[] = [];
  const nullSink: number[] = [];
  const stringify: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const events = Array.from({ length: HOT_EVENTS }, (_, i) => makeEvent(i));
    const dir = await tempDir();
    const sink = await EmbeddedLogSink.open({ dir, maxBufferedEvents: 2 * HOT_EVENTS, logger: silentLogger });
    embedded.push(nsPerEmit(sink, events));
    await sink.close();
    if (sink.stats().written !== HOT_EVENTS) throw new Error(`wrote ${sink.stats().written} of ${HOT_EVENTS}`);
    await rm(dir, { recursive: true, force: true });
    nullSink.push(nsPerEmit(new NullTelemetrySink(), events));
    stringify.push(nsPerStringify(events));
  }
  return { embedded: median(embedded), nullSink: median(nullSink), stringify: median(stringify) };
}

async function sustainedEmbedded(): Promise<{ perSec: number; dropped: number }> {
  const dir = await tempDir();
  const sink = await EmbeddedLogSink.open({ dir, logger: silentLogger });
  const t0 = performance.now();
  for (let i = 0; i < SUSTAINED_EVENTS; i += CHUNK) {
    for (let k = i; k < i + CHUNK; k++) sink.emit(makeEvent(k));
    await yieldLoop();
  }
  await sink.flush();
  const secs = (performance.now() - t0) / 1000;
  await sink.close();
  const s = sink.stats();
  if (s.written + s.dropped !== SUSTAINED_EVENTS) throw new Error(`accounting: ${JSON.stringify(s)}`);
  await rm(dir, { recursive: true, force: true });
  return { perSec: s.written / secs, dropped: s.dropped };
}

async function sustainedBare(): Promise<number> {
  const dir = await tempDir();
  const fh = await open(join(dir, 'bare.jsonl'), 'a');
  const t0 = performance.now();
  let batch: TelemetryEvent[] = [];
  let writing: Promise<unknown> = Promise.resolve();
  for (let i = 0; i < SUSTAINED_EVENTS; i += CHUNK) {
    for (let k = i; k < i + CHUNK; k++) batch.push(makeEvent(k));
    if (batch.length >= 4096) {
      const b = batch;
      batch = [];
      writing = writing.then(() => fh.write(b.map((e) => JSON.stringify(e)).join('\n') + '\n'));
    }
    await yieldLoop();
  }
  const rest = batch;
  await writing.then(() => fh.write(rest.map((e) => JSON.stringify(e)).join('\n') + '\n'));
  await fh.sync();
  const secs = (performance.now() - t0) / 1000;
  await fh.close();
  await rm(dir, { recursive: true, force: true });
  return SUSTAINED_EVENTS / secs;
}

async function main(): Promise<void> {
  console.log(`node ${process.version}, native crc32: ${hasNativeCrc32}, runs: ${RUNS}`);
  const hot = await hotPath();
  console.log('\nhot path (ns per emit, median of block medians over runs):');
  console.log(`  EmbeddedLogSink.emit      ${hot.embedded.toFixed(1)} ns`);
  console.log(`  NullTelemetrySink.emit    ${hot.nullSink.toFixed(1)} ns   (ratio ${(hot.embedded / hot.nullSink).toFixed(2)}x)`);
  console.log(`  JSON.stringify per event  ${hot.stringify.toFixed(1)} ns   (what eager serialisation would add to emit)`);

  const ours: number[] = [];
  const bare: number[] = [];
  let dropped = 0;
  for (let r = 0; r < RUNS; r++) {
    const e = await sustainedEmbedded();
    ours.push(e.perSec);
    dropped += e.dropped;
    bare.push(await sustainedBare());
  }
  const o = median(ours);
  const b = median(bare);
  console.log(`\nsustained (${SUSTAINED_EVENTS} events produced in chunks of ${CHUNK}, incl. building each event; median of ${RUNS}):`);
  console.log(`  EmbeddedLogSink           ${Math.round(o).toLocaleString('en')} events/s, dropped ${dropped} in all runs`);
  console.log(`  bare JSON-lines writer    ${Math.round(b).toLocaleString('en')} events/s   (ours/bare ${(o / b).toFixed(2)})`);
}

await main();

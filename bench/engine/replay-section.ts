import type { MemorySample } from './child-ipc.ts';
import { replayOurs, type ReplayRun } from './replay-ours.ts';
import { replayYjs } from './replay-yjs.ts';
import { median, medianLatency, ratio, round, type LatencySummary } from './stats.ts';
import type { BenchWorkload } from './workload.ts';

/** The three systems of the replay, in the order of the output. */
export const REPLAY_SYSTEMS = ['ours', 'oursMemoryStore', 'yjs'] as const;
export type ReplaySystem = (typeof REPLAY_SYSTEMS)[number];

export const REPLAY_LABELS: Record<ReplaySystem, string> = {
  ours: 'ours (SQLite WAL, authz, telemetry)',
  oursMemoryStore: 'ours (in-memory store)',
  yjs: 'Yjs + bare ws relay',
};

/** Server memory in MiB, medians over runs. */
export interface ServerMemoryMiB {
  /** RSS of the idle server process before any client connected. */
  readonly idleRss: number;
  /** Highest RSS sampled during the replay. */
  readonly peakRss: number;
  /** After the replay, after a full GC, with the document still open. */
  readonly afterRss: number;
  readonly afterHeapUsed: number;
  readonly afterExternal: number;
  /** heapUsed after − heapUsed idle: what the replayed document (and the store, when in memory) keeps. */
  readonly heapGrowth: number;
}

/** Medians of one system over the runs, with every run's figures for the record. */
export interface ReplaySummary {
  readonly opsPerSec: number;
  readonly elapsedMs: number;
  readonly latencyMs: LatencySummary;
  readonly serverMemoryMiB: ServerMemoryMiB;
  readonly writerKiBSent: number;
  /** The server process's event-loop delay during the replay (synchronous SQLite work, GC). */
  readonly serverLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Always true here: a mismatch aborts the benchmark. */
  readonly textMatches: true;
  readonly serverStats: unknown;
  readonly runs: readonly { readonly opsPerSec: number; readonly p50: number; readonly p99: number; readonly peakRssMiB: number }[];
}

export interface ReplaySection {
  readonly window: number;
  readonly edits: number;
  readonly notes: readonly string[];
  readonly ours: ReplaySummary;
  readonly oursMemoryStore: ReplaySummary;
  readonly yjs: ReplaySummary;
  /** ours / yjs and the like; for latency and memory, higher is worse, for opsPerSec higher is better. */
  readonly ratios: Record<
    'oursVsYjs' | 'oursMemoryStoreVsYjs' | 'sqliteVsMemoryStore',
    { readonly opsPerSec: number; readonly latencyP50: number; readonly latencyP99: number; readonly serverPeakRss: number }
  >;
}

const mib = (bytes: number): number => round(bytes / 2 ** 20, 1);

function memoryOf(runs: readonly ReplayRun[]): ServerMemoryMiB {
  const m = (f: (idle: MemorySample, after: MemorySample) => number): number =>
    mib(median(runs.map((r) => f(r.serverMemory.idle, r.serverMemory.after))));
  return {
    idleRss: m((i) => i.rss),
    peakRss: m((_i, a) => a.peakRss),
    afterRss: m((_i, a) => a.rss),
    afterHeapUsed: m((_i, a) => a.heapUsed),
    afterExternal: m((_i, a) => a.external),
    heapGrowth: m((i, a) => a.heapUsed - i.heapUsed),
  };
}

function summarise(runs: readonly ReplayRun[]): ReplaySummary {
  const lat = medianLatency(runs.map((r) => r.latencyMs));
  return {
    opsPerSec: Math.round(median(runs.map((r) => r.opsPerSec))),
    elapsedMs: Math.round(median(runs.map((r) => r.elapsedMs))),
    latencyMs: { p50: round(lat.p50), p99: round(lat.p99), max: round(lat.max), samples: lat.samples },
    serverMemoryMiB: memoryOf(runs),
    writerKiBSent: round(median(runs.map((r) => r.writerBytesSent)) / 1024, 1),
    serverLoopDelayMs: {
      p50: round(median(runs.map((r) => r.serverStats.loopDelayMs.p50))),
      p99: round(median(runs.map((r) => r.serverStats.loopDelayMs.p99))),
      max: round(median(runs.map((r) => r.serverStats.loopDelayMs.max))),
    },
    textMatches: true,
    serverStats: runs.at(-1)?.serverStats,
    runs: runs.map((r) => ({
      opsPerSec: Math.round(r.opsPerSec),
      p50: round(r.latencyMs.p50),
      p99: round(r.latencyMs.p99),
      peakRssMiB: mib(r.serverMemory.after.peakRss),
    })),
  };
}

function ratios(a: ReplaySummary, b: ReplaySummary): ReplaySection['ratios']['oursVsYjs'] {
  return {
    opsPerSec: ratio(a.opsPerSec, b.opsPerSec),
    latencyP50: ratio(a.latencyMs.p50, b.latencyMs.p50),
    latencyP99: ratio(a.latencyMs.p99, b.latencyMs.p99),
    serverPeakRss: ratio(a.serverMemoryMiB.peakRss, b.serverMemoryMiB.peakRss),
  };
}

/**
 * Replays the workload `runs` times through each system, rotating their order from run to run so
 * that a change in the machine's load does not always hit the same system.
 */
export async function runReplaySection(
  workload: BenchWorkload,
  window: number,
  runs: number,
  progress: (line: string) => void,
): Promise<ReplaySection> {
  const results: Record<ReplaySystem, ReplayRun[]> = { ours: [], oursMemoryStore: [], yjs: [] };
  const run = (system: ReplaySystem): Promise<ReplayRun> => {
    switch (system) {
      case 'ours':
        return replayOurs('sqlite', workload, window);
      case 'oursMemoryStore':
        return replayOurs('memory', workload, window);
      case 'yjs':
        return replayYjs(workload, window);
    }
  };
  for (let r = 0; r < runs; r++) {
    for (let k = 0; k < REPLAY_SYSTEMS.length; k++) {
      const system = REPLAY_SYSTEMS[(r + k) % REPLAY_SYSTEMS.length] as ReplaySystem;
      const result = await run(system);
      results[system].push(result);
      progress(
        `replay run ${r + 1}/${runs} ${REPLAY_LABELS[system]}: ${Math.round(result.opsPerSec)} ops/s, ` +
          `p50 ${result.latencyMs.p50.toFixed(2)} ms, p99 ${result.latencyMs.p99.toFixed(2)} ms, text ok`,
      );
    }
  }
  const ours = summarise(results.ours);
  const oursMemoryStore = summarise(results.oursMemoryStore);
  const yjs = summarise(results.yjs);
  return {
    window,
    edits: workload.edits.length,
    notes: [
      'ours: every change is appended to SQLite (WAL, synchronous=NORMAL: durability "process") before it is acknowledged and fanned out; the server keeps the document state; authz stage and embedded telemetry log on',
      'oursMemoryStore: the same server with MemoryDocStore (changes kept encoded in memory, nothing durable)',
      'yjs: bare ws relay that forwards each update to the other peers of the room: no persistence, no server-side document, no auth, no telemetry',
      `flow control: the writer is at most ${window} edits ahead of what the reader has received; latency = reader receipt − writer starts the edit`,
      'server memory: each server runs in its own child process under tsx (as the CLI does), so idle RSS includes the TypeScript loader for both; "after" is measured after a full GC with the document still open',
    ],
    ours,
    oursMemoryStore,
    yjs,
    ratios: {
      oursVsYjs: ratios(ours, yjs),
      oursMemoryStoreVsYjs: ratios(oursMemoryStore, yjs),
      sqliteVsMemoryStore: ratios(ours, oursMemoryStore),
    },
  };
}

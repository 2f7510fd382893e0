import { createAuthzStage } from '../../src/auth/authz-stage.ts';
import { docId, peerId } from '../../src/core/ids.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { Pipeline, type PipelineOutcome } from '../../src/core/pipeline.ts';
import type { Principal, Reply, StageContext } from '../../src/core/stage.ts';
import { NullTelemetrySink } from '../../src/core/telemetry.ts';
import { systemClock } from '../../src/core/clock.ts';
import type { EngineEnvelope } from '../../src/engine/server/envelope.ts';
import { median, round } from './stats.ts';

/** The budget of the issue: the empty pipeline adds less than 2 µs per message. */
export const EMPTY_PIPELINE_BUDGET_NS = 2000;

/** Per-message cost of each way of handling a message, in ns (median over runs). */
export interface PipelineOverheadResult {
  readonly messagesPerRun: number;
  readonly runs: number;
  readonly nsPerMessage: {
    /** A plain function returning the same `continue` outcome: the floor. */
    readonly directCall: number;
    /** `Pipeline.run` with no stages. */
    readonly emptyPipeline: number;
    /** The authz stage's `process` called directly (no runner). */
    readonly authzStageDirect: number;
    /** `Pipeline.run` with the authz stage (runner: ordering, timing, budget check, stats). */
    readonly authzPipeline: number;
  };
  /** Added by the runner: empty − direct, authz pipeline − direct, authz pipeline − authz direct. */
  readonly overheadNs: { readonly emptyPipeline: number; readonly authzPipeline: number; readonly authzRunnerOnly: number };
  readonly budget: { readonly emptyPipelineAddsUnderNs: number; readonly measuredNs: number; readonly pass: boolean };
}

type Handler = (m: EngineEnvelope) => PipelineOutcome<EngineEnvelope> | Promise<PipelineOutcome<EngineEnvelope>>;

const EMPTY_REPLIES: readonly Reply[] = Object.freeze([]);
const POOL = 1024;

/** A pool of realistic inbound envelopes (several docs, peers and principals) so nothing is constant-folded. */
function envelopes(): EngineEnvelope[] {
  const principals: Principal[] = Array.from({ length: 8 }, (_, i) =>
    Object.freeze({ subject: `user-${i}`, tenant: 't', read: ['shared-*'], write: [`doc-*`, `team-${i}/*`] }),
  );
  return Array.from({ length: POOL }, (_, i) => ({
    id: `m${i}`,
    phase: 'inbound' as const,
    kind: 'changes' as const,
    doc: docId(`doc-${i % 97}`),
    peer: peerId(`p${i % 31}`),
    principal: principals[i % principals.length] as Principal,
    payload: [],
    bytes: 40 + (i % 200),
    receivedAt: i,
    annotations: {},
  }));
}

// One loop per variant (not one loop taking a callback) so that each call site stays monomorphic
// and no variant pays for another's inline cache.
function loopDirect(fn: Handler, pool: readonly EngineEnvelope[], n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const o = fn(pool[i & (POOL - 1)] as EngineEnvelope);
    if (!(o instanceof Promise) && o.type === 'continue') ok++;
  }
  return ok;
}
function loopEmpty(p: Pipeline<EngineEnvelope>, pool: readonly EngineEnvelope[], n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const o = p.run(pool[i & (POOL - 1)] as EngineEnvelope);
    if (!(o instanceof Promise) && o.type === 'continue') ok++;
  }
  return ok;
}
function loopAuthz(p: Pipeline<EngineEnvelope>, pool: readonly EngineEnvelope[], n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const o = p.run(pool[i & (POOL - 1)] as EngineEnvelope);
    if (!(o instanceof Promise) && o.type === 'continue') ok++;
  }
  return ok;
}
function loopStage(fn: (m: EngineEnvelope) => { type: string } | Promise<unknown>, pool: readonly EngineEnvelope[], n: number): number {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const o = fn(pool[i & (POOL - 1)] as EngineEnvelope);
    if (!(o instanceof Promise) && o.type === 'continue') ok++;
  }
  return ok;
}

function nsPer(n: number, body: () => number): number {
  const t0 = process.hrtime.bigint();
  const ok = body();
  const ns = Number(process.hrtime.bigint() - t0);
  // Every message of the pool is allowed: a different count means the code under test misbehaved.
  if (ok !== n) throw new Error(`pipeline benchmark: ${n - ok} of ${n} messages did not continue`);
  return ns / n;
}

/**
 * Measures ns per message of a direct call, the empty pipeline, the authz stage alone and the
 * pipeline with the authz stage, each over `messages` messages, `runs` times (variants interleaved,
 * after a warm-up of each), and reports the medians and the runner's overhead.
 */
export function measurePipelineOverhead(runs: number, messages = 1_000_000): PipelineOverheadResult {
  const pool = envelopes();
  const options = { logger: silentLogger, telemetry: new NullTelemetrySink(), clock: systemClock };
  const empty = new Pipeline<EngineEnvelope>([], options);
  const authz = new Pipeline<EngineEnvelope>([createAuthzStage<EngineEnvelope>()], options);
  const stage = createAuthzStage<EngineEnvelope>();
  const ctx: StageContext = { signal: new AbortController().signal, ...options };
  const direct: Handler = (m) => ({ type: 'continue', message: m, replies: EMPTY_REPLIES });
  const stageDirect = (m: EngineEnvelope): { type: string } | Promise<unknown> => stage.process(m, ctx);

  const variants = {
    directCall: () => nsPer(messages, () => loopDirect(direct, pool, messages)),
    emptyPipeline: () => nsPer(messages, () => loopEmpty(empty, pool, messages)),
    authzStageDirect: () => nsPer(messages, () => loopStage(stageDirect, pool, messages)),
    authzPipeline: () => nsPer(messages, () => loopAuthz(authz, pool, messages)),
  };
  const names = Object.keys(variants) as (keyof typeof variants)[];
  for (const name of names) variants[name]();
  const samples: Record<keyof typeof variants, number[]> = { directCall: [], emptyPipeline: [], authzStageDirect: [], authzPipeline: [] };
  for (let r = 0; r < runs; r++) {
    // Rotate the order so that no variant always runs right after the same neighbour (GC, turbo boost).
    for (let k = 0; k < names.length; k++) {
      const name = names[(r + k) % names.length] as keyof typeof variants;
      samples[name].push(variants[name]());
    }
  }
  const ns = {
    directCall: round(median(samples.directCall), 1),
    emptyPipeline: round(median(samples.emptyPipeline), 1),
    authzStageDirect: round(median(samples.authzStageDirect), 1),
    authzPipeline: round(median(samples.authzPipeline), 1),
  };
  const emptyOverhead = round(ns.emptyPipeline - ns.directCall, 1);
  return {
    messagesPerRun: messages,
    runs,
    nsPerMessage: ns,
    overheadNs: {
      emptyPipeline: emptyOverhead,
      authzPipeline: round(ns.authzPipeline - ns.directCall, 1),
      authzRunnerOnly: round(ns.authzPipeline - ns.authzStageDirect, 1),
    },
    budget: {
      emptyPipelineAddsUnderNs: EMPTY_PIPELINE_BUDGET_NS,
      measuredNs: emptyOverhead,
      pass: emptyOverhead < EMPTY_PIPELINE_BUDGET_NS,
    },
  };
}

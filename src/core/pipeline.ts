import { systemClock, type Clock } from './clock.ts';
import { SyncPilotError, toSyncPilotError, type ErrorCode } from './errors.ts';
import { silentLogger, type Logger } from './logger.ts';
import type { Envelope, Phase, Reply, Stage, StageContext, StageResult } from './stage.ts';
import { NullTelemetrySink, newEventId, type TelemetrySink } from './telemetry.ts';

/** Durable storage for messages a protecting stage holds. `put` must be durable when it returns. */
export interface HoldStore {
  put(record: HeldMessage): void;
}

export interface HeldMessage {
  readonly id: string;
  readonly stage: string;
  readonly code: ErrorCode;
  readonly reason: string;
  readonly envelope: Envelope;
  readonly heldAt: number;
}

/** The result of running the pipeline over one message. */
export type PipelineOutcome<E extends Envelope = Envelope> =
  | { readonly type: 'continue'; readonly message: E; readonly replies: readonly Reply[] }
  | { readonly type: 'hold'; readonly stage: string; readonly code: ErrorCode; readonly reason: string; readonly holdId: string }
  | { readonly type: 'reject'; readonly stage: string; readonly code: ErrorCode; readonly reason: string }
  | { readonly type: 'reply'; readonly stage: string; readonly replies: readonly Reply[] };

/** Per-stage counters, for telemetry and benchmarks. Durations are in microseconds. */
export interface StageStats {
  calls: number;
  totalMicros: number;
  maxMicros: number;
  errors: number;
  overBudget: number;
}

export interface PipelineOptions {
  /** Budget for stages that do not set their own, in milliseconds. Default 5. */
  readonly defaultBudgetMs?: number;
  readonly holds?: HoldStore;
  readonly logger?: Logger;
  readonly telemetry?: TelemetrySink;
  readonly clock?: Clock;
}

const NEVER_ABORTED = new AbortController().signal;
const EMPTY_REPLIES: readonly Reply[] = Object.freeze([]);

/**
 * Runs stages in order over a message. It owns ordering (by `order`, then name), per-stage time
 * budgets, per-stage timing and error wrapping:
 * - an `optimizing` stage that throws, times out or runs over budget is skipped: the message passes
 *   unchanged (fail open);
 * - a `protecting` stage that throws or times out makes the runner hold the message durably in the
 *   hold store and tell the peer (fail safe). Without a hold store it rejects instead.
 * If every stage is synchronous, `run` returns synchronously (no promise, no microtask).
 */
export class Pipeline<E extends Envelope = Envelope> {
  readonly #byPhase: Record<Phase, readonly Stage<E>[]>;
  readonly #stats = new Map<string, StageStats>();
  readonly #defaultBudgetMs: number;
  readonly #holds: HoldStore | undefined;
  readonly #logger: Logger;
  readonly #telemetry: TelemetrySink;
  readonly #clock: Clock;
  readonly #syncCtx: StageContext;

  constructor(stages: readonly Stage<E>[], options: PipelineOptions = {}) {
    const names = new Set<string>();
    for (const s of stages) {
      if (names.has(s.name)) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `duplicate stage name "${s.name}"`);
      names.add(s.name);
      this.#stats.set(s.name, { calls: 0, totalMicros: 0, maxMicros: 0, errors: 0, overBudget: 0 });
    }
    const sorted = [...stages].sort((a, b) => a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const of = (p: Phase): readonly Stage<E>[] => sorted.filter((s) => s.phases.includes(p));
    this.#byPhase = { inbound: of('inbound'), applied: of('applied'), outbound: of('outbound') };
    this.#defaultBudgetMs = options.defaultBudgetMs ?? 5;
    this.#holds = options.holds;
    this.#logger = options.logger ?? silentLogger;
    this.#telemetry = options.telemetry ?? new NullTelemetrySink();
    this.#clock = options.clock ?? systemClock;
    this.#syncCtx = { signal: NEVER_ABORTED, logger: this.#logger, telemetry: this.#telemetry, clock: this.#clock };
  }

  /** True if no stage sees `phase` (callers may skip building envelopes). */
  isEmpty(phase: Phase): boolean {
    return this.#byPhase[phase].length === 0;
  }

  stages(phase: Phase): readonly Stage<E>[] {
    return this.#byPhase[phase];
  }

  stats(): ReadonlyMap<string, Readonly<StageStats>> {
    return this.#stats;
  }

  /** Runs the stages of `message.phase` over `message`. */
  run(message: E): PipelineOutcome<E> | Promise<PipelineOutcome<E>> {
    const stages = this.#byPhase[message.phase];
    if (stages.length === 0) return { type: 'continue', message, replies: EMPTY_REPLIES };
    return this.#runFrom(stages, 0, message, EMPTY_REPLIES);
  }

  #runFrom(
    stages: readonly Stage<E>[],
    start: number,
    message: E,
    replies: readonly Reply[],
  ): PipelineOutcome<E> | Promise<PipelineOutcome<E>> {
    let current = message;
    let collected = replies;
    for (let i = start; i < stages.length; i++) {
      const stage = stages[i] as Stage<E>;
      if (stage.mode === 'async') {
        return this.#runAsync(stage, current).then((result) => {
          const next = this.#settle(stage, current, collected, result);
          if (next.done) return next.outcome;
          return this.#runFrom(stages, i + 1, next.message, next.replies);
        });
      }
      const t0 = this.#clock.monotonic();
      let result: StageResult<E> | Promise<StageResult<E>> | SyncPilotError;
      try {
        result = stage.process(current, this.#syncCtx);
      } catch (err) {
        result = toSyncPilotError(err, 'SP_ERR_STAGE_FAILED');
      }
      const micros = (this.#clock.monotonic() - t0) * 1000;
      if (result instanceof Promise) {
        // A sync stage must not return a promise; treat it as a failure and avoid an unhandled rejection.
        result.catch(() => undefined);
        result = new SyncPilotError('SP_ERR_STAGE_FAILED', `stage "${stage.name}" returned a promise but is not mode "async"`);
      }
      const overBudget = micros > (stage.budgetMs ?? this.#defaultBudgetMs) * 1000;
      this.#record(stage, micros, result instanceof SyncPilotError, overBudget);
      if (overBudget && stage.kind === 'optimizing' && !(result instanceof SyncPilotError)) {
        // Fail open: an optimisation that came too late is not applied.
        continue;
      }
      const next = this.#settle(stage, current, collected, result);
      if (next.done) return next.outcome;
      current = next.message;
      collected = next.replies;
    }
    return { type: 'continue', message: current, replies: collected };
  }

  async #runAsync(stage: Stage<E>, message: E): Promise<StageResult<E> | SyncPilotError> {
    const budgetMs = stage.budgetMs ?? this.#defaultBudgetMs;
    const controller = new AbortController();
    const ctx: StageContext = { ...this.#syncCtx, signal: controller.signal };
    const t0 = this.#clock.monotonic();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<SyncPilotError>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve(
          new SyncPilotError('SP_ERR_STAGE_TIMEOUT', `stage "${stage.name}" exceeded its ${budgetMs} ms budget`, { retryable: true }),
        );
      }, budgetMs);
    });
    let result: StageResult<E> | SyncPilotError;
    try {
      const work = Promise.resolve()
        .then(() => stage.process(message, ctx))
        .catch((err: unknown) => toSyncPilotError(err, 'SP_ERR_STAGE_FAILED'));
      result = await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
    const micros = (this.#clock.monotonic() - t0) * 1000;
    const timedOut = result instanceof SyncPilotError && result.code === 'SP_ERR_STAGE_TIMEOUT';
    this.#record(stage, micros, result instanceof SyncPilotError && !timedOut, timedOut);
    return result;
  }

  #record(stage: Stage<E>, micros: number, error: boolean, overBudget: boolean): void {
    const s = this.#stats.get(stage.name);
    if (s === undefined) return;
    s.calls++;
    s.totalMicros += micros;
    if (micros > s.maxMicros) s.maxMicros = micros;
    if (error) s.errors++;
    if (overBudget) s.overBudget++;
  }

  #settle(
    stage: Stage<E>,
    message: E,
    replies: readonly Reply[],
    result: StageResult<E> | SyncPilotError,
  ): { done: true; outcome: PipelineOutcome<E> } | { done: false; message: E; replies: readonly Reply[] } {
    if (result instanceof SyncPilotError) {
      this.#logger.warn('stage failed', {
        stage: stage.name,
        code: result.code,
        error: result.message,
        doc: message.doc,
        peer: message.peer,
      });
      this.#telemetry.emit({
        type: 'syncpilot.stage-error.v1',
        id: newEventId(),
        time: this.#clock.now(),
        tenant: message.principal?.tenant ?? 'default',
        key: message.doc,
        data: { stage: stage.name, kind: stage.kind, code: result.code, phase: message.phase },
      });
      if (stage.kind === 'optimizing') return { done: false, message, replies };
      return { done: true, outcome: this.#hold(stage, message, result.code, result.message) };
    }
    switch (result.type) {
      case 'continue': {
        const next = result.message ?? message;
        const more = result.replies;
        return { done: false, message: next, replies: more === undefined || more.length === 0 ? replies : [...replies, ...more] };
      }
      case 'hold':
        return { done: true, outcome: this.#hold(stage, message, result.code, result.reason) };
      case 'reject':
        return { done: true, outcome: { type: 'reject', stage: stage.name, code: result.code, reason: result.reason } };
      case 'reply':
        return { done: true, outcome: { type: 'reply', stage: stage.name, replies: [...replies, ...result.replies] } };
    }
  }

  #hold(stage: Stage<E>, message: E, code: ErrorCode, reason: string): PipelineOutcome<E> {
    if (this.#holds === undefined) {
      return { type: 'reject', stage: stage.name, code, reason: `${reason} (no hold store configured; the sender keeps the message)` };
    }
    const holdId = newEventId();
    // If the durable write fails, this throws: the caller must not acknowledge, so the sender keeps the data.
    this.#holds.put({ id: holdId, stage: stage.name, code, reason, envelope: message, heldAt: this.#clock.now() });
    return { type: 'hold', stage: stage.name, code, reason, holdId };
  }
}

import type { SyncPilotEvent } from '../events/schemas.ts';

/** One event as a source delivers it, with where it came from. */
export interface SourcedEvent {
  readonly event: SyncPilotEvent;
  /**
   * Where the event was read, opaque to consumers and meant for logs: `topic/partition/offset`
   * (Kafka; `topic/partition/offset#index` for an event inside an event-batch message) or
   * `segment:offset` (the embedded log).
   */
  readonly position: string;
}

/** Options of {@link TelemetrySource.run}. */
export interface TelemetrySourceRunOptions {
  /** Ends the run (after the batch being handled, which is committed only if its handler resolved). */
  readonly signal: AbortSignal;
  /** Event families to read (`access`, `conflict`, …); default every family. */
  readonly families?: readonly string[];
}

/** Counters of a {@link TelemetrySource} since it was made (over all its runs). */
export interface TelemetrySourceStats {
  /** Records read, valid or not, re-deliveries included. */
  readonly received: number;
  /** Records that failed `parseEvent` (or were not events at all): skipped, never handed on. */
  readonly invalid: number;
  /** Events dropped because their id was already handled (only a source wrapped by `dedupe()` counts these). */
  readonly duplicates: number;
  /** Events handed to the handler whose batch was then committed. */
  readonly committed: number;
}

/**
 * Telemetry events read back from where a sink wrote them (Kafka topics or the embedded log),
 * for pipelines and `syncpilot telemetry tail`.
 *
 * Delivery is at-least-once: a batch's position is committed only after its handler resolved, so
 * after a crash or a stop the uncommitted batch is delivered again (dedupe by `event.id`, see
 * `dedupe()`). A handler that throws gets the same batch again after a back-off (100 ms doubling
 * to 5 s) until it resolves or the run is stopped. Records that fail `parseEvent` are counted in
 * `invalid` and logged once per type with `SP_ERR_EVENT_INVALID`; they never stop the source.
 * Every implementation runs `runTelemetrySourceConformance` (src/testing/).
 */
export interface TelemetrySource {
  /**
   * Calls `handle` for each batch of events (at-least-once); the batch's position is committed
   * only after `handle` resolved. Resolves when `signal` aborts (after the batch in progress) or
   * the source is closed. One run at a time per source.
   * @throws SyncPilotError `SP_ERR_CLOSED` after `close()`; `SP_ERR_CONFIG_INVALID` for unknown
   * families or a second concurrent run; `SP_ERR_TELEMETRY` when the backing store fails for good
   */
  run(handle: (batch: readonly SourcedEvent[]) => Promise<void>, options: TelemetrySourceRunOptions): Promise<void>;
  stats(): TelemetrySourceStats;
  /** Stops a run in progress (as an abort would), waits for it, and releases connections. Idempotent. */
  close(): Promise<void>;
}

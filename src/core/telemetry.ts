/**
 * Telemetry as the core sees it: an interface. Sinks (embedded log, Kafka) live in
 * `src/telemetry/`; the core never imports them.
 */
export interface TelemetryEvent {
  /** `syncpilot.<family>.v<N>`, e.g. `syncpilot.sync-latency.v1`. */
  readonly type: string;
  /** Unique id, for downstream de-duplication. */
  readonly id: string;
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** The tenant the event belongs to (`default` for single-tenant deployments). */
  readonly tenant: string;
  /** Partitioning key (document or peer id). */
  readonly key: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface TelemetryStats {
  readonly emitted: number;
  readonly written: number;
  readonly dropped: number;
}

/**
 * Where telemetry events go. `emit` never blocks and never throws: a sink that cannot keep up
 * counts what it drops in `stats` instead of slowing the sync path.
 */
export interface TelemetrySink {
  emit(event: TelemetryEvent): void;
  /** Resolves once every event emitted before the call is durable in the sink. */
  flush(): Promise<void>;
  close(): Promise<void>;
  stats(): TelemetryStats;
}

let counter = 0;
const prefix = Math.random().toString(36).slice(2, 10);
/** A process-unique, roughly time-ordered event id. */
export function newEventId(): string {
  counter = (counter + 1) >>> 0;
  return `${Date.now().toString(36)}-${prefix}-${counter.toString(36)}`;
}

/** A sink that discards everything (counts only). */
export class NullTelemetrySink implements TelemetrySink {
  #emitted = 0;
  emit(): void {
    this.#emitted++;
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  stats(): TelemetryStats {
    return { emitted: this.#emitted, written: 0, dropped: 0 };
  }
}

import { createHash } from 'node:crypto';
import type { SourcedEvent, TelemetrySource } from '../../src/telemetry/source/telemetry-source.ts';
import type { Watermark } from '../jobs/job-schemas.ts';

/** A trigger that watches telemetry: {@link runTelemetryTriggers} hands it every batch of its families. */
export interface TelemetryTrigger {
  /** Event families it reads (`review-decision`, `compression`, …). */
  readonly families: readonly string[];
  /**
   * Looks at a batch and enqueues a train request when it should. Must not throw for a failed
   * enqueue (keep the state and try again on the next batch): a throw makes the source deliver
   * the batch again, to every trigger.
   */
  observe(batch: readonly SourcedEvent[]): Promise<void>;
}

/**
 * Runs `triggers` over one telemetry source until `signal` aborts: each batch goes to every
 * trigger in turn, and the source commits its position once all of them are done with it
 * (at-least-once: after a crash the last batch may be seen twice).
 */
export async function runTelemetryTriggers(
  source: TelemetrySource,
  triggers: readonly TelemetryTrigger[],
  signal: AbortSignal,
): Promise<void> {
  const families = [...new Set(triggers.flatMap((t) => t.families))];
  await source.run(
    async (batch) => {
      for (const t of triggers) {
        const mine = batch.filter((e) => t.families.some((f) => e.event.type.startsWith(`syncpilot.${f}.v`)));
        if (mine.length > 0) await t.observe(mine);
      }
    },
    { signal, families },
  );
}

/** A running count of events with a digest chained over their ids: the data identity a trigger hands on. */
export class WatermarkCounter {
  #count = 0;
  #through = '';
  #digest = '0'.repeat(64);

  constructor(initial?: Watermark) {
    if (initial !== undefined) {
      this.#count = initial.count;
      this.#through = initial.through;
      this.#digest = initial.digest;
    }
  }

  add(eventId: string): void {
    this.#count++;
    this.#through = eventId;
    this.#digest = createHash('sha256').update(`${this.#digest}\n${eventId}`).digest('hex');
  }

  /** Undefined before the first event. */
  get value(): Watermark | undefined {
    return this.#count === 0 ? undefined : { count: this.#count, through: this.#through, digest: this.#digest };
  }
}

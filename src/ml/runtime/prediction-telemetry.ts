import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { newEventId, type TelemetrySink } from '../../core/telemetry.ts';
import type { ModelCard } from '../model-card.ts';
import type { Policy } from '../policy.ts';

/** The model reference telemetry events carry: `{ id: "<policy>/<name>", version: "<n>" }`. */
export function telemetryModelRef(card: Pick<ModelCard, 'policy' | 'name' | 'version'>): { id: string; version: string } {
  return { id: `${card.policy}/${card.name}`, version: String(card.version) };
}

/** One model's outputs for a packed batch, to be recorded as `prediction.v1` events. */
export interface RecordedRun {
  readonly card: ModelCard;
  readonly output: Float32Array;
  readonly latencyMicros: number;
  readonly shadow: boolean;
}

/**
 * Emits one `syncpilot.prediction.v1` per row and model. Rows are identified by a digest of their
 * input bytes so a challenger's prediction can be joined with the champion's for the same input.
 * Rows with a non-finite output are skipped (the event schema only admits finite numbers).
 */
export function emitPredictionEvents(args: {
  readonly sink: TelemetrySink;
  readonly clock: Clock;
  readonly tenant: string;
  readonly policy: Policy;
  readonly batch: Float32Array;
  readonly rows: number;
  readonly inputs: number;
  readonly runs: readonly RecordedRun[];
}): number {
  const { sink, clock, tenant, policy, batch, rows, inputs, runs } = args;
  const time = Math.floor(clock.now());
  let emitted = 0;
  for (let r = 0; r < rows; r++) {
    const row = batch.subarray(r * inputs, (r + 1) * inputs);
    const inputsDigest = createHash('sha256')
      .update(new Uint8Array(row.buffer, row.byteOffset, row.byteLength))
      .digest('hex')
      .slice(0, 32);
    for (const run of runs) {
      const width = run.card.io.outputs;
      const values = run.output.subarray(r * width, (r + 1) * width);
      if (!values.every(Number.isFinite) || width > 1024) continue;
      const model = telemetryModelRef(run.card);
      sink.emit({
        type: 'syncpilot.prediction.v1',
        id: newEventId(),
        time,
        tenant,
        key: model.id,
        data: {
          policy,
          model,
          inputsDigest,
          output: width === 1 ? values[0]! : Array.from(values),
          latencyMicros: run.latencyMicros,
          shadow: run.shadow,
        },
      });
      emitted++;
    }
  }
  return emitted;
}

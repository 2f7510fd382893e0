import { newEventId, type TelemetryEvent } from '../../src/core/telemetry.ts';

/** Events per hot-path block, and per producer chunk, shared by the telemetry benches. */
export const HOT_EVENTS = 100_000;
export const BLOCK = 1_000;
export const CHUNK = 1_000;

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
};

export const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A typical event: a sync-latency measurement (~250 bytes of JSON), valid against its schema. */
export function makeEvent(i: number): TelemetryEvent {
  return {
    type: 'syncpilot.sync-latency.v1',
    id: newEventId(),
    time: Date.now(),
    tenant: 'default',
    key: `doc-${i % 512}`,
    data: {
      doc: `doc-${i % 512}`,
      peer: `peer-${i % 64}`,
      changes: 1,
      applied: 1,
      bytes: 512 + (i % 4096),
      applyMicros: (i % 250) / 10,
      queuedMicros: 1,
    },
  };
}

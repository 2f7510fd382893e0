import type { EventType } from '../../src/telemetry/events/index.ts';

/** One valid `data` per event type; the schema test fails if a type has none. */
export const VALID_DATA: Record<EventType, Record<string, unknown>> = {
  'syncpilot.access.v1': { doc: 'doc-1', peer: 'p1', actor: 'a1', subject: 'u1', action: 'open' },
  'syncpilot.conflict.v1': { caseId: 'c1', doc: 'doc-1', obj: 'root', field: 'title', status: 'created', siblings: 2 },
  'syncpilot.review-decision.v1': { caseId: 'c1', doc: 'doc-1', reviewer: 'u2', decision: 'accept', suggestion: 'theirs', latencyMs: 5200 },
  'syncpilot.compression.v1': {
    peer: 'p1',
    decision: 'compress',
    codec: 'brotli',
    level: 4,
    rawBytes: 2048,
    encodedBytes: 700,
    encodeMicros: 35.5,
  },
  'syncpilot.anomaly.v1': { peer: 'p1', score: 0.97, threshold: 0.9, action: 'throttle', model: { id: 'anomaly-gbm', version: '3' } },
  'syncpilot.sync-latency.v1': { doc: 'doc-1', peer: 'p1', changes: 1, applied: 1, bytes: 40, applyMicros: 12.5, queuedMicros: 0.4 },
  'syncpilot.prediction.v1': {
    policy: 'prefetch',
    model: { id: 'prefetch-markov', version: '1' },
    inputsDigest: '0123456789abcdef',
    output: [0.1, 0.9],
    latencyMicros: 3,
    shadow: true,
  },
  'syncpilot.model-lifecycle.v1': {
    policy: 'compression',
    model: { id: 'size-reg', version: '2' },
    event: 'promoted',
    metrics: { mae: 0.12 },
  },
  'syncpilot.stage-error.v1': { stage: 'anomaly', kind: 'protecting', code: 'SP_ERR_STAGE_TIMEOUT', phase: 'inbound' },
};

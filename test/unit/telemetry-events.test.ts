import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { newEventId } from '../../src/core/telemetry.ts';
import { EVENT_SCHEMAS, familyOf, parseEvent, type EventType } from '../../src/telemetry/events/index.ts';

const base = (type: EventType, data: Record<string, unknown>): Record<string, unknown> => ({
  type,
  id: newEventId(),
  time: 1_764_000_000_000,
  tenant: 'acme',
  key: 'doc-1',
  data,
});

/** One valid example per event type; the test below fails if a type has none. */
const VALID: Record<EventType, Record<string, unknown>> = {
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

describe('telemetry event schemas', () => {
  test('every event type has a valid example that parses', () => {
    for (const type of Object.keys(EVENT_SCHEMAS) as EventType[]) {
      const e = base(type, VALID[type]);
      assert.deepEqual(parseEvent(e), e, type);
      assert.equal(familyOf(type), type.split('.')[1]);
    }
  });

  const invalid: [string, Record<string, unknown>][] = [
    ['unknown type', { ...base('syncpilot.access.v1', VALID['syncpilot.access.v1']), type: 'syncpilot.nope.v1' }],
    ['missing tenant', (({ tenant: _t, ...rest }) => rest)(base('syncpilot.access.v1', VALID['syncpilot.access.v1']))],
    ['extra field', { ...base('syncpilot.access.v1', VALID['syncpilot.access.v1']), extra: 1 }],
    ['bad enum', base('syncpilot.access.v1', { ...VALID['syncpilot.access.v1'], action: 'delete' })],
    ['negative bytes', base('syncpilot.sync-latency.v1', { ...VALID['syncpilot.sync-latency.v1'], bytes: -1 })],
    ['NaN score', base('syncpilot.anomaly.v1', { ...VALID['syncpilot.anomaly.v1'], score: Number.NaN })],
    ['one sibling is no conflict', base('syncpilot.conflict.v1', { ...VALID['syncpilot.conflict.v1'], siblings: 1 })],
    ['digest not hex', base('syncpilot.prediction.v1', { ...VALID['syncpilot.prediction.v1'], inputsDigest: 'XYZ' })],
    ['time as string', { ...base('syncpilot.access.v1', VALID['syncpilot.access.v1']), time: '2026-01-01' }],
    ['extra data field', base('syncpilot.review-decision.v1', { ...VALID['syncpilot.review-decision.v1'], secret: 'x' })],
  ];
  for (const [name, e] of invalid) {
    test(`rejects ${name} with SP_ERR_EVENT_INVALID`, () => {
      assert.throws(
        () => parseEvent(e),
        (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_EVENT_INVALID',
      );
    });
  }

  test('non-objects are rejected with the code, not a crash', () => {
    for (const v of [null, undefined, 42, 'x', [], { type: 7 }]) {
      assert.throws(
        () => parseEvent(v),
        (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_EVENT_INVALID',
      );
    }
  });
});

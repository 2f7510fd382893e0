import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../../src/core/errors.ts';
import { newEventId } from '../../src/core/telemetry.ts';
import { EVENT_SCHEMAS, familyOf, parseEvent, type EventType } from '../../src/telemetry/events/index.ts';
import { VALID_DATA } from '../helpers/event-examples.ts';

const base = (type: EventType, data: Record<string, unknown>): Record<string, unknown> => ({
  type,
  id: newEventId(),
  time: 1_764_000_000_000,
  tenant: 'acme',
  key: 'doc-1',
  data,
});

const VALID = VALID_DATA;

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

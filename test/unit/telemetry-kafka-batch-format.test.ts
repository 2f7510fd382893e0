// The event-batch wire format (encode / decode) and the packer that turns a produce request's
// records into one event-batch message per partition: order per partition and key, the byte bound,
// headers, and that single-event messages (the older format) still decode.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { IHeaders, Message, TopicMessages } from 'kafkajs';
import {
  decodeTelemetryMessage,
  encodeEventBatch,
  EVENT_BATCH_V1,
  TELEMETRY_FORMAT_HEADER,
} from '../../src/telemetry/kafka/event-batch-format.ts';
import type { DecodedEntry } from '../../src/telemetry/kafka/event-batch-format.ts';
import { packEventBatches, singleEventMessages, unacknowledged } from '../../src/telemetry/kafka/message-packer.ts';
import type { OutboundRecord } from '../../src/telemetry/kafka/transport.ts';

const BATCH: IHeaders = { [TELEMETRY_FORMAT_HEADER]: Buffer.from(EVENT_BATCH_V1) };

function record(topic: string, key: string, n: number, extra: Partial<OutboundRecord> = {}): OutboundRecord {
  const value = JSON.stringify({ type: 'syncpilot.sync-latency.v1', id: `${key}-${n}`, key, n, pad: 'x'.repeat(n % 7) });
  return { topic, key, value, type: 'syncpilot.sync-latency.v1', tenant: 'acme', time: 1_764_000_000_000 + n, ...extra };
}

const asBuffer = (v: Message['value']): Buffer => (typeof v === 'string' ? Buffer.from(v) : (v ?? Buffer.alloc(0)));
const values = (entries: readonly DecodedEntry[]): unknown[] => entries.map((e) => (e.ok ? e.value : { failed: e.label }));

/** Every message of every request, decoded, with its partition: in sending order. */
function unpack(requests: readonly TopicMessages[][]): { topic: string; partition: number; message: Message; events: unknown[] }[] {
  const out = [];
  for (const request of requests) {
    for (const { topic, messages } of request) {
      for (const message of messages) {
        const decoded = decodeTelemetryMessage(asBuffer(message.value), message.headers);
        assert.equal(decoded.format, EVENT_BATCH_V1);
        out.push({ topic, partition: message.partition ?? -1, message, events: values(decoded.entries) });
      }
    }
  }
  return out;
}

describe('event-batch format', () => {
  test('a batch of strings or buffers decodes to the same events, in order', () => {
    const events = [
      { id: 'a', s: 'é ✓ 𝄞' },
      { id: 'b', n: 1 },
      { id: 'c', nested: { x: [1, 2] } },
    ];
    const json = events.map((e) => JSON.stringify(e));
    for (const input of [json, json.map((j) => Buffer.from(j)), [json[0] ?? '', Buffer.from(json[1] ?? ''), json[2] ?? '']]) {
      const value = encodeEventBatch(input);
      assert.equal(
        typeof value === 'string',
        input.every((v) => typeof v === 'string'),
      );
      const decoded = decodeTelemetryMessage(asBuffer(value), BATCH);
      assert.equal(decoded.format, EVENT_BATCH_V1);
      assert.deepEqual(values(decoded.entries), events);
    }
  });

  test('a line feed inside a value (JSON whitespace) cannot split an event', () => {
    const pretty = JSON.stringify({ id: 'p', text: 'line\nbreak' }, null, 2);
    assert.ok(pretty.includes('\n'));
    for (const v of [pretty, Buffer.from(pretty)]) {
      const decoded = decodeTelemetryMessage(asBuffer(encodeEventBatch([v, '{"id":"q"}'])), BATCH);
      assert.deepEqual(values(decoded.entries), [{ id: 'p', text: 'line\nbreak' }, { id: 'q' }]);
    }
  });

  test('a bad line costs only its own event; every failure is reported on its own', () => {
    const value = Buffer.from(['{"id":"a"}', 'not json', '{"id":"b"}', '', '{"id":'].join('\n'));
    const { entries } = decodeTelemetryMessage(value, BATCH);
    assert.deepEqual(values(entries), [
      { id: 'a' },
      { failed: '(not JSON)' },
      { id: 'b' },
      { failed: '(not JSON)' },
      { failed: '(not JSON)' },
    ]);
  });

  test('single-event messages (no format header) still decode; tombstones, empty batches and unknown formats fail with a reason', () => {
    assert.deepEqual(decodeTelemetryMessage(Buffer.from('{"id":"s"}'), { type: Buffer.from('t') }), {
      format: 'single',
      entries: [{ ok: true, value: { id: 's' } }],
    });
    assert.deepEqual(decodeTelemetryMessage(Buffer.from('{"id":"s"}'), undefined).entries, [{ ok: true, value: { id: 's' } }]);
    const label = (value: Buffer | null, headers: IHeaders | undefined): string[] =>
      decodeTelemetryMessage(value, headers).entries.map((e) => (e.ok ? 'ok' : e.label));
    assert.deepEqual(label(null, undefined), ['(no value)']);
    assert.deepEqual(label(Buffer.alloc(0), BATCH), ['(empty batch)']);
    assert.deepEqual(label(null, BATCH), ['(empty batch)']);
    assert.deepEqual(label(Buffer.from('{"id":"a"}\n{"id":"b"}'), { [TELEMETRY_FORMAT_HEADER]: 'batch.v9' }), ['(unknown format)']);
    // Header values arrive as Buffers, strings or arrays of them.
    assert.deepEqual(label(Buffer.from('{}\n{}'), { [TELEMETRY_FORMAT_HEADER]: [EVENT_BATCH_V1] }), ['ok', 'ok']);
  });
});

describe('packEventBatches', () => {
  const byKey = (_topic: string, key: string): number => Number(key.slice(1)) % 3;

  test('one message per topic-partition, events in record order, headers and the newest timestamp', () => {
    const records = [
      record('t1', 'k0', 1),
      record('t1', 'k1', 2),
      record('t2', 'k0', 3),
      record('t1', 'k3', 4, { tenant: 'globex' }),
      record('t1', 'k1', 5),
      record('t1', 'k0', 6, { time: 5 }),
    ];
    const requests = packEventBatches(records, byKey, 1 << 20);
    assert.equal(requests.length, 1);
    const got = unpack(requests);
    const ids = (topic: string, partition: number): unknown =>
      got.find((m) => m.topic === topic && m.partition === partition)?.events.map((e) => (e as { id: string }).id);
    assert.deepEqual(ids('t1', 0), ['k0-1', 'k3-4', 'k0-6']);
    assert.deepEqual(ids('t1', 1), ['k1-2', 'k1-5']);
    assert.deepEqual(ids('t2', 0), ['k0-3']);
    assert.equal(got.length, 3);
    const t1p0 = got.find((m) => m.topic === 't1' && m.partition === 0)?.message;
    assert.equal(t1p0?.key, null);
    assert.equal(t1p0?.timestamp, String(1_764_000_000_000 + 4), 'the newest event time');
    assert.deepEqual(t1p0?.headers, { [TELEMETRY_FORMAT_HEADER]: EVENT_BATCH_V1, type: 'syncpilot.sync-latency.v1' }, 'tenants differ');
    const t1p1 = got.find((m) => m.topic === 't1' && m.partition === 1)?.message;
    assert.deepEqual(t1p1?.headers, { [TELEMETRY_FORMAT_HEADER]: EVENT_BATCH_V1, type: 'syncpilot.sync-latency.v1', tenant: 'acme' });
  });

  test('what exceeds maxMessageBytes goes into the next request; an oversized event travels alone', () => {
    const records = [record('t', 'k0', 0), record('t', 'k0', 1), record('t', 'k0', 2), record('t', 'k1', 3)];
    const size = (i: number): number => Buffer.byteLength(records[i]?.value ?? '');
    // Exactly the first two events and their separator fit.
    const requests = packEventBatches(records, byKey, size(0) + 1 + size(1));
    assert.equal(requests.length, 2);
    assert.deepEqual(
      unpack(requests).map((m) => [m.partition, m.events.map((e) => (e as { id: string }).id)]),
      [
        [0, ['k0-0', 'k0-1']],
        [1, ['k1-3']],
        [0, ['k0-2']],
      ],
    );
    const big = record('t', 'k0', 9, { value: JSON.stringify({ id: 'big', pad: 'y'.repeat(5000) }) });
    const alone = unpack(packEventBatches([record('t', 'k0', 0), big, record('t', 'k0', 1)], byKey, 1024));
    assert.deepEqual(
      alone.map((m) => m.events.length),
      [1, 1, 1],
    );
    assert.deepEqual(packEventBatches([], byKey, 1024), []);
  });

  test('property: every record arrives once, each key in order on its partition, no message over the bound unless alone', () => {
    const arb = fc.array(
      fc.record({ topic: fc.constantFrom('a', 'b'), key: fc.integer({ min: 0, max: 9 }), pad: fc.nat({ max: 300 }), utf8: fc.boolean() }),
      { maxLength: 200 },
    );
    fc.assert(
      fc.property(arb, fc.integer({ min: 64, max: 4096 }), (specs, max) => {
        const records = specs.map((s, n) =>
          record(s.topic, `k${s.key}`, n, {
            value: JSON.stringify({ id: `r${n}`, key: `k${s.key}`, pad: (s.utf8 ? 'é' : 'x').repeat(s.pad) }),
          }),
        );
        const seen = new Map<string, string[]>();
        for (const m of unpack(packEventBatches(records, byKey, max))) {
          const bytes = asBuffer(m.message.value).length;
          assert.ok(bytes <= max || m.events.length === 1, `${bytes} bytes in ${m.events.length} events over ${max}`);
          for (const e of m.events) {
            const { id, key } = e as { id: string; key: string };
            assert.equal(m.partition, byKey(m.topic, key));
            const list = seen.get(`${m.topic}/${key}`) ?? [];
            list.push(id);
            seen.set(`${m.topic}/${key}`, list);
          }
        }
        const expected = new Map<string, string[]>();
        records.forEach((r, n) => expected.set(`${r.topic}/${r.key}`, [...(expected.get(`${r.topic}/${r.key}`) ?? []), `r${n}`]));
        assert.deepEqual(seen, expected);
      }),
      { numRuns: 200 },
    );
  });

  test('singleEventMessages: a keyed message per record, as before the batch format', () => {
    const [t] = singleEventMessages([record('t', 'k0', 1), record('t', 'k1', 2, { time: Number.NaN })]);
    assert.deepEqual(
      t?.messages.map((m) => [m.key, m.timestamp, m.headers]),
      [
        ['k0', String(1_764_000_000_001), { type: 'syncpilot.sync-latency.v1', tenant: 'acme' }],
        ['k1', undefined, { type: 'syncpilot.sync-latency.v1', tenant: 'acme' }],
      ],
    );
  });

  test('unacknowledged: a partition kafkajs left out of its answer (or answered with an error) is reported', () => {
    const requests = packEventBatches([record('t', 'k0', 0), record('t', 'k1', 1), record('u', 'k2', 2)], byKey, 1 << 20);
    const [sent] = requests;
    assert.ok(sent !== undefined);
    const ack = (topicName: string, partition: number, errorCode = 0) => ({ topicName, partition, errorCode });
    assert.deepEqual(unacknowledged(sent, [ack('t', 0), ack('t', 1), ack('u', 2)]), []);
    assert.deepEqual(unacknowledged(sent, [ack('t', 0), ack('u', 2)]), ['t/1']);
    assert.deepEqual(unacknowledged(sent, [ack('t', 0), ack('t', 1, 6), ack('u', 2)]), ['t/1']);
    assert.deepEqual(unacknowledged(sent, []), ['t/0', 't/1', 'u/2']);
  });
});

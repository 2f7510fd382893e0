import type { IHeaders, Message, RecordMetadata, TopicMessages } from 'kafkajs';
import { encodeEventBatch, EVENT_BATCH_V1, TELEMETRY_FORMAT_HEADER } from './event-batch-format.ts';
import type { OutboundRecord } from './transport.ts';

/** Events on their way into one event-batch message. */
interface Chunk {
  readonly values: (string | Buffer)[];
  bytes: number;
  /** The newest valid event time, or -1. */
  time: number;
  /** The events' common type or tenant; null once they differ. */
  type: string | null;
  tenant: string | null;
}

/**
 * Packs records into event-batch messages (`syncpilot-format: batch.v1`, see
 * `event-batch-format.ts`): one message per topic-partition and request, holding that partition's
 * records in order, up to `maxMessageBytes` of JSON; what does not fit goes into the same
 * partition's message of the next request. Messages carry an explicit partition (the key's, by
 * `partitionFor`) and no key; headers `type` and `tenant` when all their events share them; the
 * timestamp is the newest event time.
 *
 * The requests must be sent one after the other, each after the previous one was acknowledged:
 * then every key's events reach its partition in record order.
 * @param partitionFor the partition of a key in a topic, as the producer's partitioner would choose it
 * @returns the produce requests, in sending order; none for no records
 */
export function packEventBatches(
  records: readonly OutboundRecord[],
  partitionFor: (topic: string, key: string) => number,
  maxMessageBytes: number,
): TopicMessages[][] {
  const byTopic = new Map<string, Map<number, Chunk[]>>();
  let rounds = 0;
  for (const r of records) {
    let byPartition = byTopic.get(r.topic);
    if (byPartition === undefined) {
      byPartition = new Map();
      byTopic.set(r.topic, byPartition);
    }
    const partition = partitionFor(r.topic, r.key);
    let chunks = byPartition.get(partition);
    if (chunks === undefined) {
      chunks = [];
      byPartition.set(partition, chunks);
    }
    const size = typeof r.value === 'string' ? Buffer.byteLength(r.value, 'utf8') : r.value.length;
    let chunk = chunks[chunks.length - 1];
    // A single event larger than the bound still travels, alone (the broker has the last word).
    if (chunk === undefined || chunk.bytes + 1 + size > maxMessageBytes) {
      chunk = { values: [r.value], bytes: size, time: validTime(r.time), type: r.type, tenant: r.tenant };
      chunks.push(chunk);
      rounds = Math.max(rounds, chunks.length);
      continue;
    }
    chunk.values.push(r.value);
    chunk.bytes += 1 + size;
    chunk.time = Math.max(chunk.time, validTime(r.time));
    if (chunk.type !== r.type) chunk.type = null;
    if (chunk.tenant !== r.tenant) chunk.tenant = null;
  }
  const out: TopicMessages[][] = [];
  for (let round = 0; round < rounds; round++) {
    const request: TopicMessages[] = [];
    for (const [topic, byPartition] of byTopic) {
      const messages: Message[] = [];
      for (const [partition, chunks] of byPartition) {
        const chunk = chunks[round];
        if (chunk !== undefined) messages.push(batchMessage(partition, chunk));
      }
      if (messages.length > 0) request.push({ topic, messages });
    }
    out.push(request);
  }
  return out;
}

/** One message per record (the `single` format): key = the event key, value = its JSON, headers `type` and `tenant`. */
export function singleEventMessages(records: readonly OutboundRecord[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>();
  for (const r of records) {
    let list = byTopic.get(r.topic);
    if (list === undefined) {
      list = [];
      byTopic.set(r.topic, list);
    }
    const message: Message = { key: r.key, value: r.value, headers: { type: r.type, tenant: r.tenant } };
    const timestamp = kafkaTimestamp(r.time);
    if (timestamp !== undefined) message.timestamp = timestamp;
    list.push(message);
  }
  return Array.from(byTopic, ([topic, messages]) => ({ topic, messages }));
}

/**
 * The `topic/partition` of every message in `sent` with an explicit partition that `acked` (what
 * kafkajs' `sendBatch` resolved with) holds no successful acknowledgement for; empty when all were.
 */
export function unacknowledged(sent: readonly TopicMessages[], acked: readonly RecordMetadata[]): string[] {
  const ok = new Set<string>();
  for (const a of acked) if (a.errorCode === 0) ok.add(`${a.topicName}/${a.partition}`);
  const missing: string[] = [];
  for (const { topic, messages } of sent) {
    for (const m of messages) {
      const at = `${topic}/${m.partition ?? '?'}`;
      if (m.partition !== undefined && !ok.has(at) && !missing.includes(at)) missing.push(at);
    }
  }
  return missing;
}

function batchMessage(partition: number, chunk: Chunk): Message {
  const headers: IHeaders = { [TELEMETRY_FORMAT_HEADER]: EVENT_BATCH_V1 };
  if (chunk.type !== null) headers['type'] = chunk.type;
  if (chunk.tenant !== null) headers['tenant'] = chunk.tenant;
  const message: Message = { partition, key: null, value: encodeEventBatch(chunk.values), headers };
  const timestamp = kafkaTimestamp(chunk.time);
  if (timestamp !== undefined) message.timestamp = timestamp;
  return message;
}

function validTime(time: number): number {
  return Number.isSafeInteger(time) && time >= 0 ? time : -1;
}

function kafkaTimestamp(time: number): string | undefined {
  return Number.isSafeInteger(time) && time >= 0 ? String(time) : undefined;
}

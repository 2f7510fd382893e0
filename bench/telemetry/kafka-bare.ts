/**
 * The bare-kafkajs baseline of `kafka.ts`: the same events sent by kafkajs alone, without the sink.
 */
import type { Message } from 'kafkajs';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import type { loadKafkaJs } from '../../src/telemetry/kafka/index.ts';

type KafkaJs = Awaited<ReturnType<typeof loadKafkaJs>>;

/** What {@link bareKafkajs} sends, and with what. */
export interface BareKafkajsOptions {
  readonly k: KafkaJs;
  readonly kafka: InstanceType<KafkaJs['Kafka']>;
  /** Created here, with 3 partitions. */
  readonly topic: string;
  readonly events: number;
  readonly compression: 'gzip' | 'none';
  readonly packed: boolean;
  readonly makeEvent: (i: number) => TelemetryEvent;
}

const CHUNK = 1_000;

const cpuSeconds = (since: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1e6;
};

/**
 * kafkajs alone: the same events as JSON, `sendBatch` of 1000 events, idempotent, acks=all. One
 * message per event (key = event key), or `packed`: each partition's events (by the same murmur2
 * partitioner, 3 partitions) joined by newlines into one message with an explicit partition.
 */
export async function bareKafkajs(o: BareKafkajsOptions): Promise<{ perSec: number; cpuMicros: number }> {
  const { k, kafka, topic, events, compression, packed, makeEvent } = o;
  const partitions = 3;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: k.Partitioners.DefaultPartitioner });
  await producer.connect();
  const codec = compression === 'gzip' ? k.CompressionTypes.GZIP : k.CompressionTypes.None;
  const partitioner = k.Partitioners.DefaultPartitioner();
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  const partitionOfKey = new Map<string, number>();
  const partitionOf = (key: string): number => {
    let p = partitionOfKey.get(key);
    if (p === undefined) {
      p = partitioner({ topic, partitionMetadata, message: { key, value: null } });
      partitionOfKey.set(key, p);
    }
    return p;
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < events; i += CHUNK) {
    const messages: Message[] = [];
    if (packed) {
      const lines: string[][] = Array.from({ length: partitions }, () => []);
      for (let j = i; j < i + CHUNK && j < events; j++) {
        const e = makeEvent(j);
        lines[partitionOf(e.key)]?.push(JSON.stringify(e));
      }
      lines.forEach((l, partition) => {
        if (l.length > 0) messages.push({ partition, key: null, value: l.join('\n'), headers: { 'syncpilot-format': 'batch.v1' } });
      });
    } else {
      for (let j = i; j < i + CHUNK && j < events; j++) {
        const e = makeEvent(j);
        messages.push({ key: e.key, value: JSON.stringify(e), headers: { type: e.type, tenant: e.tenant }, timestamp: String(e.time) });
      }
    }
    await producer.sendBatch({ acks: -1, compression: codec, topicMessages: [{ topic, messages }] });
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(cpu0);
  await producer.disconnect();
  return { perSec: events / secs, cpuMicros: (cpu * 1e6) / events };
}

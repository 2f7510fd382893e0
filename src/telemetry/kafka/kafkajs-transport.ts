import type { Admin, CompressionTypes, ICustomPartitioner, Kafka, PartitionMetadata, Producer, TopicMessages } from 'kafkajs';
import type { Logger } from '../../core/logger.ts';
import { loadKafkaJs } from './load-kafkajs.ts';
import type { KafkaJsModule } from './load-kafkajs.ts';
import { packEventBatches, singleEventMessages, unacknowledged } from './message-packer.ts';
import type { KafkaTransport, OutboundRecord } from './transport.ts';
import { createKafkaClient } from './kafkajs-client.ts';

/** Keys whose partition is remembered, per partition count (documents and peers repeat). */
const KEY_CACHE_SIZE = 65_536;

/** Options of {@link KafkaJsTransport.create} (already validated by the sink). */
export interface KafkaJsTransportOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Partitions of a topic this transport creates. */
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly compression: 'gzip' | 'none';
  /** `batch`: event-batch messages per partition (`event-batch-format.ts`); `single`: one message per event. */
  readonly messageFormat: 'batch' | 'single';
  /** Most bytes of event JSON in one event-batch message. */
  readonly maxMessageBytes: number;
  /** Socket request timeout, also the broker's ack timeout for a produce request. */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
}

/**
 * {@link KafkaTransport} over kafkajs: an idempotent producer (acks=all, one request in flight,
 * so per-partition order survives retries), the Java-compatible murmur2 partitioner on the key,
 * and an admin client that creates missing topics. kafkajs retries a little by itself; after it
 * gives up, {@link reset} drops the producer, because kafkajs rolls its sequence numbers back on
 * an ambiguous failure and a later batch could be refused as out of order.
 *
 * In the `batch` format each partition's records of a send travel as one event-batch message
 * (`message-packer.ts`), the partition chosen by that same partitioner over the topic's partition
 * count (from the admin API, then from the producer's own metadata on every send). kafkajs spends
 * about 15-20 µs of CPU per message it encodes, whatever its size: packing is what lets one
 * process deliver more than 100 000 events/s with acks=all.
 */
export class KafkaJsTransport implements KafkaTransport {
  /**
   * Loads kafkajs (lazily) and builds the clients; connects nothing yet.
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` when kafkajs is not installed
   */
  static async create(options: KafkaJsTransportOptions, importer?: () => Promise<unknown>): Promise<KafkaJsTransport> {
    return new KafkaJsTransport(await loadKafkaJs(importer), options);
  }

  readonly #kafka: Kafka;
  readonly #options: KafkaJsTransportOptions;
  readonly #compression: CompressionTypes;
  readonly #partitioner: ICustomPartitioner;
  /** The partitioner that picks a key's partition when packing; never sees a message without a key. */
  readonly #keyPartitioner: ReturnType<ICustomPartitioner>;
  readonly #known = new Set<string>();
  /** Partition counts, from the admin API and refreshed by every send (the producer's own metadata). */
  readonly #partitionCounts = new Map<string, number>();
  readonly #fakeMetadata = new Map<number, PartitionMetadata[]>();
  /** Partition by key, per partition count: kafkajs' murmur2 works on 64-bit Long objects and costs more than a lookup. */
  readonly #keyPartitions = new Map<number, Map<string, number>>();
  #producer: Promise<Producer> | undefined;
  #admin: Promise<Admin> | undefined;

  private constructor(k: KafkaJsModule, options: KafkaJsTransportOptions) {
    this.#options = options;
    this.#kafka = createKafkaClient(k, {
      clientId: options.clientId,
      brokers: options.brokers,
      requestTimeoutMs: options.requestTimeoutMs,
      // Fail over to the spool within about a second of an outage; the sink retries for ever itself.
      retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000 },
      logger: options.logger,
    });
    this.#compression = options.compression === 'gzip' ? k.CompressionTypes.GZIP : k.CompressionTypes.None;
    // Explicit, which also silences kafkajs' warning about the v2 partitioner change.
    const base = k.Partitioners.DefaultPartitioner;
    this.#keyPartitioner = base();
    this.#partitioner = () => {
      const inner = base();
      return (args) => {
        this.#partitionCounts.set(args.topic, args.partitionMetadata.length);
        return inner(args);
      };
    };
  }

  async connect(): Promise<void> {
    await this.#getProducer();
  }

  async send(records: readonly OutboundRecord[]): Promise<void> {
    const topics = new Set<string>();
    for (const r of records) topics.add(r.topic);
    for (const topic of topics) {
      if (!this.#known.has(topic)) await this.#createTopic(topic);
    }
    const producer = await this.#getProducer();
    let requests: TopicMessages[][];
    if (this.#options.messageFormat === 'single') {
      requests = [singleEventMessages(records)];
    } else {
      await this.#learnPartitionCounts([...topics]);
      requests = packEventBatches(records, (topic, key) => this.#partitionOf(topic, key), this.#options.maxMessageBytes);
    }
    // One after the other: a partition's second message must not overtake its first.
    for (const topicMessages of requests) {
      const acked = await producer.sendBatch({
        acks: -1,
        timeout: this.#options.requestTimeoutMs,
        compression: this.#compression,
        topicMessages,
      });
      // kafkajs silently leaves out a message whose explicit partition is missing from its metadata
      // (a broker restarting, partitions being added) and still resolves: that must count as failed.
      const missing = this.#options.messageFormat === 'batch' ? unacknowledged(topicMessages, acked) : [];
      if (missing.length > 0) throw new Error(`Kafka acknowledged nothing for ${missing.join(', ')}; the producer's metadata lacks them?`);
    }
  }

  async reset(): Promise<void> {
    // A topic deleted behind our back would fail every send for ever; check the topics again next time.
    this.#known.clear();
    this.#partitionCounts.clear();
    const producer = this.#producer;
    const admin = this.#admin;
    this.#producer = undefined;
    this.#admin = undefined;
    await Promise.all([disconnect(producer), disconnect(admin)]);
  }

  async close(): Promise<void> {
    await this.reset();
  }

  #getProducer(): Promise<Producer> {
    if (this.#producer === undefined) {
      const producer = this.#kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: this.#partitioner,
        retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000 },
      });
      const p = producer.connect().then(
        () => producer,
        async (err: unknown) => {
          if (this.#producer === p) this.#producer = undefined;
          await producer.disconnect().catch(() => undefined);
          throw err;
        },
      );
      this.#producer = p;
    }
    return this.#producer;
  }

  async prepare(topics: readonly string[]): Promise<void> {
    await this.#createMissing(topics);
    // Saves the first send a metadata round trip; if it fails, that send asks again.
    if (this.#options.messageFormat === 'batch') await this.#learnPartitionCounts(topics).catch(() => undefined);
  }

  async #createMissing(topics: readonly string[]): Promise<void> {
    const admin = await this.#getAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    for (const t of topics) if (existing.has(t)) this.#known.add(t);
    if (missing.length === 0) return;
    try {
      await admin.createTopics({
        topics: missing.map((topic) => ({
          topic,
          numPartitions: this.#options.partitions,
          replicationFactor: this.#options.replicationFactor,
        })),
        waitForLeaders: true,
        timeout: this.#options.requestTimeoutMs,
      });
      for (const t of missing) this.#known.add(t);
    } catch {
      // Another producer created some of them meanwhile: kafkajs fails the whole call; go one by one.
      for (const t of missing) await this.#createTopic(t);
    }
  }

  /** Fetches the partition counts of those of `topics` whose count is not known yet. */
  async #learnPartitionCounts(topics: readonly string[]): Promise<void> {
    const missing = topics.filter((t) => !this.#partitionCounts.has(t));
    if (missing.length === 0) return;
    const admin = await this.#getAdmin();
    const md = await admin.fetchTopicMetadata({ topics: missing });
    for (const t of md.topics) if (t.partitions.length > 0) this.#partitionCounts.set(t.name, t.partitions.length);
    for (const t of missing) {
      if (!this.#partitionCounts.has(t)) throw new Error(`no partition metadata for topic ${t}`);
    }
  }

  /** The partition the producer's partitioner gives `key` in `topic` (whose count is known). */
  #partitionOf(topic: string, key: string): number {
    const count = this.#partitionCounts.get(topic) ?? 1;
    let cache = this.#keyPartitions.get(count);
    if (cache === undefined) {
      cache = new Map();
      this.#keyPartitions.set(count, cache);
    }
    let partition = cache.get(key);
    if (partition !== undefined) return partition;
    let partitionMetadata = this.#fakeMetadata.get(count);
    if (partitionMetadata === undefined) {
      // The partitioner reads only the number of partitions for a keyed message.
      partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      }));
      this.#fakeMetadata.set(count, partitionMetadata);
    }
    partition = this.#keyPartitioner({ topic, partitionMetadata, message: { key, value: null } });
    if (cache.size >= KEY_CACHE_SIZE) cache.clear();
    cache.set(key, partition);
    return partition;
  }

  #getAdmin(): Promise<Admin> {
    if (this.#admin === undefined) {
      const admin = this.#kafka.admin({ retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000 } });
      const p = admin.connect().then(
        () => admin,
        async (err: unknown) => {
          if (this.#admin === p) this.#admin = undefined;
          await admin.disconnect().catch(() => undefined);
          throw err;
        },
      );
      this.#admin = p;
    }
    return this.#admin;
  }

  async #createTopic(topic: string): Promise<void> {
    const admin = await this.#getAdmin();
    // One topic per call: kafkajs reports "already exists" as success only when every topic of a call exists.
    await admin.createTopics({
      topics: [{ topic, numPartitions: this.#options.partitions, replicationFactor: this.#options.replicationFactor }],
      waitForLeaders: true,
      timeout: this.#options.requestTimeoutMs,
    });
    this.#known.add(topic);
  }
}

async function disconnect(client: Promise<Producer | Admin> | undefined): Promise<void> {
  if (client === undefined) return;
  try {
    await (await client).disconnect();
  } catch {
    // A client that never connected, or whose broker is gone: nothing left to release.
  }
}

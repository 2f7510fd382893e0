import type { Admin, CompressionTypes, ICustomPartitioner, Kafka, LogEntry, Message, Producer } from 'kafkajs';
import type { Logger } from '../../core/logger.ts';
import { loadKafkaJs } from './load-kafkajs.ts';
import type { KafkaJsModule } from './load-kafkajs.ts';
import type { KafkaTransport, OutboundRecord } from './transport.ts';

/** Options of {@link KafkaJsTransport.create} (already validated by the sink). */
export interface KafkaJsTransportOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Partitions of a topic this transport creates. */
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly compression: 'gzip' | 'none';
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
  readonly #known = new Set<string>();
  #producer: Promise<Producer> | undefined;
  #admin: Promise<Admin> | undefined;

  private constructor(k: KafkaJsModule, options: KafkaJsTransportOptions) {
    this.#options = options;
    const { logger } = options;
    this.#kafka = new k.Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      connectionTimeout: Math.min(3000, options.requestTimeoutMs),
      requestTimeout: options.requestTimeoutMs,
      // Fail over to the spool within about a second of an outage; the sink retries for ever itself.
      retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000 },
      logLevel: k.logLevel.WARN,
      // kafkajs logs every failed connection attempt; the sink reports outages once, so these are debug.
      logCreator: () => (entry: LogEntry) => {
        const { message, timestamp: _t, ...fields } = entry.log;
        logger.debug(`kafkajs: ${message}`, { namespace: entry.namespace, ...fields });
      },
    });
    this.#compression = options.compression === 'gzip' ? k.CompressionTypes.GZIP : k.CompressionTypes.None;
    // Explicit, which also silences kafkajs' warning about the v2 partitioner change.
    this.#partitioner = k.Partitioners.DefaultPartitioner;
  }

  async connect(): Promise<void> {
    await this.#getProducer();
  }

  async send(records: readonly OutboundRecord[]): Promise<void> {
    const byTopic = new Map<string, Message[]>();
    for (const r of records) {
      let list = byTopic.get(r.topic);
      if (list === undefined) {
        list = [];
        byTopic.set(r.topic, list);
      }
      const message: Message = { key: r.key, value: r.value, headers: { type: r.type, tenant: r.tenant } };
      if (Number.isSafeInteger(r.time) && r.time >= 0) message.timestamp = String(r.time);
      list.push(message);
    }
    for (const topic of byTopic.keys()) {
      if (!this.#known.has(topic)) await this.#createTopic(topic);
    }
    const producer = await this.#getProducer();
    await producer.sendBatch({
      acks: -1,
      timeout: this.#options.requestTimeoutMs,
      compression: this.#compression,
      topicMessages: Array.from(byTopic, ([topic, messages]) => ({ topic, messages })),
    });
  }

  async reset(): Promise<void> {
    // A topic deleted behind our back would fail every send for ever; check the topics again next time.
    this.#known.clear();
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

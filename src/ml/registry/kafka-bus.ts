import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { z } from 'zod';
import { SyncPilotError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { createKafkaClient } from '../../telemetry/kafka/kafkajs-client.ts';
import type { KafkaJsModule } from '../../telemetry/kafka/load-kafkajs.ts';
import { loggerOption } from '../../telemetry/option-schemas.ts';
import { busCall } from './bus-timeout.ts';
import { loadKafkaJsForBus } from './load-bus-client.ts';
import type { PromotionNotice } from './promotion-bus.ts';
import { importerOption, parseBusOptions, PromotionBusBase } from './promotion-bus-base.ts';

/** Options of {@link KafkaPromotionBus}. */
export interface KafkaPromotionBusOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  /** The topic (default `syncpilot.model-promotions`); created with one partition when missing, so notices keep one order. */
  readonly topic?: string;
  /** Kafka client id (default `syncpilot-promotions`). */
  readonly clientId?: string;
  /** Consumer groups are `<groupPrefix>.<random>`: one per bus instance (default `syncpilot-promotions`). */
  readonly groupPrefix?: string;
  /** Replication factor of the topic when this bus creates it (default 1: a single-node broker). */
  readonly replicationFactor?: number;
  /** How long `publish` and `ready` may wait for the broker (default 15 000 ms; joining a group takes seconds). */
  readonly timeoutMs?: number;
  /** Socket request timeout of the Kafka client (default 10 000 ms). */
  readonly requestTimeoutMs?: number;
  /** Where broker trouble, malformed notices and failing handlers are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
  /** How to import kafkajs (tests substitute a failing one). */
  readonly importer?: () => Promise<unknown>;
}

const schema = z.strictObject({
  brokers: z.array(z.string().regex(/^[^\s,]+:\d{1,5}$/, 'host:port')).min(1),
  topic: z
    .string()
    .regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a legal topic name')
    .default('syncpilot.model-promotions'),
  clientId: z.string().min(1).max(256).default('syncpilot-promotions'),
  groupPrefix: z.string().min(1).max(200).default('syncpilot-promotions'),
  replicationFactor: z.number().int().min(1).max(32).default(1),
  timeoutMs: z.number().int().min(10).max(600_000).default(15_000),
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  logger: loggerOption,
  importer: importerOption,
});

/**
 * A {@link ObservablePromotionBus} over a Kafka topic (kafkajs, loaded on first use). Publishing
 * uses an idempotent producer (acks=all), keyed by policy; it fails with a retryable
 * `SP_ERR_TIMEOUT` when the broker does not acknowledge within `timeoutMs`, and with
 * `SP_ERR_CONFIG_INVALID` when kafkajs is not installed. Each bus instance that subscribes has
 * its own consumer group, so every server receives every notice; it starts at the topic's end
 * as of the subscription (a seek to the offsets read then), and commits as it goes, so a
 * consumer that rejoins after an outage resumes rather than skipping. The group is deleted on
 * close; a killed process leaves an idle group that the broker expires with its offsets.
 */
export class KafkaPromotionBus extends PromotionBusBase {
  readonly #o: z.output<typeof schema>;
  readonly #groupId: string;
  #kafka: Promise<{ k: KafkaJsModule; kafka: Kafka }> | undefined;
  #producer: Promise<Producer> | undefined;
  #consumer: Consumer | undefined;
  #topicReady: Promise<void> | undefined;
  #started: Promise<void> | undefined;
  #abortJoin: (() => void) | undefined;
  #joined = false;

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options */
  constructor(options: KafkaPromotionBusOptions) {
    const o = parseBusOptions(schema, options, 'KafkaPromotionBus');
    super('Kafka', `kafka:${o.topic}`, o.logger);
    this.#o = o;
    this.#groupId = `${o.groupPrefix}.${randomBytes(6).toString('hex')}`;
  }

  /** The topic notices travel on. */
  get topic(): string {
    return this.#o.topic;
  }

  /** This instance's consumer group. */
  get groupId(): string {
    return this.#groupId;
  }

  /** Produces a raw value on the topic, bypassing validation: for conformance tests of malformed input. */
  async publishRaw(value: string | null): Promise<void> {
    await this.#produce('raw', value, 'publishing a raw message');
  }

  protected send(notice: PromotionNotice, text: string): Promise<void> {
    return this.#produce(notice.policy, text, 'publishing a promotion notice');
  }

  protected listen(): Promise<void> {
    this.#started = this.#start();
    return busCall(this.#started, this.#o.timeoutMs, 'joining the promotion topic', this.#where());
  }

  protected async shutdown(): Promise<void> {
    this.#abortJoin?.();
    await this.#started?.catch(() => undefined);
    const consumer = this.#consumer;
    this.#consumer = undefined;
    await consumer?.disconnect().catch(() => undefined);
    const producer = this.#producer;
    this.#producer = undefined;
    if (producer !== undefined) await (await producer.catch(() => undefined))?.disconnect().catch(() => undefined);
    if (this.#joined) await this.#withAdmin((admin) => admin.deleteGroups([this.#groupId])).catch(() => undefined);
  }

  async #produce(key: string, value: string | null, what: string): Promise<void> {
    const send = async (): Promise<void> => {
      await this.#ensureTopic();
      this.#producer ??= this.#connectProducer();
      const producer = await this.#producer;
      try {
        await producer.send({ topic: this.#o.topic, acks: -1, messages: [{ key, value, timestamp: String(Date.now()) }] });
      } catch (err) {
        // kafkajs cannot know its sequence numbers after an ambiguous failure: start over with a fresh
        // producer, and check the topic again (it may have been deleted behind our back).
        this.#producer = undefined;
        this.#topicReady = undefined;
        await producer.disconnect().catch(() => undefined);
        throw err;
      }
    };
    await busCall(send(), this.#o.timeoutMs, what, this.#where());
  }

  async #start(): Promise<void> {
    const { kafka } = await this.#client();
    await this.#ensureTopic();
    const ends = await this.#withAdmin((admin) => admin.fetchTopicOffsets(this.#o.topic));
    const consumer = kafka.consumer({
      groupId: this.#groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      // A fetch returns as soon as a message arrives; this only bounds how long a close waits.
      maxWaitTimeInMs: 250,
      allowAutoTopicCreation: false,
    });
    this.#consumer = consumer;
    const joined = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, () => resolve());
      consumer.on(consumer.events.CRASH, (e) => {
        const { error, restart } = e.payload;
        this.logger.warn(restart ? 'promotion consumer crashed; kafkajs restarts it' : 'promotion consumer crashed', {
          groupId: this.#groupId,
          error: error.message,
        });
        if (!restart)
          reject(
            new SyncPilotError('SP_ERR_TIMEOUT', `the promotion consumer failed: ${error.message}`, { retryable: true, cause: error }),
          );
      });
      this.#abortJoin = () => reject(new SyncPilotError('SP_ERR_CLOSED', 'the promotion bus closed before its consumer joined'));
    });
    joined.catch(() => undefined);
    await consumer.connect();
    if (this.closed) return;
    await consumer.subscribe({ topics: [this.#o.topic], fromBeginning: false });
    if (this.closed) return;
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!this.closed) this.dispatcher.deliver(message.value);
      },
    });
    // From where the topic ended when we subscribed: nothing published after that is missed, even before the group is joined.
    for (const { partition, offset } of ends) consumer.seek({ topic: this.#o.topic, partition, offset });
    await joined;
    this.#joined = true;
  }

  #ensureTopic(): Promise<void> {
    this.#topicReady ??= this.#withAdmin(async (admin) => {
      if ((await admin.listTopics()).includes(this.#o.topic)) return;
      // false (not an error) when a rival created it meanwhile.
      await admin.createTopics({
        topics: [{ topic: this.#o.topic, numPartitions: 1, replicationFactor: this.#o.replicationFactor }],
        waitForLeaders: true,
        timeout: this.#o.requestTimeoutMs,
      });
    });
    this.#topicReady.catch(() => (this.#topicReady = undefined));
    return this.#topicReady;
  }

  async #withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
    const { kafka } = await this.#client();
    const admin = kafka.admin({ retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000 } });
    await admin.connect();
    try {
      return await fn(admin);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  async #connectProducer(): Promise<Producer> {
    const { k, kafka } = await this.#client();
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: k.Partitioners.DefaultPartitioner,
      retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    try {
      await producer.connect();
    } catch (err) {
      this.#producer = undefined;
      await producer.disconnect().catch(() => undefined);
      throw err;
    }
    return producer;
  }

  #client(): Promise<{ k: KafkaJsModule; kafka: Kafka }> {
    // The bus reports failures once, with their code; kafkajs' own lines are debug detail.
    this.#kafka ??= loadKafkaJsForBus(this.#o.importer).then((k) => ({
      k,
      kafka: createKafkaClient(k, {
        clientId: this.#o.clientId,
        brokers: this.#o.brokers,
        requestTimeoutMs: this.#o.requestTimeoutMs,
        retry: { retries: 4, initialRetryTime: 100, maxRetryTime: 1000 },
        logger: this.logger,
      }),
    }));
    this.#kafka.catch(() => (this.#kafka = undefined));
    return this.#kafka;
  }

  #where(): string {
    return `Kafka ${this.#o.brokers.join(',')} topic ${this.#o.topic}`;
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka } from 'kafkajs';
import { z } from 'zod';
import { loggerOption } from '../option-schemas.ts';
import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import type { Logger } from '../../core/logger.ts';
import { createKafkaClient } from '../kafka/kafkajs-client.ts';
import { loadKafkaJs } from '../kafka/load-kafkajs.ts';
import { EventChecker } from './event-checker.ts';
import { resolveFamilies, topicMatcher } from './families.ts';
import { KafkaBatchHandler } from './kafka-batch-handler.ts';
import type { KafkaBatchCounters } from './kafka-batch-handler.ts';
import { RunGuard } from './run-guard.ts';
import type { SourcedEvent, TelemetrySource, TelemetrySourceRunOptions, TelemetrySourceStats } from './telemetry-source.ts';

/** Options of {@link KafkaTelemetrySource}. */
export interface KafkaTelemetrySourceOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  /** The consumer group: its committed offsets are where a later source of the same group resumes. */
  readonly groupId: string;
  /** Kafka client id (default `syncpilot-source`). */
  readonly clientId?: string;
  /**
   * Topics are `topicPrefix` + event type, as a `KafkaSink` with `topicFor: (t) => prefix + t`
   * writes them (default `''`: the sink's default naming). Family F reads every topic
   * `<prefix>syncpilot.F.v<N>`.
   */
  readonly topicPrefix?: string;
  /**
   * Where a partition with no committed offset of this group starts: its oldest message (`true`)
   * or the messages produced from now on (default). Topics that appear during a run are always
   * read from their beginning, so no event of a new family or version is missed.
   */
  readonly fromBeginning?: boolean;
  /**
   * Most events per handler call; a larger fetched batch (or event-batch message) is split, each
   * part committed on its own (default 1000).
   */
  readonly maxBatchEvents?: number;
  /** The group session timeout (default 30 000 ms): a consumer silent this long is considered gone. */
  readonly sessionTimeoutMs?: number;
  /** Heartbeats are sent this often, also while a handler runs (default 3000 ms). */
  readonly heartbeatIntervalMs?: number;
  /** Longest a fetch waits for new messages; also bounds how long a stop waits (default 500 ms). */
  readonly maxWaitMs?: number;
  /** How often to look for new topics of the requested families (default 10 000 ms). */
  readonly topicRefreshMs?: number;
  /** Socket request timeout (default 10 000 ms). */
  readonly requestTimeoutMs?: number;
  /** Delete the consumer group when the source closes (for throw-away consumers such as `telemetry tail`). */
  readonly deleteGroupOnClose?: boolean;
  /** Where invalid events, handler failures and consumer crashes are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
}

const schema = z.strictObject({
  brokers: z.array(z.string().regex(/^[^\s,]+:\d{1,5}$/, 'host:port')).min(1),
  groupId: z.string().min(1).max(249),
  clientId: z.string().min(1).max(256).default('syncpilot-source'),
  topicPrefix: z
    .string()
    .regex(/^[a-zA-Z0-9._-]*$/, 'legal topic characters')
    .max(200)
    .default(''),
  fromBeginning: z.boolean().default(false),
  maxBatchEvents: z.number().int().min(1).max(1_000_000).default(1000),
  sessionTimeoutMs: z.number().int().min(6000).max(300_000).default(30_000),
  heartbeatIntervalMs: z.number().int().min(100).max(60_000).default(3000),
  maxWaitMs: z.number().int().min(10).max(60_000).default(500),
  topicRefreshMs: z.number().int().min(100).max(3_600_000).default(10_000),
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  deleteGroupOnClose: z.boolean().default(false),
  logger: loggerOption,
});

type Outcome = { readonly kind: 'stopped' } | { readonly kind: 'topics'; readonly topics: readonly string[] };

/** What one consumer subscribes to: `initial` are the topics that existed when the run started. */
interface Subscription {
  readonly topics: readonly string[];
  readonly initial: ReadonlySet<string>;
  readonly matches: (topic: string) => boolean;
  readonly families: ReadonlySet<string> | undefined;
}

/**
 * A {@link TelemetrySource} over Kafka: a consumer group (kafkajs, loaded on the first run)
 * subscribed to the topics of the requested families, found through the admin API and refreshed
 * every `topicRefreshMs` (a new topic restarts the consumer with it). Batches are fetched per
 * partition; auto-commit is off: after the handler resolved, the offset just past the batch is
 * committed for that partition. The consumer heartbeats while a handler runs, so a slow handler
 * does not lose its partitions (up to the rebalance timeout). Messages are read in both formats
 * `KafkaSink` writes (`../kafka/event-batch-format.ts`): one event's JSON, or an event batch
 * (header `syncpilot-format: batch.v1`) whose events are handed on one by one, in order, with the
 * position `topic/partition/offset#index`. Each record that is not a valid event (a bad line of a
 * batch included) is counted in `invalid`. A handler call may end inside an event batch: that
 * position is committed with the offset's metadata, and the next consumer skips what was handled
 * (`kafka-batch-handler.ts`).
 */
export class KafkaTelemetrySource implements TelemetrySource {
  readonly #o: z.output<typeof schema>;
  readonly #logger: Logger;
  readonly #checker: EventChecker;
  readonly #guard = new RunGuard('KafkaTelemetrySource');
  #kafka: Promise<Kafka> | undefined;
  readonly #counters: KafkaBatchCounters = { received: 0, committed: 0 };
  /** A consumer of this source joined its group at least once (so there is a group to delete). */
  #joined = false;
  #closing: Promise<void> | undefined;

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options */
  constructor(options: KafkaTelemetrySourceOptions) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid KafkaTelemetrySource options: ${z.prettifyError(parsed.error)}`);
    }
    this.#o = parsed.data;
    this.#logger = parsed.data.logger ?? createLogger('warn');
    this.#checker = new EventChecker(this.#logger, `kafka:${parsed.data.groupId}`);
  }

  /**
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` (unknown family, kafkajs not installed, a
   * second concurrent run); `SP_ERR_CLOSED`; `SP_ERR_TELEMETRY` when the consumer fails for good
   */
  async run(handle: (batch: readonly SourcedEvent[]) => Promise<void>, options: TelemetrySourceRunOptions): Promise<void> {
    const families = resolveFamilies(options.families);
    const signal = this.#guard.begin(options.signal);
    let admin: Admin | undefined;
    try {
      const kafka = await this.#client();
      admin = kafka.admin();
      // An unreachable broker costs kafkajs several retries; a stop must not wait for them.
      if (!(await settled(admin.connect(), signal))) return;
      const matches = topicMatcher(this.#o.topicPrefix, families);
      let topics: readonly string[] = await this.#waitForTopics(admin, matches, signal);
      const initial = new Set(topics);
      while (!signal.aborted && topics.length > 0) {
        const outcome = await this.#consume(kafka, admin, { topics, initial, matches, families }, handle, signal);
        if (outcome.kind === 'stopped') break;
        topics = outcome.topics;
        this.#logger.info('telemetry source: new topics, resubscribing', { groupId: this.#o.groupId, topics });
      }
    } catch (err) {
      throw toSyncPilotError(err, 'SP_ERR_TELEMETRY');
    } finally {
      await admin?.disconnect().catch(() => undefined);
      this.#guard.end();
    }
  }

  stats(): TelemetrySourceStats {
    return { received: this.#counters.received, invalid: this.#checker.invalid, duplicates: 0, committed: this.#counters.committed };
  }

  close(): Promise<void> {
    this.#closing ??= this.#doClose();
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    await this.#guard.close();
    if (!this.#o.deleteGroupOnClose || !this.#joined || this.#kafka === undefined) return;
    try {
      const admin = (await this.#kafka).admin();
      await admin.connect();
      try {
        await admin.deleteGroups([this.#o.groupId]);
      } finally {
        await admin.disconnect();
      }
    } catch (err) {
      this.#logger.debug('could not delete the consumer group', { groupId: this.#o.groupId, error: String(err) });
    }
  }

  #client(): Promise<Kafka> {
    // Crashes are reported once by the source; kafkajs' own lines are debug detail.
    this.#kafka ??= loadKafkaJs().then((k) =>
      createKafkaClient(k, {
        clientId: this.#o.clientId,
        brokers: this.#o.brokers,
        requestTimeoutMs: this.#o.requestTimeoutMs,
        retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
        logger: this.#logger,
      }),
    );
    this.#kafka.catch(() => (this.#kafka = undefined));
    return this.#kafka;
  }

  async #topics(admin: Admin, matches: (t: string) => boolean): Promise<string[]> {
    return (await admin.listTopics()).filter(matches).sort();
  }

  /** The matching topics, waiting (polling) until there is one; [] if aborted first. */
  async #waitForTopics(admin: Admin, matches: (t: string) => boolean, signal: AbortSignal): Promise<string[]> {
    let logged = false;
    for (;;) {
      const topics = await this.#topics(admin, matches);
      if (topics.length > 0 || signal.aborted) return topics;
      if (!logged) {
        logged = true;
        this.#logger.info('telemetry source: no topic of the requested families yet; waiting for one', { groupId: this.#o.groupId });
      }
      if (!(await pause(Math.min(1000, this.#o.topicRefreshMs), signal))) return [];
    }
  }

  /** Runs one consumer over `topics` until the run is stopped, new topics appear, or the consumer crashes for good. */
  async #consume(
    kafka: Kafka,
    admin: Admin,
    sub: Subscription,
    handle: (batch: readonly SourcedEvent[]) => Promise<void>,
    signal: AbortSignal,
  ): Promise<Outcome> {
    const { topics, initial, matches, families } = sub;
    const consumer = kafka.consumer({
      groupId: this.#o.groupId,
      sessionTimeout: this.#o.sessionTimeoutMs,
      heartbeatInterval: this.#o.heartbeatIntervalMs,
      maxWaitTimeInMs: this.#o.maxWaitMs,
      allowAutoTopicCreation: false,
    });
    // Wakes the wait below when the run stops or the consumer dies.
    const wake = new AbortController();
    const onAbort = (): void => wake.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    let crash: Error | undefined;
    const offCrash = consumer.on(consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload;
      this.#logger.warn(restart ? 'telemetry consumer crashed; kafkajs restarts it' : 'telemetry consumer crashed', {
        code: 'SP_ERR_TELEMETRY',
        groupId: this.#o.groupId,
        error: error.message,
      });
      if (!restart) {
        crash = error;
        wake.abort();
      }
    });
    const batches = new KafkaBatchHandler({
      admin,
      groupId: this.#o.groupId,
      maxBatchEvents: this.#o.maxBatchEvents,
      heartbeatIntervalMs: this.#o.heartbeatIntervalMs,
      families,
      checker: this.#checker,
      counters: this.#counters,
      logger: this.#logger,
      handle,
      signal,
    });
    const offJoin = consumer.on(consumer.events.GROUP_JOIN, () => batches.forgetPositions());
    try {
      if (!(await settled(consumer.connect(), wake.signal))) return { kind: 'stopped' };
      const resumed = topics.filter((t) => initial.has(t));
      const added = topics.filter((t) => !initial.has(t));
      if (resumed.length > 0) await consumer.subscribe({ topics: resumed, fromBeginning: this.#o.fromBeginning });
      if (added.length > 0) await consumer.subscribe({ topics: added, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => batches.handleBatch(payload),
      });
      this.#joined = true;
      for (;;) {
        await pause(this.#o.topicRefreshMs, wake.signal);
        if (crash !== undefined) {
          throw new SyncPilotError('SP_ERR_TELEMETRY', `Kafka consumer of group ${this.#o.groupId} failed: ${crash.message}`, {
            cause: crash,
          });
        }
        if (signal.aborted) return { kind: 'stopped' };
        let now: string[];
        try {
          now = await this.#topics(admin, matches);
        } catch (err) {
          this.#logger.debug('telemetry source: listing topics failed; trying again later', { error: String(err) });
          continue;
        }
        if (now.some((t) => !topics.includes(t))) return { kind: 'topics', topics: [...new Set([...topics, ...now])].sort() };
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      offCrash();
      offJoin();
      // Waits for the batch in progress; its handler's result is committed first if it resolved.
      await consumer.disconnect().catch(() => undefined);
    }
  }
}

/** True once `p` resolved (rethrowing its rejection); false if `signal` aborted first, leaving `p` to settle unobserved. */
async function settled(p: Promise<unknown>, signal: AbortSignal): Promise<boolean> {
  p.catch(() => undefined);
  if (signal.aborted) return false;
  let onAbort = (): void => {};
  const aborted = new Promise<false>((resolve) => {
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p.then(() => true as const), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Sleeps `ms`; false if `signal` aborted first. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

import type { Admin, EachBatchPayload, PartitionOffset } from 'kafkajs';
import type { Logger } from '../../core/logger.ts';
import { familyOf } from '../events/validate.ts';
import { decodeTelemetryMessage } from '../kafka/event-batch-format.ts';
import type { EventChecker } from './event-checker.ts';
import { handleWithRetry } from './retry-handler.ts';
import type { SourcedEvent } from './telemetry-source.ts';

/**
 * Commit metadata of a position inside an event-batch message: the committed offset is that
 * message's own, and this many of its entries (events, valid or not) are handled.
 */
const HANDLED_ENTRIES = 'syncpilot.handled-entries=';

/** A committed position inside an event-batch message. */
interface PartialPosition {
  readonly offset: string;
  readonly entries: number;
}

/** Where the consumer is in its partition: just past the message at `offset`, or inside it after `entries` entries. */
type Cursor = { readonly offset: string; readonly entries: number | undefined };

/** Counters kept by the source over all its runs. */
export interface KafkaBatchCounters {
  received: number;
  committed: number;
}

/** What {@link KafkaBatchHandler} works with. */
export interface KafkaBatchHandlerOptions {
  readonly admin: Admin;
  readonly groupId: string;
  readonly maxBatchEvents: number;
  readonly heartbeatIntervalMs: number;
  readonly families: ReadonlySet<string> | undefined;
  readonly checker: EventChecker;
  readonly counters: KafkaBatchCounters;
  readonly logger: Logger;
  readonly handle: (batch: readonly SourcedEvent[]) => Promise<void>;
  readonly signal: AbortSignal;
}

/**
 * The `eachBatch` of `KafkaTelemetrySource`: decodes a fetched batch of one partition (single-event
 * messages and event batches, `../kafka/event-batch-format.ts`), validates each event, hands them
 * on in calls of at most `maxBatchEvents`, and commits after each call resolved.
 *
 * A call can end inside an event-batch message. Its position is then committed as that message's
 * offset (so the message is read again) with the metadata `syncpilot.handled-entries=N`; the
 * first batch of a partition after joining the group looks that metadata up (admin API) and skips
 * the N entries already handled. So a resolved call is never handed on again, as with single-event
 * messages. Should the lookup fail, the entries come again (at-least-once).
 */
export class KafkaBatchHandler {
  readonly #o: KafkaBatchHandlerOptions;
  /** Per `topic/partition`: a committed position inside a message, or null; looked up once per group generation. */
  readonly #partial = new Map<string, PartialPosition | null>();

  constructor(options: KafkaBatchHandlerOptions) {
    this.#o = options;
  }

  /** The group was (re)joined: positions may have moved with other members; look them up again. */
  forgetPositions(): void {
    this.#partial.clear();
  }

  async handleBatch(p: EachBatchPayload): Promise<void> {
    const o = this.#o;
    const { topic, partition, messages } = p.batch;
    const partial = await this.#partialPosition(topic, partition);
    let events: SourcedEvent[] = [];
    /** Events handed on since the last commit (not counted as committed yet). */
    let handed = 0;
    let cursor: Cursor | undefined;
    const deliver = async (): Promise<boolean> => {
      if (o.signal.aborted || !p.isRunning() || p.isStale()) return false;
      if (events.length > 0) {
        // kafkajs heartbeats only between batches; a long handler must not cost the partitions.
        const beat = setInterval(() => void p.heartbeat().catch(() => undefined), o.heartbeatIntervalMs);
        let handled: boolean;
        try {
          handled = await handleWithRetry(o.handle, events, o.signal, o.logger, `kafka:${o.groupId}`);
        } finally {
          clearInterval(beat);
        }
        if (!handled) return false;
        handed += events.length;
        events = [];
      }
      if (cursor === undefined) return true;
      await this.#commit(p, cursor);
      cursor = undefined;
      o.counters.committed += handed;
      handed = 0;
      if (!o.signal.aborted) await p.heartbeat();
      return true;
    };
    for (const m of messages) {
      const { format, entries } = decodeTelemetryMessage(m.value, m.headers);
      const at = `${topic}/${partition}/${m.offset}`;
      const skip = partial?.offset === m.offset ? Math.min(partial.entries, entries.length) : 0;
      for (let i = skip; i < entries.length; i++) {
        o.counters.received++;
        const entry = entries[i];
        if (entry === undefined) continue;
        const position = format === 'single' ? at : `${at}#${i}`;
        if (!entry.ok) {
          o.checker.fail(entry.label, position, entry.reason);
          continue;
        }
        const event = o.checker.check(entry.value, position);
        // A topic holds one type by convention; an event of another family in it is not asked for.
        if (event === undefined || (o.families !== undefined && !o.families.has(familyOf(event.type) ?? ''))) continue;
        events.push({ event, position });
        if (events.length >= o.maxBatchEvents && i < entries.length - 1) {
          cursor = { offset: m.offset, entries: i + 1 };
          if (!(await deliver())) return;
        }
      }
      cursor = { offset: m.offset, entries: undefined };
      if (events.length >= o.maxBatchEvents && !(await deliver())) return;
    }
    await deliver();
  }

  async #commit(p: EachBatchPayload, cursor: Cursor): Promise<void> {
    const { topic, partition } = p.batch;
    // Explicit offsets: committed even while kafkajs is stopping (a stop waits for this batch).
    if (cursor.entries === undefined) {
      p.resolveOffset(cursor.offset);
      await p.commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: (BigInt(cursor.offset) + 1n).toString() }] }],
      });
      this.#partial.set(`${topic}/${partition}`, null);
      return;
    }
    // kafkajs sends a partition's `metadata` with the commit; its typings leave the field out.
    const at: PartitionOffset & { metadata: string } = {
      partition,
      offset: cursor.offset,
      metadata: `${HANDLED_ENTRIES}${cursor.entries}`,
    };
    await p.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [at] }] });
    // If kafkajs fetches this message again in this generation, the handled part is skipped too.
    this.#partial.set(`${topic}/${partition}`, { offset: cursor.offset, entries: cursor.entries });
  }

  async #partialPosition(topic: string, partition: number): Promise<PartialPosition | undefined> {
    const key = `${topic}/${partition}`;
    if (!this.#partial.has(key)) {
      try {
        const [committed] = await this.#o.admin.fetchOffsets({ groupId: this.#o.groupId, topics: [topic] });
        for (const c of committed?.partitions ?? []) {
          const entries = c.metadata?.startsWith(HANDLED_ENTRIES) === true ? Number(c.metadata.slice(HANDLED_ENTRIES.length)) : NaN;
          this.#partial.set(`${topic}/${c.partition}`, Number.isSafeInteger(entries) && entries > 0 ? { offset: c.offset, entries } : null);
        }
      } catch (err) {
        this.#o.logger.debug('telemetry source: could not read the committed position; a partly handled event batch may come again', {
          topic,
          partition,
          error: String(err),
        });
      }
      if (!this.#partial.has(key)) this.#partial.set(key, null);
    }
    return this.#partial.get(key) ?? undefined;
  }
}

import { SyncPilotError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { TelemetryEvent } from '../../core/telemetry.ts';
import { isLegalTopic } from './kafka-sink-options.ts';
import type { OutboundRecord } from './transport.ts';

/** Distinct types whose invalid events are logged; past this, further ones are only counted. */
const MAX_LOGGED_TYPES = 256;

/**
 * Turns events into {@link OutboundRecord}s, off the hot path: checks each event (the schema
 * validator), maps its type to a topic, serialises it once. Rejected events are counted here
 * (`invalid`, `unencodable`) and reported once per type, with the code `SP_ERR_EVENT_INVALID`.
 */
export class RecordBuilder {
  /** Events refused by the validator, or whose topic is not a legal Kafka topic name. */
  invalid = 0;
  /** Events that could not be serialised, and spooled records that are not events. */
  unencodable = 0;
  readonly #topicFor: (type: string) => string;
  readonly #validate: ((event: TelemetryEvent) => unknown) | undefined;
  readonly #logger: Logger;
  readonly #topics = new Map<string, string | SyncPilotError>();
  readonly #logged = new Set<string>();
  #loggedUnencodable = false;

  constructor(topicFor: (type: string) => string, validate: ((event: TelemetryEvent) => unknown) | undefined, logger: Logger) {
    this.#topicFor = topicFor;
    this.#validate = validate;
    this.#logger = logger;
  }

  /** Validated, serialised records for `events`, in order; the rejected ones are left out and counted. */
  fromEvents(events: readonly TelemetryEvent[]): OutboundRecord[] {
    const out: OutboundRecord[] = [];
    for (const ev of events) {
      // Typed, but `validate: false` lets anything through: never let a bad value crash the loop.
      if (typeof ev !== 'object' || ev === null) {
        this.#reject('(not an object)', new SyncPilotError('SP_ERR_EVENT_INVALID', 'an event must be an object'));
        continue;
      }
      const type = typeof ev.type === 'string' ? ev.type : String(ev.type);
      if (this.#validate !== undefined) {
        try {
          this.#validate(ev);
        } catch (err) {
          this.#reject(type, err);
          continue;
        }
      }
      const topic = this.#topic(type);
      if (typeof topic !== 'string') {
        this.#reject(type, topic);
        continue;
      }
      let value: string | undefined;
      try {
        // Typed as string, but undefined for values JSON cannot represent.
        value = JSON.stringify(ev);
      } catch (err) {
        this.#unencodable(String(err));
        continue;
      }
      if (value === undefined) {
        this.#unencodable('event serialises to nothing');
        continue;
      }
      out.push({ topic, key: String(ev.key), value, type, tenant: String(ev.tenant), time: ev.time });
    }
    return out;
  }

  /** Records for spooled payloads (validated before they were spooled; checked for shape only). */
  fromPayloads(payloads: readonly Buffer[]): OutboundRecord[] {
    const out: OutboundRecord[] = [];
    for (const value of payloads) {
      let ev: unknown;
      try {
        ev = JSON.parse(value.toString('utf8'));
      } catch (err) {
        this.#unencodable(`spooled record is not JSON: ${String(err)}`);
        continue;
      }
      const e = ev as Partial<Record<keyof TelemetryEvent, unknown>> | null;
      if (typeof e?.type !== 'string' || typeof e.key !== 'string' || typeof e.tenant !== 'string' || typeof e.time !== 'number') {
        this.#unencodable('spooled record is not an event');
        continue;
      }
      const topic = this.#topic(e.type);
      if (typeof topic !== 'string') {
        this.#reject(e.type, topic);
        continue;
      }
      out.push({ topic, key: e.key, value, type: e.type, tenant: e.tenant, time: e.time });
    }
    return out;
  }

  #topic(type: string): string | SyncPilotError {
    let topic = this.#topics.get(type);
    if (topic === undefined) {
      try {
        const name = this.#topicFor(type);
        topic = isLegalTopic(name)
          ? name
          : new SyncPilotError(
              'SP_ERR_EVENT_INVALID',
              `topicFor(${JSON.stringify(type)}) gave ${JSON.stringify(name)}, not a legal Kafka topic`,
            );
      } catch (err) {
        topic = new SyncPilotError('SP_ERR_EVENT_INVALID', `topicFor(${JSON.stringify(type)}) threw: ${String(err)}`, { cause: err });
      }
      if (this.#topics.size < MAX_LOGGED_TYPES * 4) this.#topics.set(type, topic);
    }
    return topic;
  }

  #reject(type: string, err: unknown): void {
    this.invalid++;
    const key = type.slice(0, 200);
    if (this.#logged.has(key) || this.#logged.size >= MAX_LOGGED_TYPES) return;
    this.#logged.add(key);
    const code = err instanceof SyncPilotError ? err.code : 'SP_ERR_EVENT_INVALID';
    this.#logger.warn('telemetry event not sent: invalid (logged once per type; see stats.invalid)', {
      code,
      type: key,
      error: err instanceof Error ? err.message.slice(0, 500) : String(err),
    });
  }

  #unencodable(reason: string): void {
    this.unencodable++;
    if (this.#loggedUnencodable) return;
    this.#loggedUnencodable = true;
    this.#logger.warn('telemetry event dropped: cannot be encoded (logged once)', { code: 'SP_ERR_TELEMETRY', reason });
  }
}

/** One event on its way to Kafka: its topic, partitioning key, JSON value and the header fields. */
export interface OutboundRecord {
  readonly topic: string;
  /** The event's key (document or peer id): the partitioner keeps one key on one partition, in order. */
  readonly key: string;
  /** The event as UTF-8 JSON (a string when built in memory, the spooled bytes when replayed). */
  readonly value: string | Buffer;
  /** Header `type`: the event type, so consumers can route without parsing the value. */
  readonly type: string;
  /** Header `tenant`. */
  readonly tenant: string;
  /** The event time (ms since the epoch), used as the Kafka message timestamp. */
  readonly time: number;
}

/**
 * What the Kafka sink needs from a Kafka client: create topics as needed, deliver batches with
 * acks=all, and start over after a failure. {@link KafkaJsTransport} is the kafkajs one; tests
 * plug in fakes that fail on demand.
 */
export interface KafkaTransport {
  /** Connects eagerly (optional: `send` connects when needed). Rejects when the broker cannot be reached. */
  connect?(): Promise<void>;
  /** Creates whichever of `topics` are missing (optional: `send` creates topics as needed). */
  prepare?(topics: readonly string[]): Promise<void>;
  /**
   * Delivers `records` in order per key, creating missing topics first. Resolves once the broker
   * acknowledged every record; rejects otherwise, in which case any of them may have landed.
   */
  send(records: readonly OutboundRecord[]): Promise<void>;
  /**
   * Forgets the producer session after a failed send, so the next send starts a fresh one (an
   * idempotent producer's sequence numbers are unknowable after an ambiguous failure).
   */
  reset(): Promise<void>;
  /** Disconnects. */
  close(): Promise<void>;
}

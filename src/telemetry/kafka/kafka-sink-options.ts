import { z } from 'zod';
import { SyncPilotError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { TelemetryEvent, TelemetryStats } from '../../core/telemetry.ts';

/** Options of {@link KafkaSink.open}. */
export interface KafkaSinkOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  /** Kafka client id (default `syncpilot`). */
  readonly clientId?: string;
  /** The topic of an event type (default: the type itself, e.g. `syncpilot.access.v1`). Called once per type. */
  readonly topicFor?: (type: string) => string;
  /** Partitions of a topic the sink creates (default 3). */
  readonly partitions?: number;
  /** Replication factor of a topic the sink creates (default 1: a single-node broker). */
  readonly replicationFactor?: number;
  /** How long an event may wait in memory for a batch to fill (default 10 ms, at most 1000). */
  readonly lingerMs?: number;
  /** Most events per produce request (default 1000). */
  readonly maxBatchEvents?: number;
  /** Message compression (default gzip). */
  readonly compression?: 'gzip' | 'none';
  /**
   * How events travel (default `batch`): `batch` packs each partition's events of a produce request
   * into one message (header `syncpilot-format: batch.v1`, one event JSON per line; see
   * `event-batch-format.ts`), which `KafkaTelemetrySource` unpacks; `single` sends one message per
   * event (key = `event.key`), for consumers that read the topics directly. Same order per key.
   */
  readonly messageFormat?: 'batch' | 'single';
  /**
   * Most bytes of event JSON in one event-batch message (default 512 KiB); more goes into the next
   * request. Keep it under the topic's `max.message.bytes` (1 MiB by default).
   */
  readonly maxMessageBytes?: number;
  /** The spool directory, where events wait while the broker is unreachable or slow. One sink per directory. */
  readonly spoolDir: string;
  /**
   * Events held in memory, beyond which `emit` drops (counted). Half of it waiting behind a slow
   * send moves the backlog to the spool (default 50 000).
   */
  readonly maxBufferedEvents?: number;
  /** A send to the broker slower than this moves waiting events to the spool (default 1000 ms). */
  readonly spillAfterMs?: number;
  /** Socket request timeout of the Kafka client (default 10 000 ms). */
  readonly requestTimeoutMs?: number;
  /** Spool segment size (default 16 MiB). */
  readonly spoolSegmentBytes?: number;
  /** Spool size beyond which spooled events are dropped (counted; default 1 GiB). */
  readonly maxSpoolBytes?: number;
  /** How long `close` waits for delivery or the spool (default 10 000 ms). */
  readonly closeTimeoutMs?: number;
  /**
   * Checks an event before it is sent (off the hot path, when its batch is built); one that throws
   * is counted in `invalid`, logged once per type, and never sent. Default: `parseEvent` (the
   * versioned schemas). `false` sends events unchecked (tests, private event types).
   */
  readonly validate?: ((event: TelemetryEvent) => unknown) | false;
  /** Where outages, replays and invalid events are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
}

/** {@link TelemetryStats} of the Kafka sink, with the spool and the reasons for drops broken out. */
export interface KafkaSinkStats extends TelemetryStats {
  /** `direct` sends from memory; `spool` while the spool holds events not yet delivered. */
  readonly mode: 'direct' | 'spool';
  /** Emitted, not yet batched. */
  readonly queued: number;
  /** In a produce request right now (from memory or from the spool). */
  readonly inFlight: number;
  /** Events written to the spool. */
  readonly spooled: number;
  /** Events delivered from the spool (included in `written`; may include a previous process's events). */
  readonly replayed: number;
  /** Bytes in the spool after the replay position. */
  readonly spoolPendingBytes: number;
  /** Failed schema validation (included in `dropped`). */
  readonly invalid: number;
  readonly droppedBufferFull: number;
  readonly droppedAfterClose: number;
  /** Not JSON-serialisable, too large, or a spooled record that is not an event. */
  readonly droppedUnencodable: number;
  /** Refused by a full spool (`maxSpoolBytes`). */
  readonly droppedSpoolFull: number;
  /** Lost to a failed spool write. */
  readonly droppedSpoolFailed: number;
  /** Produce requests that failed (each retried from the spool). */
  readonly sendFailures: number;
}

const fn = <T>(check: (v: unknown) => boolean) => z.custom<T>(check);

const schema = z.strictObject({
  brokers: z.array(z.string().regex(/^[^\s,]+:\d{1,5}$/, 'host:port')).min(1),
  clientId: z.string().min(1).max(256).default('syncpilot'),
  topicFor: fn<(type: string) => string>((v) => typeof v === 'function').optional(),
  partitions: z.number().int().min(1).max(10_000).default(3),
  replicationFactor: z.number().int().min(1).max(100).default(1),
  lingerMs: z.number().int().min(0).max(1000).default(10),
  maxBatchEvents: z.number().int().min(1).max(100_000).default(1000),
  compression: z.enum(['gzip', 'none']).default('gzip'),
  messageFormat: z.enum(['batch', 'single']).default('batch'),
  maxMessageBytes: z
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(512 * 1024),
  spoolDir: z.string().min(1),
  maxBufferedEvents: z.number().int().min(2).max(10_000_000).default(50_000),
  spillAfterMs: z.number().int().min(1).max(600_000).default(1000),
  requestTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  spoolSegmentBytes: z
    .number()
    .int()
    .min(256)
    .max(1024 * 1024 * 1024)
    .default(16 * 1024 * 1024),
  maxSpoolBytes: z
    .number()
    .int()
    .min(1024)
    .max(Number.MAX_SAFE_INTEGER)
    .default(1024 * 1024 * 1024),
  closeTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
  validate: z.union([z.literal(false), fn<(event: TelemetryEvent) => unknown>((v) => typeof v === 'function')]).optional(),
  logger: fn<Logger>((v) => typeof v === 'object' && v !== null && 'warn' in v && 'error' in v).optional(),
});

/** {@link KafkaSinkOptions} with every default filled in. */
export type ResolvedKafkaSinkOptions = z.output<typeof schema>;

/**
 * Parses sink options at the edge.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` naming every problem
 */
export function parseKafkaSinkOptions(options: KafkaSinkOptions): ResolvedKafkaSinkOptions {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid KafkaSink options: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

const LEGAL_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

/** True for a name Kafka accepts as a topic (not `.` or `..`). */
export function isLegalTopic(name: string): boolean {
  return LEGAL_TOPIC.test(name) && name !== '.' && name !== '..';
}

import { z } from 'zod';
import { loggerOption, segmentBytesOption } from '../option-schemas.ts';
import type { SyncPilotError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { SpoolPosition } from './spool-position.ts';

/** {@link SpoolOptions} at the edge, with the defaults. */
export const spoolOptionsSchema = z.strictObject({
  dir: z.string().min(1),
  segmentBytes: segmentBytesOption,
  maxBytes: z
    .number()
    .int()
    .min(1024)
    .max(Number.MAX_SAFE_INTEGER)
    .default(1024 * 1024 * 1024),
  logger: loggerOption,
});

/** Options of {@link Spool.open}. */
export interface SpoolOptions {
  /** The spool directory; created if missing. One writer at a time (a `LOCK` file). */
  readonly dir: string;
  /** A segment is sealed before it would exceed this size (default 16 MiB). */
  readonly segmentBytes?: number;
  /** Appends that would take the spool past this many bytes are refused and counted (default 1 GiB). */
  readonly maxBytes?: number;
  /** Where damage and recovery are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
}

/** What one {@link Spool.append} did. */
export interface SpoolAppendResult {
  /** Where the first appended record starts (equals `to` when nothing was appended). */
  readonly from: SpoolPosition;
  /** Just past the last appended record. */
  readonly to: SpoolPosition;
  readonly appended: number;
  /** Refused because the spool reached `maxBytes`. */
  readonly droppedFull: number;
  /** Lost to a failed write (the error is in `error`). */
  readonly droppedWriteFailed: number;
  /** Larger than the record limit. */
  readonly droppedUnencodable: number;
  readonly error: SyncPilotError | undefined;
}

/** Records read by {@link Spool.read}. */
export interface SpoolBatch {
  /** Record payloads (UTF-8 JSON) in append order; copies, safe to keep. */
  readonly payloads: Buffer[];
  /** Where reading resumed after them: acknowledge it with {@link Spool.ack} once they are delivered. */
  readonly next: SpoolPosition;
  /** Damaged stretches skipped (the rest of a segment each). */
  readonly damaged: number;
}

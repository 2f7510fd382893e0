/**
 * The wire formats of telemetry in Kafka.
 *
 * - **Single event** (no `syncpilot-format` header): the value is one event's JSON. Written by a
 *   sink with `messageFormat: 'single'` and by sinks before the batch format existed.
 * - **Event batch** (header `syncpilot-format: batch.v1`): the value is several events' JSON, one
 *   per line (`\n`-separated, no trailing newline), in emit order. Every event of one batch
 *   message belongs to the partition that the murmur2 partitioner gives its key, so per-key order
 *   is the same as with single-event messages. A consumer decodes each line on its own: one bad
 *   line costs that event only.
 *
 * A raw line feed can only be whitespace in valid JSON (inside a string it must be escaped), and
 * `JSON.stringify` never writes one, so a line feed always separates events.
 */
import type { IHeaders } from 'kafkajs';

/** The header naming a message's format; absent on single-event messages. */
export const TELEMETRY_FORMAT_HEADER = 'syncpilot-format';
/** The value of {@link TELEMETRY_FORMAT_HEADER} on an event batch, version 1. */
export const EVENT_BATCH_V1 = 'batch.v1';

const LF = 0x0a;
const SPACE = 0x20;
const NEWLINE = Buffer.from([LF]);

/**
 * One event of a decoded message: its parsed JSON, or why it could not be decoded (`label` is a
 * short class of the failure, such as `(not JSON)`, for logging once per class).
 */
export type DecodedEntry =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly label: string; readonly reason: string };

/** A decoded message: `format` says which it was (`single`, `batch.v1`, or the unknown header value). */
export interface DecodedMessage {
  readonly format: string;
  readonly entries: readonly DecodedEntry[];
}

/**
 * The value of an event-batch message holding `values` (each one event's JSON), in order. Strings
 * stay a string; with any Buffer among them the result is a Buffer. A value holding a line feed
 * (JSON whitespace, never written by this sink, possible only in a foreign spool record) has it
 * replaced by a space, which leaves the JSON equal.
 */
export function encodeEventBatch(values: readonly (string | Buffer)[]): string | Buffer {
  let strings = true;
  for (const v of values) {
    if (typeof v !== 'string') {
      strings = false;
      break;
    }
  }
  if (strings) {
    const lines = values as readonly string[];
    for (const v of lines) if (v.includes('\n')) return lines.map((s) => s.replaceAll('\n', ' ')).join('\n');
    return lines.join('\n');
  }
  const parts: Buffer[] = [];
  for (const v of values) {
    if (parts.length > 0) parts.push(NEWLINE);
    parts.push(typeof v === 'string' ? Buffer.from(v.replaceAll('\n', ' '), 'utf8') : withoutLineFeeds(v));
  }
  return Buffer.concat(parts);
}

/**
 * Decodes a telemetry message of either format into its events' JSON, without validating them
 * against the schemas (the caller does). Never throws: a tombstone, a bad line or an unknown
 * format comes back as a failed entry with the reason (an unknown format as one entry, since its
 * events cannot be counted).
 */
export function decodeTelemetryMessage(value: Buffer | null, headers: IHeaders | undefined): DecodedMessage {
  const format = headerString(headers?.[TELEMETRY_FORMAT_HEADER]);
  if (format === undefined) {
    if (value === null)
      return { format: 'single', entries: [{ ok: false, label: '(no value)', reason: 'a message without a value (tombstone)' }] };
    return { format: 'single', entries: [parseLine(value)] };
  }
  if (format !== EVENT_BATCH_V1) {
    return {
      format,
      entries: [
        {
          ok: false,
          label: '(unknown format)',
          reason: `unknown ${TELEMETRY_FORMAT_HEADER} ${JSON.stringify(format.slice(0, 100))}; a newer producer?`,
        },
      ],
    };
  }
  if (value === null || value.length === 0)
    return { format, entries: [{ ok: false, label: '(empty batch)', reason: 'an event batch without events' }] };
  const entries: DecodedEntry[] = [];
  let start = 0;
  for (;;) {
    const end = value.indexOf(LF, start);
    entries.push(parseLine(value.subarray(start, end === -1 ? value.length : end)));
    if (end === -1) break;
    start = end + 1;
  }
  return { format, entries };
}

function parseLine(line: Buffer): DecodedEntry {
  try {
    return { ok: true, value: JSON.parse(line.toString('utf8')) as unknown };
  } catch (err) {
    return { ok: false, label: '(not JSON)', reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function headerString(h: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  return v === undefined ? undefined : v.toString();
}

/** UTF-8 never uses the byte 0x0a inside a multi-byte character, so replacing bytes is safe. */
function withoutLineFeeds(b: Buffer): Buffer {
  if (!b.includes(LF)) return b;
  const copy = Buffer.from(b);
  for (let i = copy.indexOf(LF); i !== -1; i = copy.indexOf(LF, i + 1)) copy[i] = SPACE;
  return copy;
}

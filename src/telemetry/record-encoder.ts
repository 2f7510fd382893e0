import type { TelemetryEvent } from '../core/telemetry.ts';
import { MAX_RECORD_PAYLOAD_BYTES, RECORD_HEADER_BYTES } from './log-format.ts';
import { crc32 } from './crc32.ts';

/** Records framed back to back in `bytes`; record k spans `[ends[k-1] ?? 0, ends[k])`. */
export interface EncodedBatch {
  readonly bytes: Buffer;
  readonly ends: readonly number[];
}

const KEEP_BYTES = 4 * 1024 * 1024;

/**
 * Serialises a batch of events into framed records in one buffer, in a single pass per event
 * (JSON.stringify, then UTF-8 straight into place; no per-event Buffer). The buffer is reused by
 * the next `encode`, so the caller must be done writing it first — the sink's writes are
 * serialised, so they are. Shared by the embedded log and the Kafka sink's spool (same format).
 */
export class RecordEncoder {
  #scratch: Buffer = Buffer.allocUnsafe(256 * 1024);
  #buf: Buffer = this.#scratch;
  #at = 0;
  #ends: number[] = [];

  /**
   * @param onUnencodable called for each event that is not JSON-serialisable or exceeds
   * {@link MAX_RECORD_PAYLOAD_BYTES}; that event is left out
   */
  encode(events: readonly TelemetryEvent[], onUnencodable: (reason: string) => void): EncodedBatch {
    this.#begin();
    for (const ev of events) {
      let json: string | undefined;
      try {
        // Typed as string, but undefined for values JSON cannot represent.
        json = JSON.stringify(ev);
      } catch (err) {
        onUnencodable(String(err));
        continue;
      }
      if (json === undefined) {
        onUnencodable('event serialises to nothing');
        continue;
      }
      this.#put(json, onUnencodable);
    }
    return this.#end();
  }

  /**
   * Like {@link encode} for payloads already serialised (the Kafka sink serialises each event once,
   * for the broker, and spools the same JSON).
   */
  encodeJson(jsons: readonly string[], onUnencodable: (reason: string) => void): EncodedBatch {
    this.#begin();
    for (const json of jsons) this.#put(json, onUnencodable);
    return this.#end();
  }

  #begin(): void {
    if (this.#scratch.length > KEEP_BYTES) this.#scratch = Buffer.allocUnsafe(KEEP_BYTES);
    this.#buf = this.#scratch;
    this.#at = 0;
    this.#ends = [];
  }

  #put(json: string, onUnencodable: (reason: string) => void): void {
    let buf = this.#buf;
    const at = this.#at;
    // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
    const worst = RECORD_HEADER_BYTES + json.length * 3;
    if (at + worst > buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, at + worst));
      buf.copy(grown, 0, 0, at);
      buf = grown;
      this.#buf = grown;
    }
    const start = at + RECORD_HEADER_BYTES;
    const n = buf.write(json, start, 'utf8');
    if (n > MAX_RECORD_PAYLOAD_BYTES) {
      onUnencodable(`event of ${n} bytes exceeds the record limit`);
      return;
    }
    buf.writeUInt32LE(n, at);
    buf.writeUInt32LE(crc32(buf.subarray(start, start + n)), at + 4);
    this.#at = start + n;
    this.#ends.push(this.#at);
  }

  #end(): EncodedBatch {
    this.#scratch = this.#buf;
    const out = { bytes: this.#buf.subarray(0, this.#at), ends: this.#ends };
    this.#ends = [];
    return out;
  }
}

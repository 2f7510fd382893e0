import type { Logger } from '../../core/logger.ts';
import { promotionNoticeSchema, type PromotionBusStats, type PromotionHandler, type PromotionNotice } from './promotion-bus.ts';

/**
 * The receiving half every bus shares: parses what arrives from the transport (zod, strict),
 * counts and skips what is malformed, and calls each handler in isolation so that one that
 * throws (or rejects) neither stops the others nor reaches the transport's callback.
 */
export class NoticeDispatcher {
  readonly #handlers = new Set<{ readonly fn: PromotionHandler }>();
  readonly #logger: Logger;
  readonly #label: string;
  #published = 0;
  #received = 0;
  #malformed = 0;
  #delivered = 0;
  #handlerErrors = 0;

  constructor(label: string, logger: Logger) {
    this.#label = label;
    this.#logger = logger;
  }

  get size(): number {
    return this.#handlers.size;
  }

  /** Adds a handler; the returned function removes it (idempotent). The same function twice is two subscriptions. */
  add(fn: PromotionHandler): () => void {
    const entry = { fn };
    this.#handlers.add(entry);
    return () => void this.#handlers.delete(entry);
  }

  clear(): void {
    this.#handlers.clear();
  }

  countPublished(): void {
    this.#published++;
  }

  /** Takes one message as it arrived (text, bytes, or null for an empty one) and delivers it if it is a valid notice. */
  deliver(raw: string | Uint8Array | null): void {
    this.#received++;
    const notice = this.#parse(raw);
    if (notice === undefined) return;
    // A snapshot: a handler that unsubscribes (or subscribes) during delivery changes the next notice only.
    for (const entry of [...this.#handlers]) {
      this.#delivered++;
      try {
        const result: unknown = entry.fn(notice);
        if (result instanceof Promise) result.catch((err: unknown) => this.#handlerFailed(err));
      } catch (err) {
        this.#handlerFailed(err);
      }
    }
  }

  stats(): PromotionBusStats {
    return {
      published: this.#published,
      received: this.#received,
      malformed: this.#malformed,
      delivered: this.#delivered,
      handlerErrors: this.#handlerErrors,
    };
  }

  #parse(raw: string | Uint8Array | null): PromotionNotice | undefined {
    if (raw === null) return this.#reject('an empty message');
    const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.#reject('not JSON', text);
    }
    const r = promotionNoticeSchema.safeParse(value);
    if (!r.success) return this.#reject(r.error.issues.map((i) => `${i.path.join('.') || '(notice)'}: ${i.message}`).join('; '), text);
    const n = r.data;
    return Object.freeze({ ...n, challengers: Object.freeze([...n.challengers]) });
  }

  #reject(reason: string, text?: string): undefined {
    this.#malformed++;
    // One warning tells the operator something on the transport is wrong; the rest are detail.
    this.#logger[this.#malformed === 1 ? 'warn' : 'debug']('promotion bus: malformed notice ignored', {
      bus: this.#label,
      reason,
      sample: text?.slice(0, 200),
      malformed: this.#malformed,
    });
    return undefined;
  }

  #handlerFailed(err: unknown): void {
    this.#handlerErrors++;
    this.#logger.error('promotion bus: a notice handler failed', {
      bus: this.#label,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

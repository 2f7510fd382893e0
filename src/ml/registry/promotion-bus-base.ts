import { z } from 'zod';
import { SyncPilotError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { NoticeDispatcher } from './notice-dispatcher.ts';
import {
  encodeNotice,
  type ObservablePromotionBus,
  type PromotionBusStats,
  type PromotionHandler,
  type PromotionNotice,
} from './promotion-bus.ts';

/** The `importer` option of the distributed buses: how to import their client library (tests substitute a failing one). */
export const importerOption = z.custom<() => Promise<unknown>>((v) => typeof v === 'function').optional();

/**
 * Parses a bus's options once, at its constructor.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` naming `busName` and every problem
 */
export function parseBusOptions<S extends z.ZodType>(schema: S, options: unknown, busName: string): z.output<S> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid ${busName} options: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * What every {@link ObservablePromotionBus} of this folder does the same way: refuse use after
 * close, validate and encode a notice before its transport sends it, start listening with the first
 * subscription (and report a failure to start both through {@link ready} and once in the log), and
 * hand what arrives to a {@link NoticeDispatcher}. A transport implements {@link send},
 * {@link listen} and {@link shutdown}.
 */
export abstract class PromotionBusBase implements ObservablePromotionBus {
  /** Where transport trouble, malformed notices and failing handlers are reported. */
  protected readonly logger: Logger;
  /** Receives what the transport delivers: `deliver` each message as it arrived. */
  protected readonly dispatcher: NoticeDispatcher;
  readonly #transport: string;
  #listening: Promise<void> | undefined;
  #closed = false;

  /**
   * @param transport names the transport in the warning when listening fails (`Redis`, `Kafka` …)
   * @param label names the bus in the dispatcher's log lines (`redis:<channel>` …)
   * @param logger default: JSON lines on stderr, level warn
   */
  protected constructor(transport: string, label: string, logger: Logger | undefined) {
    this.#transport = transport;
    this.logger = logger ?? createLogger('warn');
    this.dispatcher = new NoticeDispatcher(label, this.logger);
  }

  /** True once {@link close} was called: a transport stops delivering and stops starting anything. */
  protected get closed(): boolean {
    return this.#closed;
  }

  /**
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` (a bad notice: nothing is sent; the transport's
   * client not installed), `SP_ERR_CLOSED`, `SP_ERR_TIMEOUT` (retryable) when the transport does not
   * take it in time
   */
  async publish(notice: PromotionNotice): Promise<void> {
    this.#assertOpen();
    const text = encodeNotice(notice);
    await this.send(notice, text);
    this.dispatcher.countPublished();
  }

  /** @throws SyncPilotError `SP_ERR_CLOSED` */
  subscribe(handler: PromotionHandler): () => void {
    this.#assertOpen();
    const off = this.dispatcher.add(handler);
    if (this.#listening === undefined) {
      this.#listening = this.listen();
      // ready() reports it; the bus keeps working for publishing either way.
      this.#listening.catch((err: unknown) =>
        this.logger.warn(`promotion bus: could not subscribe to ${this.#transport}`, { error: String(err) }),
      );
    }
    return off;
  }

  ready(): Promise<void> {
    return this.#listening ?? Promise.resolve();
  }

  stats(): PromotionBusStats {
    return this.dispatcher.stats();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.dispatcher.clear();
    await this.shutdown();
  }

  /** Sends the encoded notice (`text`) on the transport. */
  protected abstract send(notice: PromotionNotice, text: string): Promise<void>;
  /** Starts listening; called once, with the first subscription. Resolves once a notice published next is received. */
  protected abstract listen(): Promise<void>;
  /** Releases the transport's connections and watchers; called once, after the handlers were removed. */
  protected abstract shutdown(): Promise<void>;

  #assertOpen(): void {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the promotion bus is closed');
  }
}

import type { Redis, RedisOptions } from 'ioredis';
import { z } from 'zod';
import { SyncPilotError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { busCall } from './bus-timeout.ts';
import { loadIoredis } from './load-bus-client.ts';
import { NoticeDispatcher } from './notice-dispatcher.ts';
import {
  encodeNotice,
  type ObservablePromotionBus,
  type PromotionBusStats,
  type PromotionHandler,
  type PromotionNotice,
} from './promotion-bus.ts';

/** Options of {@link RedisPromotionBus}. */
export interface RedisPromotionBusOptions {
  /** `redis://[user:pass@]host:port[/db]` (default `redis://127.0.0.1:6379`). */
  readonly url?: string;
  /** Extra ioredis options for both connections (TLS, sentinels …). */
  readonly redis?: RedisOptions;
  /** The pub/sub channel (default `syncpilot:model-promotions`). */
  readonly channel?: string;
  /** How long `publish` and the first subscription may wait for Redis (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Where connection trouble, malformed notices and failing handlers are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
  /** How to import ioredis (tests substitute a failing one). */
  readonly importer?: () => Promise<unknown>;
}

const schema = z.strictObject({
  url: z
    .string()
    .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  redis: z.custom<RedisOptions>((v) => typeof v === 'object' && v !== null).optional(),
  channel: z.string().min(1).max(512).default('syncpilot:model-promotions'),
  timeoutMs: z.number().int().min(10).max(600_000).default(5000),
  logger: z.custom<Logger>((v) => typeof v === 'object' && v !== null && 'warn' in v && 'error' in v).optional(),
  importer: z.custom<() => Promise<unknown>>((v) => typeof v === 'function').optional(),
});

/**
 * A {@link ObservablePromotionBus} over Redis pub/sub (ioredis, loaded on first use): one
 * connection publishes, a separate one subscribes (a subscribed connection can do nothing else).
 * Pub/sub keeps nothing: a server disconnected while a notice is published misses it, so a
 * receiver should reload the registry state on (re)start, which `ModelHost` does. ioredis
 * reconnects and resubscribes by itself.
 */
export class RedisPromotionBus implements ObservablePromotionBus {
  readonly #o: z.output<typeof schema>;
  readonly #logger: Logger;
  readonly #dispatcher: NoticeDispatcher;
  #publisher: Promise<Redis> | undefined;
  #subscriber: Promise<Redis> | undefined;
  #starting: Promise<void> | undefined;
  #closed = false;
  #errorsLogged = 0;

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options */
  constructor(options: RedisPromotionBusOptions = {}) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid RedisPromotionBus options: ${z.prettifyError(parsed.error)}`);
    }
    this.#o = parsed.data;
    this.#logger = parsed.data.logger ?? createLogger('warn');
    this.#dispatcher = new NoticeDispatcher(`redis:${parsed.data.channel}`, this.#logger);
  }

  /** The channel notices travel on. */
  get channel(): string {
    return this.#o.channel;
  }

  /**
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` (bad notice, ioredis missing), `SP_ERR_CLOSED`,
   * `SP_ERR_TIMEOUT` (retryable) when Redis does not answer within `timeoutMs`
   */
  async publish(notice: PromotionNotice): Promise<void> {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the promotion bus is closed');
    const text = encodeNotice(notice);
    this.#publisher ??= this.#connect('publisher');
    const client = await this.#publisher;
    await this.#call(client.publish(this.#o.channel, text), 'publishing a promotion notice');
    this.#dispatcher.countPublished();
  }

  /** Publishes raw text on the channel, bypassing validation: for conformance tests of malformed input. */
  async publishRaw(text: string): Promise<void> {
    this.#publisher ??= this.#connect('publisher');
    await (await this.#publisher).publish(this.#o.channel, text);
  }

  subscribe(handler: PromotionHandler): () => void {
    if (this.#closed) throw new SyncPilotError('SP_ERR_CLOSED', 'the promotion bus is closed');
    const off = this.#dispatcher.add(handler);
    if (this.#starting === undefined) {
      this.#starting = this.#start();
      // ready() reports it; the bus keeps working for publishing either way.
      this.#starting.catch((err: unknown) => this.#logger.warn('promotion bus: could not subscribe to Redis', { error: String(err) }));
    }
    return off;
  }

  ready(): Promise<void> {
    return this.#starting ?? Promise.resolve();
  }

  stats(): PromotionBusStats {
    return this.#dispatcher.stats();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#dispatcher.clear();
    await Promise.all([quit(this.#subscriber), quit(this.#publisher)]);
  }

  async #start(): Promise<void> {
    this.#subscriber = this.#connect('subscriber');
    const client = await this.#subscriber;
    client.on('message', (channel: string, message: string) => {
      if (channel === this.#o.channel && !this.#closed) this.#dispatcher.deliver(message);
    });
    await this.#call(client.subscribe(this.#o.channel), 'subscribing to the promotion channel');
  }

  async #connect(role: 'publisher' | 'subscriber'): Promise<Redis> {
    const RedisClient = await loadIoredis(this.#o.importer);
    const client = new RedisClient(this.#o.url, {
      ...this.#o.redis,
      connectionName: `syncpilot-promotions-${role}`,
      // Fail a publish fast when Redis is away instead of queueing it for ever; the timeout below reports it.
      maxRetriesPerRequest: 1,
    });
    client.on('error', (err: Error) => {
      // ioredis reports every reconnect attempt; one warning per outage is enough.
      this.#errorsLogged++;
      this.#logger[this.#errorsLogged === 1 ? 'warn' : 'debug']('promotion bus: Redis connection error', { role, error: err.message });
    });
    client.on('ready', () => (this.#errorsLogged = 0));
    return client;
  }

  #call<T>(p: Promise<T>, what: string): Promise<T> {
    return busCall(p, this.#o.timeoutMs, what, `Redis ${redact(this.#o.url)}`);
  }
}

async function quit(client: Promise<Redis> | undefined): Promise<void> {
  if (client === undefined) return;
  let c: Redis;
  try {
    c = await client;
  } catch {
    return;
  }
  try {
    await Promise.race([c.quit(), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
  } catch {
    // Not connected: nothing to say goodbye to.
  }
  c.disconnect();
}

/** A URL without its password, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_m, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0] ?? ''}:***` : '***'}@`);
}

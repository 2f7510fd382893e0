import type { Redis, RedisOptions } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../../core/logger.ts';
import { loggerOption } from '../../telemetry/option-schemas.ts';
import { busCall } from './bus-timeout.ts';
import { loadIoredis } from './load-bus-client.ts';
import type { PromotionNotice } from './promotion-bus.ts';
import { importerOption, parseBusOptions, PromotionBusBase } from './promotion-bus-base.ts';

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
  logger: loggerOption,
  importer: importerOption,
});

/**
 * A {@link ObservablePromotionBus} over Redis pub/sub (ioredis, loaded on first use): one
 * connection publishes, a separate one subscribes (a subscribed connection can do nothing else).
 * Publishing fails with a retryable `SP_ERR_TIMEOUT` when Redis does not answer within
 * `timeoutMs`, and with `SP_ERR_CONFIG_INVALID` when ioredis is not installed.
 * Pub/sub keeps nothing: a server disconnected while a notice is published misses it, so a
 * receiver should reload the registry state on (re)start, which `ModelHost` does. ioredis
 * reconnects and resubscribes by itself.
 */
export class RedisPromotionBus extends PromotionBusBase {
  readonly #o: z.output<typeof schema>;
  #publisher: Promise<Redis> | undefined;
  #subscriber: Promise<Redis> | undefined;
  #errorsLogged = 0;

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options */
  constructor(options: RedisPromotionBusOptions = {}) {
    const o = parseBusOptions(schema, options, 'RedisPromotionBus');
    super('Redis', `redis:${o.channel}`, o.logger);
    this.#o = o;
  }

  /** The channel notices travel on. */
  get channel(): string {
    return this.#o.channel;
  }

  protected async send(_notice: PromotionNotice, text: string): Promise<void> {
    this.#publisher ??= this.#connect('publisher');
    const client = await this.#publisher;
    await this.#call(client.publish(this.#o.channel, text), 'publishing a promotion notice');
  }

  /** Publishes raw text on the channel, bypassing validation: for conformance tests of malformed input. */
  async publishRaw(text: string): Promise<void> {
    this.#publisher ??= this.#connect('publisher');
    await (await this.#publisher).publish(this.#o.channel, text);
  }

  protected async shutdown(): Promise<void> {
    await Promise.all([quit(this.#subscriber), quit(this.#publisher)]);
  }

  protected async listen(): Promise<void> {
    this.#subscriber = this.#connect('subscriber');
    const client = await this.#subscriber;
    client.on('message', (channel: string, message: string) => {
      if (channel === this.#o.channel && !this.closed) this.dispatcher.deliver(message);
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
      this.logger[this.#errorsLogged === 1 ? 'warn' : 'debug']('promotion bus: Redis connection error', { role, error: err.message });
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

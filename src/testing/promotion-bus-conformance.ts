import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SyncPilotError } from '../core/errors.ts';
import type { ObservablePromotionBus, PromotionBusStats, PromotionNotice } from '../ml/registry/promotion-bus.ts';

/** What a bus under test provides to {@link runPromotionBusConformance}. */
export interface PromotionBusFixture {
  /** Another bus instance on this fixture's transport (channel, topic, directory): each call is another server. */
  readonly open: () => Promise<ObservablePromotionBus>;
  /** Puts raw text on the transport, as a broken or foreign publisher would. */
  readonly injectRaw: (text: string) => Promise<void>;
  /**
   * True when notices published faster than a subscriber reads them may coalesce into the
   * latest (the file bus keeps one notice per policy). Otherwise every notice must arrive, in order.
   */
  readonly coalesces?: boolean;
  /** Releases whatever setup made; the suite closes the buses it opened first. */
  readonly teardown?: () => Promise<void>;
}

/** Options of {@link runPromotionBusConformance}. */
export interface PromotionBusConformanceOptions {
  /** How long a notice may take to arrive (default 10 000 ms). */
  readonly deliveryTimeoutMs?: number;
}

/** The i-th test notice: distinct content (a new champion, a new time) for each i. */
export function conformanceNotice(i: number, over: Partial<PromotionNotice> = {}): PromotionNotice {
  return { policy: 'compression', champion: i + 1, challengers: [i + 2, i + 3], at: 1_700_000_000_000 + i, origin: 'conformance', ...over };
}

/** Collects what a handler receives and lets a test await a count, or a condition on the stats. */
class Collector {
  readonly notices: PromotionNotice[] = [];
  readonly #waiters = new Set<() => void>();
  readonly handler = (n: PromotionNotice): void => {
    this.notices.push(n);
    for (const w of [...this.#waiters]) w();
  };

  constructor(private readonly timeoutMs: number) {}

  /** Resolves once `pred` holds over the notices received so far. */
  until(pred: (ns: readonly PromotionNotice[]) => boolean, what: string): Promise<void> {
    if (pred(this.notices)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred(this.notices)) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out after ${this.timeoutMs} ms waiting for ${what}; got ${JSON.stringify(this.notices)}`));
      }, this.timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Resolves once a notice deep-equal to `n` arrived. */
  receive(n: PromotionNotice): Promise<void> {
    return this.until((ns) => ns.some((x) => isDeepEqual(x, n)), `notice ${JSON.stringify(n)}`);
  }
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** Polls a bus's stats (no event tells that a message was judged malformed) until `pred` holds. */
async function statsUntil(
  bus: ObservablePromotionBus,
  pred: (s: PromotionBusStats) => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred(bus.stats())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stats ${JSON.stringify(bus.stats())}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const hasCode = (code: string) => (err: unknown) => err instanceof SyncPilotError && err.code === code;

/**
 * Registers node:test tests every {@link ObservablePromotionBus} must pass: delivery to every
 * subscriber of every instance, order (or latest-wins for a coalescing bus), malformed messages
 * counted and skipped, isolation from failing handlers, unsubscribe, no replay of notices from
 * before a bus was ready, refusal of invalid notices, and close. Each test gets its own fixture.
 *
 * @example
 * runPromotionBusConformance('FileWatchBus', async () => {
 *   const root = await mkdtemp(join(tmpdir(), 'bus-'));
 *   return {
 *     open: async () => new FileWatchBus({ root }),
 *     injectRaw: (text) => writeAtomically(join(root, 'compression', NOTICE_FILE), text),
 *     coalesces: true,
 *     teardown: () => rm(root, { recursive: true, force: true }),
 *   };
 * });
 */
export function runPromotionBusConformance(
  name: string,
  setup: () => Promise<PromotionBusFixture>,
  options: PromotionBusConformanceOptions = {},
): void {
  const timeoutMs = options.deliveryTimeoutMs ?? 10_000;

  async function withBuses(fn: (f: PromotionBusFixture, open: () => Promise<ObservablePromotionBus>) => Promise<void>): Promise<void> {
    const f = await setup();
    const opened: ObservablePromotionBus[] = [];
    const open = async (): Promise<ObservablePromotionBus> => {
      const bus = await f.open();
      opened.push(bus);
      return bus;
    };
    try {
      await fn(f, open);
    } finally {
      await Promise.all(opened.map((b) => b.close().catch(() => undefined)));
      await f.teardown?.();
    }
  }

  /** A bus with a collecting subscriber, ready. */
  async function listening(open: () => Promise<ObservablePromotionBus>): Promise<{ bus: ObservablePromotionBus; c: Collector }> {
    const bus = await open();
    const c = new Collector(timeoutMs);
    bus.subscribe(c.handler);
    await bus.ready();
    return { bus, c };
  }

  void describe(`PromotionBus conformance: ${name}`, () => {
    test('a notice reaches every subscriber of every instance, as sent', () =>
      withBuses(async (_f, open) => {
        const a = await listening(open);
        const b = await listening(open);
        const b2 = new Collector(timeoutMs);
        b.bus.subscribe(b2.handler);
        const n = conformanceNotice(1, { policy: 'anomaly', champion: null, challengers: [] });
        await a.bus.publish(n);
        await Promise.all([a.c.receive(n), b.c.receive(n), b2.receive(n)]);
        assert.deepEqual(b.c.notices, [n]);
        assert.equal(a.bus.stats().published, 1);
        assert.equal(b.bus.stats().malformed, 0);
        assert.ok(b.bus.stats().delivered >= 2);
      }));

    test('notices arrive in publication order (or, coalescing, the latest wins)', () =>
      withBuses(async (f, open) => {
        const pub = await open();
        const sub = await listening(open);
        const sent = Array.from({ length: 20 }, (_, i) => conformanceNotice(i));
        for (const n of sent) await pub.publish(n);
        const last = sent.at(-1);
        assert.ok(last !== undefined);
        await sub.c.receive(last);
        if (f.coalesces === true) {
          const indexes = sub.c.notices.map((n) => sent.findIndex((s) => isDeepEqual(s, n)));
          assert.ok(!indexes.includes(-1), 'only notices that were sent');
          assert.deepEqual(
            indexes,
            [...indexes].sort((x, y) => x - y),
            'in order',
          );
          assert.deepEqual(sub.c.notices.at(-1), last);
        } else {
          assert.deepEqual(sub.c.notices, sent);
        }
      }));

    test('malformed messages are counted and skipped; the bus keeps delivering', () =>
      withBuses(async (f, open) => {
        const sub = await listening(open);
        const pub = await open();
        const raws = [
          'not json at all',
          JSON.stringify({ ...conformanceNotice(1), policy: 'no-such-policy' }),
          JSON.stringify({ ...conformanceNotice(2), extra: 'field' }),
          JSON.stringify({ ...conformanceNotice(3), champion: -1 }),
          '',
        ];
        for (const [i, raw] of raws.entries()) {
          await f.injectRaw(raw);
          await statsUntil(sub.bus, (s) => s.malformed >= i + 1, timeoutMs, `malformed message ${i + 1}`);
        }
        const good = conformanceNotice(9);
        await pub.publish(good);
        await sub.c.receive(good);
        assert.deepEqual(sub.c.notices, [good]);
        assert.equal(sub.bus.stats().malformed, raws.length);
      }));

    test('a handler that throws or rejects stops neither the others nor the bus', () =>
      withBuses(async (_f, open) => {
        const bus = await open();
        const c = new Collector(timeoutMs);
        bus.subscribe(() => {
          throw new Error('handler bug');
        });
        // eslint-disable-next-line @typescript-eslint/no-misused-promises -- on purpose: a rejecting handler must be caught too
        bus.subscribe(async () => {
          throw new Error('async handler bug');
        });
        bus.subscribe(c.handler);
        await bus.ready();
        const [n1, n2] = [conformanceNotice(1), conformanceNotice(2, { policy: 'prefetch' })];
        await bus.publish(n1);
        await c.receive(n1);
        await bus.publish(n2);
        await c.receive(n2);
        await statsUntil(bus, (s) => s.handlerErrors >= 4, timeoutMs, 'four handler errors');
      }));

    test('unsubscribe stops delivery to that handler only', () =>
      withBuses(async (_f, open) => {
        const bus = await open();
        const gone = new Collector(timeoutMs);
        const kept = new Collector(timeoutMs);
        const off = bus.subscribe(gone.handler);
        bus.subscribe(kept.handler);
        await bus.ready();
        const [n1, n2] = [conformanceNotice(1), conformanceNotice(2, { policy: 'conflict' })];
        await bus.publish(n1);
        await Promise.all([gone.receive(n1), kept.receive(n1)]);
        off();
        off();
        await bus.publish(n2);
        await kept.receive(n2);
        // Handlers of one bus are called together, so `gone` would have had n2 by now.
        assert.deepEqual(gone.notices, [n1]);
      }));

    test('a bus does not replay notices published before it was ready', () =>
      withBuses(async (_f, open) => {
        const first = await listening(open);
        const old = conformanceNotice(1);
        await first.bus.publish(old);
        await first.c.receive(old);
        const late = await listening(open);
        const fresh = conformanceNotice(2);
        await first.bus.publish(fresh);
        await late.c.receive(fresh);
        assert.deepEqual(late.c.notices, [fresh]);
      }));

    test('an invalid notice is refused with SP_ERR_CONFIG_INVALID and nothing is sent', () =>
      withBuses(async (_f, open) => {
        const sub = await listening(open);
        const pub = await open();
        const bad: unknown[] = [
          { ...conformanceNotice(1), policy: 'nope' },
          { ...conformanceNotice(1), champion: 0 },
          { ...conformanceNotice(1), challengers: [1.5] },
          { ...conformanceNotice(1), origin: '' },
          { ...conformanceNotice(1), extra: true },
        ];
        for (const n of bad) await assert.rejects(pub.publish(n as PromotionNotice), hasCode('SP_ERR_CONFIG_INVALID'));
        const good = conformanceNotice(2);
        await pub.publish(good);
        await sub.c.receive(good);
        assert.deepEqual(sub.c.notices, [good]);
        assert.equal(pub.stats().published, 1);
        assert.equal(sub.bus.stats().malformed, 0);
      }));

    test('close is idempotent; a closed bus refuses publish and subscribe and hears nothing more', () =>
      withBuses(async (_f, open) => {
        const closing = await listening(open);
        const other = await listening(open);
        await closing.bus.close();
        await closing.bus.close();
        await assert.rejects(closing.bus.publish(conformanceNotice(1)), hasCode('SP_ERR_CLOSED'));
        assert.throws(() => closing.bus.subscribe(() => undefined), hasCode('SP_ERR_CLOSED'));
        const n = conformanceNotice(2);
        await other.bus.publish(n);
        await other.c.receive(n);
        assert.deepEqual(closing.c.notices, []);
      }));
  });
}

import { z } from 'zod';
import { SyncPilotError } from '../../core/errors.ts';
import { POLICIES, type Policy } from '../policy.ts';

const version = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/**
 * The wire form of a {@link PromotionNotice}: every notice a bus receives is parsed with it
 * (strict: unknown fields make a notice malformed), and every notice it publishes too.
 */
export const promotionNoticeSchema = z.strictObject({
  policy: z.enum(POLICIES),
  /** The champion after the change; `null`: no model, the baseline serves. */
  champion: version.nullable(),
  /** Challengers after the change, oldest first (they run in shadow). */
  challengers: z.array(version).max(1000),
  /** When the change was made, milliseconds since the epoch. */
  at: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  /** Who made it (a registry's origin id: host, pid and a random suffix). */
  origin: z.string().min(1).max(256),
});

/**
 * What every running server learns when a policy's champion or challengers change. A notice
 * carries the policy's whole serving state, not a delta: a receiver that missed earlier notices
 * still converges on the latest one.
 */
export interface PromotionNotice {
  readonly policy: Policy;
  readonly champion: number | null;
  readonly challengers: readonly number[];
  readonly at: number;
  readonly origin: string;
}

/** A subscriber of a {@link PromotionBus}. It may be async; a throw or rejection is counted and logged, never propagated. */
export type PromotionHandler = (notice: PromotionNotice) => void;

/**
 * Carries promotion notices from the process that changed the registry to every server. Every
 * subscriber of every bus instance on the same transport receives every notice published after
 * its bus was ready (the publisher's own subscribers included). Implementations:
 * `FileWatchBus` (one machine, the embedded default), `RedisPromotionBus`, `KafkaPromotionBus`.
 * Each runs `runPromotionBusConformance` (`src/testing/promotion-bus-conformance.ts`).
 */
export interface PromotionBus {
  /**
   * Sends a notice.
   * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for a notice that fails its schema (nothing is
   * sent), `SP_ERR_CLOSED` after close, `SP_ERR_TIMEOUT` (retryable) when the transport does not
   * take it in time
   */
  publish(notice: PromotionNotice): Promise<void>;
  /** Adds a handler; listening starts with the first one. Returns its unsubscribe function (idempotent). */
  subscribe(handler: PromotionHandler): () => void;
  /** Stops listening and releases connections and watchers. Idempotent. */
  close(): Promise<void>;
}

/** Counters every bus implementation keeps. */
export interface PromotionBusStats {
  readonly published: number;
  /** Messages that arrived from the transport (valid or not). */
  readonly received: number;
  /** Arrived messages that were not a valid notice: counted, logged, skipped. */
  readonly malformed: number;
  /** Handler calls made (a notice to three handlers counts three). */
  readonly delivered: number;
  /** Handler calls that threw or rejected. */
  readonly handlerErrors: number;
}

/** The bus implementations in this folder: a {@link PromotionBus} that can say when it listens and what it counted. */
export interface ObservablePromotionBus extends PromotionBus {
  /**
   * Resolves once the subscriptions made so far are live: a notice published after it resolves
   * reaches them. Resolves at once when nothing subscribed yet.
   * @throws SyncPilotError when listening could not start (the bus's own codes)
   */
  ready(): Promise<void>;
  stats(): PromotionBusStats;
}

/**
 * Checks a notice before it is published.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` listing the problems
 */
export function checkOutgoingNotice(notice: PromotionNotice): PromotionNotice {
  const r = promotionNoticeSchema.safeParse(notice);
  if (!r.success) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid promotion notice: ${z.prettifyError(r.error)}`, { cause: r.error });
  }
  return r.data;
}

/** The serialised form of a notice on every transport (UTF-8 JSON). */
export function encodeNotice(notice: PromotionNotice): string {
  const n = checkOutgoingNotice(notice);
  return JSON.stringify({ policy: n.policy, champion: n.champion, challengers: n.challengers, at: n.at, origin: n.origin });
}

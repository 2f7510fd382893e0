import type { Clock } from './clock.ts';
import type { ErrorCode } from './errors.ts';
import type { DocId, PeerId } from './ids.ts';
import type { Logger } from './logger.ts';
import type { TelemetrySink } from './telemetry.ts';

/**
 * Where in the message's life a stage sees it: `inbound` before the engine applies it,
 * `applied` after (with the engine's outcome), `outbound` once per receiving peer.
 */
export type Phase = 'inbound' | 'applied' | 'outbound';

/** What a message asks for: open a document, or carry changes (client writes, server fan-out, delta sync). */
export type MessageKind = 'subscribe' | 'changes' | 'sync';

/** The authenticated identity of a peer, set by the auth stage at handshake. */
export interface Principal {
  readonly subject: string;
  readonly tenant: string;
  /** Documents (exact ids or prefixes ending in `*`) this principal may read. */
  readonly read: readonly string[];
  /** Documents (exact ids or prefixes ending in `*`) this principal may write. */
  readonly write: readonly string[];
}

/**
 * A typed sync message as it flows through the pipeline. `P` is the engine's payload (changes),
 * `O` the engine's apply outcome. Envelopes are immutable: a stage that changes one returns a copy.
 */
export interface Envelope<P = unknown, O = unknown> {
  readonly id: string;
  readonly phase: Phase;
  readonly kind: MessageKind;
  readonly doc: DocId;
  /** The peer the message came from (inbound, applied) or goes to (outbound). */
  readonly peer: PeerId;
  /** For outbound messages: the peer whose write is being fanned out, if any. */
  readonly origin?: PeerId;
  readonly principal?: Principal;
  readonly payload: P;
  /** Encoded size on the wire, in bytes. */
  readonly bytes: number;
  /** Monotonic milliseconds when the frame was received (or created, for server-made messages). */
  readonly receivedAt: number;
  /** Set in the `applied` and `outbound` phases. */
  readonly outcome?: O;
  /** Free-form annotations from earlier stages (e.g. `compression.codec`). */
  readonly annotations: Readonly<Record<string, unknown>>;
}

/** Something a stage sends back to the message's peer (a hint, a suggestion). */
export interface Reply {
  readonly kind: string;
  readonly data: unknown;
}

/** The discriminated result of a stage. Stages return these instead of throwing for control flow. */
export type StageResult<E extends Envelope = Envelope> =
  /** Go on, optionally with a replaced (annotated) envelope and replies for the peer. */
  | { readonly type: 'continue'; readonly message?: E; readonly replies?: readonly Reply[] }
  /** Keep the message durably for later review; it is not applied and the peer is told `code`. */
  | { readonly type: 'hold'; readonly code: ErrorCode; readonly reason: string }
  /** Refuse the message (nothing stored or applied); the peer is told `code`. */
  | { readonly type: 'reject'; readonly code: ErrorCode; readonly reason: string }
  /** Answer the peer directly and stop the pipeline for this message. */
  | { readonly type: 'reply'; readonly replies: readonly Reply[] };

/** What a stage gets besides the message. */
export interface StageContext {
  /** Aborted when the stage's budget runs out (async stages only; sync stages get a never-aborting signal). */
  readonly signal: AbortSignal;
  readonly logger: Logger;
  readonly telemetry: TelemetrySink;
  readonly clock: Clock;
}

/**
 * `optimizing` stages fail open (on error or over budget the message passes unchanged);
 * `protecting` stages fail safe (the message is held durably and the peer is told why).
 */
export type StageKind = 'optimizing' | 'protecting';

/** A middleware stage. The pipeline runner owns ordering, budgets, timing and error wrapping. */
export interface Stage<E extends Envelope = Envelope> {
  readonly name: string;
  /** Lower runs first; ties break by name. Built-ins: auth 100, anomaly 200, conflict 300, prefetch 400, compression 500. */
  readonly order: number;
  readonly kind: StageKind;
  /** The phases this stage sees. */
  readonly phases: readonly Phase[];
  /** Per-message time budget in milliseconds (default: the pipeline's). */
  readonly budgetMs?: number;
  /** `async` stages get an abortable signal and a timer; `sync` stages must return a plain result. Default `sync`. */
  readonly mode?: 'sync' | 'async';
  process(message: E, ctx: StageContext): StageResult<E> | Promise<StageResult<E>>;
}

/**
 * Verifies a peer's credentials at handshake and returns who it is. Rejects with a
 * SyncPilotError coded SP_ERR_UNAUTHENTICATED. Implementations live in `src/auth/`.
 */
export interface Authenticator {
  verify(token: string | undefined): Promise<Principal>;
}

import type { Clock } from '../../core/clock.ts';
import type { ErrorCode } from '../../core/errors.ts';
import type { PeerId } from '../../core/ids.ts';
import type { Pipeline, PipelineOutcome } from '../../core/pipeline.ts';
import type { Change } from '../crdt/types.ts';
import { encodeFrame } from '../protocol/frame-codec.ts';
import { nextMessageId, type EngineEnvelope } from './envelope.ts';
import { markSent, missingFrom } from './fanout.ts';
import { chunkChanges } from '../protocol/chunk-changes.ts';
import type { PeerConnection } from './peer-connection.ts';
import type { Room, Subscription } from './room.ts';

export interface OutboxOptions {
  readonly pipeline: Pipeline<EngineEnvelope>;
  readonly maxFrameBytes: number;
  readonly highWaterBytes: number;
  readonly clock: Clock;
  readonly onError: (code: ErrorCode) => void;
}

interface Lagging {
  readonly conn: PeerConnection;
  readonly sub: Subscription;
  readonly room: Room;
}

const DRAIN_CHECK_MS = 20;
const CATCH_UP_SLICE = 4096;

/**
 * Server → peer delivery: the initial delta sync, fan-out of applied changes, the outbound
 * pipeline (per peer, order preserved even when a stage is async), and backpressure: a peer whose
 * socket buffer passes the high-water mark stops receiving fan-out and is resynced from the store
 * once it drains, so a slow peer costs bounded memory and never loses a change.
 */
export class Outbox {
  readonly #o: OutboxOptions;
  readonly #tails = new Map<PeerId, Promise<void>>();
  readonly #lagging = new Map<string, Lagging>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #maxBuffered = 0;
  #lagEvents = 0;

  constructor(options: OutboxOptions) {
    this.#o = options;
  }

  /** Sends `room`'s changes that `sub` lacks as SYNC frames; the last one has `complete: true`. */
  sync(conn: PeerConnection, sub: Subscription, room: Room): void {
    const changes = room.changesSince(sub.sent);
    const clock = room.clock();
    const runs = chunkChanges(changes, Math.floor(this.#o.maxFrameBytes / 2));
    if (runs.length === 0) runs.push([]);
    runs.forEach((run, i) => {
      const complete = i === runs.length - 1;
      this.#deliver(conn, room, run, 'sync', undefined, (changes) => encodeFrame({ type: 'SYNC', doc: room.id, changes, complete, clock }));
    });
    markSent(sub.sent, changes);
  }

  /** Sends newly applied changes to every subscriber of `room` that lacks them. */
  fanout(room: Room, applied: readonly Change[], origin: PeerId, lookup: (peer: PeerId) => PeerConnection | undefined): void {
    let shared: Uint8Array | undefined;
    for (const sub of room.subscribers.values()) {
      if (sub.lagging) continue;
      const conn = lookup(sub.peer);
      if (conn === undefined || conn.state !== 'open') continue;
      const missing = missingFrom(sub.sent, applied);
      if (missing.length === 0) continue;
      if (conn.buffered > this.#o.highWaterBytes) {
        this.#startLagging(conn, sub, room);
        continue;
      }
      markSent(sub.sent, missing);
      const encode = (changes: readonly Change[]): Uint8Array =>
        changes === applied
          ? (shared ??= encodeFrame({ type: 'CHANGES', doc: room.id, changes }))
          : encodeFrame({ type: 'CHANGES', doc: room.id, changes });
      this.#deliver(conn, room, missing, 'changes', origin, encode);
    }
  }

  #deliver(
    conn: PeerConnection,
    room: Room,
    changes: readonly Change[],
    kind: 'changes' | 'sync',
    origin: PeerId | undefined,
    encode: (changes: readonly Change[]) => Uint8Array,
  ): void {
    const pipeline = this.#o.pipeline;
    const tail = this.#tails.get(conn.peer);
    if (pipeline.isEmpty('outbound') && tail === undefined) {
      this.#send(conn, encode(changes));
      return;
    }
    const base = {
      id: nextMessageId(),
      phase: 'outbound' as const,
      kind,
      doc: room.id,
      peer: conn.peer,
      payload: changes,
      bytes: 0,
      receivedAt: this.#o.clock.monotonic(),
      annotations: {},
    };
    const withOrigin = origin === undefined ? base : { ...base, origin };
    const envelope: EngineEnvelope = conn.principal === undefined ? withOrigin : { ...withOrigin, principal: conn.principal };
    const finish = (o: PipelineOutcome<EngineEnvelope>): void => {
      if (o.type === 'continue') {
        this.#send(conn, encode(o.message.payload));
        for (const r of o.replies) conn.send({ type: 'HINT', kind: r.kind, doc: room.id, data: r.data });
        return;
      }
      if (o.type === 'reply') {
        for (const r of o.replies) conn.send({ type: 'HINT', kind: r.kind, doc: room.id, data: r.data });
        return;
      }
      this.#o.onError(o.code);
      conn.send({ type: 'ERROR', code: o.code, message: `${o.stage}: ${o.reason}`, fatal: false, doc: room.id });
    };
    const run = (): void | Promise<void> => {
      const outcome = pipeline.run(envelope);
      if (outcome instanceof Promise) return outcome.then(finish);
      finish(outcome);
    };
    if (tail === undefined) {
      const r = run();
      if (r instanceof Promise) this.#chain(conn.peer, r);
      return;
    }
    this.#chain(conn.peer, tail.then(run));
  }

  #send(conn: PeerConnection, bytes: Uint8Array): void {
    conn.sendBytes(bytes);
    const buffered = conn.buffered;
    if (buffered > this.#maxBuffered) this.#maxBuffered = buffered;
  }

  /** Peers currently lagging, how often any peer started lagging, and the most bytes ever buffered for one peer. */
  stats(): { lagging: number; lagEvents: number; maxBufferedBytes: number } {
    return { lagging: this.#lagging.size, lagEvents: this.#lagEvents, maxBufferedBytes: this.#maxBuffered };
  }

  #chain(peer: PeerId, p: Promise<void>): void {
    const next = p.catch(() => undefined);
    this.#tails.set(peer, next);
    void next.then(() => {
      if (this.#tails.get(peer) === next) this.#tails.delete(peer);
    });
  }

  #startLagging(conn: PeerConnection, sub: Subscription, room: Room): void {
    sub.lagging = true;
    this.#lagEvents++;
    this.#lagging.set(`${conn.peer}\u0000${room.id}`, { conn, sub, room });
    this.#timer ??= setInterval(() => this.#checkLagging(), DRAIN_CHECK_MS);
  }

  #checkLagging(): void {
    for (const [key, l] of this.#lagging) {
      if (l.conn.state !== 'open' || !l.room.subscribers.has(l.conn.peer)) {
        this.#lagging.delete(key);
        continue;
      }
      if (l.conn.buffered > this.#o.highWaterBytes / 2) continue;
      // Catch up from the store in pieces, never buffering much more than the high-water mark.
      const missing = l.room.changesSince(l.sub.sent);
      const budget = Math.max(1024, Math.min(Math.floor(this.#o.maxFrameBytes / 2), this.#o.highWaterBytes));
      // Size at most a few thousand changes per check: a long backlog takes several checks.
      const slice = missing.length > CATCH_UP_SLICE ? missing.slice(0, CATCH_UP_SLICE) : missing;
      const runs = chunkChanges(slice, budget);
      let sent = 0;
      for (const run of runs) {
        if (l.conn.buffered > this.#o.highWaterBytes) break;
        this.#deliver(l.conn, l.room, run, 'sync', undefined, (changes) => encodeFrame({ type: 'CHANGES', doc: l.room.id, changes }));
        markSent(l.sub.sent, run);
        sent++;
      }
      if (sent === runs.length && slice === missing) {
        this.#lagging.delete(key);
        l.sub.lagging = false;
      }
    }
    if (this.#lagging.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lagging.clear();
  }
}

import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { ServerConfig } from '../../core/config.ts';
import { SyncPilotError, toSyncPilotError, type ErrorCode } from '../../core/errors.ts';
import { isValidId, peerId, type ActorId, type DocId, type PeerId } from '../../core/ids.ts';
import { silentLogger, type Logger } from '../../core/logger.ts';
import { Pipeline, type PipelineOutcome } from '../../core/pipeline.ts';
import type { Authenticator, Principal, Reply, Stage } from '../../core/stage.ts';
import type { ApplyResult } from '../crdt/types.ts';
import { NullTelemetrySink, newEventId, type TelemetrySink } from '../../core/telemetry.ts';
import { decodeFrame } from '../protocol/frame-codec.ts';
import {
  CodecId,
  PROTOCOL_VERSIONS,
  type ChangesMessage,
  type CodecName,
  type HelloMessage,
  type SubscribeMessage,
} from '../protocol/messages.ts';
import type { DocStore } from '../store/types.ts';
import { nextMessageId, type EngineEnvelope } from './envelope.ts';
import { PeerConnection, type FrameHandler } from './peer-connection.ts';
import { Room } from './room.ts';
import { Outbox } from './outbox.ts';

export interface SyncServerOptions {
  readonly config: ServerConfig;
  readonly store: DocStore;
  /** Middleware stages; they see inbound, applied and outbound messages. */
  readonly stages?: readonly Stage<EngineEnvelope>[];
  /** Verifies HELLO tokens. Default: everyone may read and write everything (development only). */
  readonly authenticator?: Authenticator;
  readonly telemetry?: TelemetrySink;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Name announced in WELCOME. */
  readonly serverName?: string;
}

export interface ServerStats {
  readonly connections: number;
  readonly rooms: number;
  readonly framesIn: number;
  readonly changesApplied: number;
  /** Peers currently over their high-water mark (fan-out paused, resynced once drained). */
  readonly laggingPeers: number;
  /** How many times any peer went over its high-water mark. */
  readonly lagEvents: number;
  /** The most bytes ever waiting in one peer's socket buffer right after a send. */
  readonly maxPeerBufferedBytes: number;
  readonly errors: Readonly<Partial<Record<ErrorCode, number>>>;
}

/** An inbound message applied in memory, waiting for its room's group commit. */
interface CommitEntry {
  readonly conn: PeerConnection;
  readonly room: Room;
  readonly message: EngineEnvelope;
  readonly replies: readonly Reply[];
  readonly result: ApplyResult & { readonly ticket: number };
  readonly rejected: readonly { actor: string; seq: number }[];
  readonly applyMicros: number;
  readonly t0: number;
}

const ALLOW_ALL: Authenticator = {
  verify: () => Promise.resolve({ subject: 'anonymous', tenant: 'default', read: ['*'], write: ['*'] } satisfies Principal),
};
const SUPPORTED_CODECS = Object.keys(CodecId) as CodecName[];
const HELLO_TIMEOUT_MS = 10_000;
const HEARTBEAT_MS = 30_000;

/**
 * The reference engine's sync server: WebSocket transport, rooms per document, the middleware
 * pipeline around every message, durable acknowledgements, fan-out with backpressure.
 */
export class SyncServer implements FrameHandler {
  readonly #config: ServerConfig;
  readonly #store: DocStore;
  readonly #pipeline: Pipeline<EngineEnvelope>;
  readonly #auth: Authenticator;
  readonly #telemetry: TelemetrySink;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #rooms = new Map<DocId, Room>();
  readonly #conns = new Map<PeerId, PeerConnection>();
  readonly #outbox: Outbox;
  readonly #errors: Partial<Record<ErrorCode, number>> = {};
  #http: HttpServer | undefined;
  #wss: WebSocketServer | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #peerSeq = 0;
  #framesIn = 0;
  #changesApplied = 0;
  #closed = false;
  #commitQueue: CommitEntry[] = [];
  #commitScheduled = false;

  private constructor(options: SyncServerOptions) {
    this.#config = options.config;
    this.#store = options.store;
    this.#auth = options.authenticator ?? ALLOW_ALL;
    this.#telemetry = options.telemetry ?? new NullTelemetrySink();
    this.#logger = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    this.#name = options.serverName ?? 'syncpilot';
    this.#pipeline = new Pipeline(options.stages ?? [], {
      defaultBudgetMs: options.config.stageBudgetMs,
      holds: options.store,
      logger: this.#logger,
      telemetry: this.#telemetry,
      clock: this.#clock,
    });
    this.#outbox = new Outbox({
      pipeline: this.#pipeline,
      maxFrameBytes: options.config.maxFrameBytes,
      highWaterBytes: options.config.highWaterBytes,
      clock: this.#clock,
      onError: (code) => this.#count(code),
    });
  }

  /** Creates the server and starts listening on `config.host:config.port`. */
  static async start(options: SyncServerOptions): Promise<SyncServer> {
    const server = new SyncServer(options);
    await server.#listen();
    return server;
  }

  get port(): number {
    return (this.#http?.address() as AddressInfo | null)?.port ?? 0;
  }

  get url(): string {
    return `ws://${this.#config.host}:${this.port}`;
  }

  get pipeline(): Pipeline<EngineEnvelope> {
    return this.#pipeline;
  }

  stats(): ServerStats {
    const out = this.#outbox.stats();
    return {
      connections: this.#conns.size,
      rooms: this.#rooms.size,
      framesIn: this.#framesIn,
      changesApplied: this.#changesApplied,
      laggingPeers: out.lagging,
      lagEvents: out.lagEvents,
      maxPeerBufferedBytes: out.maxBufferedBytes,
      errors: { ...this.#errors },
    };
  }

  /** The server's current state of a document (opening it if needed), e.g. for convergence checks. */
  room(doc: DocId): Room {
    let room = this.#rooms.get(doc);
    if (room === undefined) {
      room = Room.open(doc, this.#store, {
        maxPending: this.#config.maxPendingChanges,
        snapshotEvery: this.#config.snapshotEvery,
        logger: this.#logger,
      });
      this.#rooms.set(doc, room);
    }
    return room;
  }

  async #listen(): Promise<void> {
    const http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('syncpilot: connect with a WebSocket\n');
    });
    // ws refuses frames over maxPayload itself (close 1009) without buffering them; frames between
    // maxFrameBytes and that bound get our coded SP_ERR_FRAME_TOO_LARGE error and the connection stays up.
    const wss = new WebSocketServer({ server: http, maxPayload: this.#config.maxFrameBytes * 2, perMessageDeflate: false });
    wss.on('connection', (ws) => this.#accept(ws));
    this.#http = http;
    this.#wss = wss;
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.#config.port, this.#config.host, () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  #accept(ws: WebSocket): void {
    const id = peerId(`p${(++this.#peerSeq).toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
    const conn = new PeerConnection(id, ws, this);
    this.#conns.set(id, conn);
    const helloTimer = setTimeout(() => {
      if (conn.state === 'handshake') conn.sendError('SP_ERR_PROTOCOL_STATE', 'no HELLO within 10 s', {}, true);
    }, HELLO_TIMEOUT_MS);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        this.#count('SP_ERR_FRAME_MALFORMED');
        conn.sendError('SP_ERR_FRAME_MALFORMED', 'text frames are not part of the protocol; send binary frames', {}, false);
        return;
      }
      const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      conn.receive(bytes);
    });
    ws.on('pong', () => (conn.alive = true));
    ws.on('error', (err) => {
      // ws reports oversized frames (close 1009) and protocol violations here; the socket closes after.
      this.#count(
        (err as NodeJS.ErrnoException).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'SP_ERR_FRAME_TOO_LARGE' : 'SP_ERR_FRAME_MALFORMED',
      );
      this.#logger.debug('socket error', { peer: id, error: err.message });
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      conn.state = 'closed';
      this.#detach(conn);
    });
  }

  #beat(): void {
    for (const conn of this.#conns.values()) {
      // No pong since the last beat: the peer is gone without closing.
      if (!conn.alive) conn.ws.terminate();
      else {
        conn.alive = false;
        conn.ws.ping();
      }
    }
  }

  #detach(conn: PeerConnection): void {
    this.#conns.delete(conn.peer);
    for (const doc of conn.subscriptions) this.#leave(conn, doc);
  }

  #leave(conn: PeerConnection, doc: DocId): void {
    conn.subscriptions.delete(doc);
    const room = this.#rooms.get(doc);
    if (room === undefined) return;
    room.subscribers.delete(conn.peer);
    if (room.subscribers.size === 0) this.#evict(room);
  }

  /** Closes an unused room after a final snapshot; one with changes awaiting commit is evicted after the commit. */
  #evict(room: Room): void {
    if (room.hasUncommitted || room.subscribers.size > 0 || this.#rooms.get(room.id) !== room) return;
    try {
      room.snapshot();
    } catch (err) {
      this.#logger.warn('snapshot at room close failed', { doc: room.id, error: toSyncPilotError(err).message });
    }
    this.#rooms.delete(room.id);
  }

  #count(code: ErrorCode): void {
    this.#errors[code] = (this.#errors[code] ?? 0) + 1;
  }

  #fail(
    conn: PeerConnection,
    err: unknown,
    extras: { doc?: string; rejected?: readonly { actor: string; seq: number }[] } = {},
    fatal = false,
  ): void {
    const e = toSyncPilotError(err);
    this.#count(e.code);
    if (e.code === 'SP_ERR_INTERNAL' || e.code === 'SP_ERR_STORE')
      this.#logger.error('request failed', { peer: conn.peer, code: e.code, error: e.message });
    conn.sendError(e.code, e.message, extras, fatal);
  }

  /** FrameHandler: one inbound frame of `conn`. Never throws for bad input: the peer gets a coded error. */
  handle(conn: PeerConnection, bytes: Uint8Array): void | Promise<void> {
    this.#framesIn++;
    let frame;
    try {
      frame = decodeFrame(bytes, { maxFrameBytes: this.#config.maxFrameBytes, codecs: [...conn.codecs] });
    } catch (err) {
      const fatal = conn.state === 'handshake';
      this.#fail(conn, err, {}, fatal);
      return;
    }
    const m = frame.message;
    if (conn.state === 'handshake') {
      if (m.type !== 'HELLO') {
        this.#fail(conn, new SyncPilotError('SP_ERR_PROTOCOL_STATE', `expected HELLO, got ${m.type}`), {}, true);
        return;
      }
      return this.#hello(conn, m);
    }
    switch (m.type) {
      case 'SUBSCRIBE':
        return this.#subscribe(conn, m);
      case 'CHANGES':
        return this.#changes(conn, m, bytes.byteLength);
      case 'UNSUBSCRIBE':
        this.#leave(conn, m.doc as DocId);
        return;
      case 'PING':
        conn.send({ type: 'PONG', nonce: m.nonce });
        return;
      case 'PONG':
        return;
      case 'ERROR':
        this.#logger.debug('peer reported an error', { peer: conn.peer, code: m.code, message: m.message });
        return;
      case 'HELLO':
      case 'WELCOME':
      case 'SYNC':
      case 'ACK':
      case 'HINT':
        this.#fail(conn, new SyncPilotError('SP_ERR_PROTOCOL_STATE', `${m.type} is not valid from a client here`));
        return;
    }
  }

  async #hello(conn: PeerConnection, m: HelloMessage): Promise<void> {
    const version = PROTOCOL_VERSIONS.find((v) => m.protocols.includes(v));
    if (version === undefined) {
      this.#fail(
        conn,
        new SyncPilotError('SP_ERR_PROTOCOL_VERSION', `no common protocol version (server speaks ${PROTOCOL_VERSIONS.join(', ')})`),
        {},
        true,
      );
      return;
    }
    if (!isValidId(m.actor)) {
      this.#fail(conn, new SyncPilotError('SP_ERR_PAYLOAD_INVALID', 'actor id must be 1..128 characters of [A-Za-z0-9._:@/-]'), {}, true);
      return;
    }
    let principal: Principal;
    try {
      principal = await this.#auth.verify(m.token);
    } catch (err) {
      this.#fail(conn, toSyncPilotError(err, 'SP_ERR_UNAUTHENTICATED'), {}, true);
      return;
    }
    if (conn.state === 'closed') return;
    // An actor id belongs to the first authenticated subject that used it: someone else reusing it
    // could pre-empt the owner's next seq and make the owner's real change look like a duplicate.
    let owned: boolean;
    try {
      owned = this.#store.claimActor(m.actor, `${principal.tenant}/${principal.subject}`);
    } catch (err) {
      this.#fail(conn, err, {}, true);
      return;
    }
    if (!owned) {
      this.#fail(
        conn,
        new SyncPilotError('SP_ERR_FORBIDDEN', `actor id ${m.actor} belongs to another user; use a fresh actor id`),
        {},
        true,
      );
      return;
    }
    conn.protocol = version;
    conn.actor = m.actor as ActorId;
    conn.principal = principal;
    conn.codecs = new Set<CodecName>(['raw', ...m.codecs.filter((c) => SUPPORTED_CODECS.includes(c))]);
    conn.state = 'open';
    conn.send({
      type: 'WELCOME',
      protocol: version,
      peer: conn.peer,
      server: this.#name,
      codecs: [...conn.codecs],
      capabilities: ['delta-sync', 'acks', 'hints'],
      maxFrameBytes: this.#config.maxFrameBytes,
    });
  }

  #envelope(
    conn: PeerConnection,
    kind: EngineEnvelope['kind'],
    doc: DocId,
    payload: EngineEnvelope['payload'],
    bytes: number,
    annotations: Record<string, unknown> = {},
  ): EngineEnvelope {
    const base = {
      id: nextMessageId(),
      phase: 'inbound' as const,
      kind,
      doc,
      peer: conn.peer,
      payload,
      bytes,
      receivedAt: this.#clock.monotonic(),
      annotations,
    };
    return conn.principal === undefined ? base : { ...base, principal: conn.principal };
  }

  #subscribe(conn: PeerConnection, m: SubscribeMessage): void | Promise<void> {
    const doc = m.doc as DocId;
    if (!isValidId(m.doc)) {
      this.#fail(conn, new SyncPilotError('SP_ERR_PAYLOAD_INVALID', 'invalid document id'), { doc: m.doc });
      return;
    }
    const outcome = this.#pipeline.run(this.#envelope(conn, 'subscribe', doc, [], 0, { clock: m.clock }));
    const finish = (o: PipelineOutcome<EngineEnvelope>): void => {
      if (o.type !== 'continue') return this.#refused(conn, doc, o, []);
      if (conn.state === 'closed') return;
      let room: Room;
      try {
        room = this.room(doc);
      } catch (err) {
        return this.#fail(conn, err, { doc });
      }
      const sent: Record<string, number> = { ...m.clock };
      const sub = { peer: conn.peer, sent, lagging: false };
      room.subscribers.set(conn.peer, sub);
      conn.subscriptions.add(doc);
      this.#outbox.sync(conn, sub, room);
      this.#replies(conn, doc, o.replies);
      this.#telemetry.emit({
        type: 'syncpilot.access.v1',
        id: newEventId(),
        time: this.#clock.now(),
        tenant: conn.principal?.tenant ?? 'default',
        key: doc,
        data: { doc, peer: conn.peer, actor: conn.actor, subject: conn.principal?.subject, action: 'open' },
      });
    };
    if (outcome instanceof Promise) return outcome.then(finish);
    finish(outcome);
  }

  #changes(conn: PeerConnection, m: ChangesMessage, bytes: number): void | Promise<void> {
    const doc = m.doc as DocId;
    const rejected = m.changes.map((c) => ({ actor: c.actor, seq: c.seq }));
    if (!conn.subscriptions.has(doc)) {
      this.#fail(conn, new SyncPilotError('SP_ERR_PROTOCOL_STATE', 'SUBSCRIBE to a document before sending changes to it'), {
        doc,
        rejected,
      });
      return;
    }
    for (const c of m.changes) {
      if (c.actor !== conn.actor) {
        this.#fail(
          conn,
          new SyncPilotError('SP_ERR_FORBIDDEN', `a peer may only send its own changes (actor ${conn.actor ?? '?'}), not ${c.actor}'s`),
          { doc, rejected },
        );
        return;
      }
    }
    const envelope = this.#envelope(conn, 'changes', doc, m.changes, bytes);
    const outcome = this.#pipeline.run(envelope);
    if (outcome instanceof Promise) return outcome.then((o) => this.#afterInbound(conn, doc, o, rejected));
    return this.#afterInbound(conn, doc, outcome, rejected);
  }

  #afterInbound(
    conn: PeerConnection,
    doc: DocId,
    o: PipelineOutcome<EngineEnvelope>,
    rejected: readonly { actor: string; seq: number }[],
  ): void | Promise<void> {
    if (o.type !== 'continue') return this.#refused(conn, doc, o, rejected);
    const room = this.#rooms.get(doc);
    if (room === undefined) return;
    const t0 = this.#clock.monotonic();
    let result;
    try {
      result = room.applyPending(o.message.payload);
    } catch (err) {
      return this.#fail(conn, err, { doc, rejected });
    }
    const applyMicros = (this.#clock.monotonic() - t0) * 1000;
    if (result.refused !== undefined) {
      // Some changes of the batch were refused; the accepted ones go on below.
      const details = result.refused.details['rejected'];
      const refused = Array.isArray(details)
        ? details.flatMap((r: { actor?: unknown; seq?: unknown }) =>
            typeof r.actor === 'string' && typeof r.seq === 'number' ? [{ actor: r.actor, seq: r.seq }] : [],
          )
        : rejected;
      this.#fail(conn, result.refused, { doc, rejected: refused });
    }
    // Group commit: everything applied in this turn of the event loop is made durable in one
    // transaction per document, then acknowledged and fanned out.
    this.#commitQueue.push({ conn, room, message: o.message, replies: o.replies, result, rejected, applyMicros, t0 });
    if (!this.#commitScheduled) {
      this.#commitScheduled = true;
      setImmediate(() => this.#flushCommits());
    }
  }

  /** Commits every room touched since the last flush, then acknowledges and fans out in arrival order. */
  #flushCommits(): void {
    this.#commitScheduled = false;
    const queue = this.#commitQueue;
    this.#commitQueue = [];
    const failed = new Map<Room, unknown>();
    for (const entry of queue) {
      if (failed.has(entry.room)) continue;
      try {
        entry.room.commit();
      } catch (err) {
        failed.set(entry.room, err);
      }
    }
    for (const entry of queue) {
      const err = failed.get(entry.room);
      if (err !== undefined && entry.room.isLost(entry.result.ticket)) {
        this.#fail(entry.conn, err, { doc: entry.room.id, rejected: entry.rejected });
        continue;
      }
      try {
        const pending = this.#finishInbound(entry);
        if (pending instanceof Promise) pending.catch((e: unknown) => this.#fail(entry.conn, e, { doc: entry.room.id }));
      } catch (e) {
        this.#fail(entry.conn, e, { doc: entry.room.id });
      }
    }
    for (const room of new Set(queue.map((e) => e.room))) if (room.subscribers.size === 0) this.#evict(room);
  }

  #finishInbound(entry: CommitEntry): void | Promise<void> {
    const { conn, room, message, result } = entry;
    const doc = room.id;
    if (conn.state === 'closed' && result.applied.length === 0) return;
    this.#changesApplied += result.applied.length;
    this.#ack(room, conn, result.applied);
    const origin = room.subscribers.get(conn.peer);
    if (origin !== undefined)
      for (const c of message.payload)
        if ((origin.sent[c.actor] ?? 0) < c.seq && room.doc.hasChange(c.actor, c.seq)) origin.sent[c.actor] = c.seq;
    this.#replies(conn, doc, entry.replies);
    this.#telemetry.emit({
      type: 'syncpilot.sync-latency.v1',
      id: newEventId(),
      time: this.#clock.now(),
      tenant: conn.principal?.tenant ?? 'default',
      key: doc,
      data: {
        doc,
        peer: conn.peer,
        changes: message.payload.length,
        applied: result.applied.length,
        bytes: message.bytes,
        applyMicros: entry.applyMicros,
        queuedMicros: (entry.t0 - message.receivedAt) * 1000,
      },
    });
    if (result.applied.length === 0) return;
    const applied: EngineEnvelope = { ...message, phase: 'applied', outcome: result };
    const after = this.#pipeline.isEmpty('applied') ? undefined : this.#pipeline.run(applied);
    const fanout = (a: PipelineOutcome<EngineEnvelope> | undefined): void => {
      if (a !== undefined && a.type === 'continue') this.#replies(conn, doc, a.replies);
      this.#outbox.fanout(room, result.applied, conn.peer, (peer) => this.#conns.get(peer));
    };
    if (after instanceof Promise) return after.then(fanout);
    fanout(after);
  }

  /** Acknowledges every actor whose changes are now durable, to its connected peers in the room. */
  #ack(room: Room, origin: PeerConnection, applied: readonly { actor: string }[]): void {
    const clock = room.clock();
    const originSeq = origin.actor === undefined ? 0 : (clock[origin.actor] ?? 0);
    // Duplicates are acknowledged too: the sender may have missed the first ack.
    if (originSeq > 0 && origin.actor !== undefined) origin.send({ type: 'ACK', doc: room.id, actor: origin.actor, seq: originSeq });
    if (applied.length === 0) return;
    const actors = new Set(applied.map((c) => c.actor));
    actors.delete(origin.actor ?? '');
    if (actors.size === 0) return;
    for (const sub of room.subscribers.values()) {
      const peer = this.#conns.get(sub.peer);
      if (peer?.actor !== undefined && actors.has(peer.actor))
        peer.send({ type: 'ACK', doc: room.id, actor: peer.actor, seq: clock[peer.actor] ?? 0 });
    }
  }

  #refused(
    conn: PeerConnection,
    doc: DocId,
    o: Exclude<PipelineOutcome<EngineEnvelope>, { type: 'continue' }>,
    rejected: readonly { actor: string; seq: number }[],
  ): void {
    switch (o.type) {
      case 'reject':
        this.#fail(conn, new SyncPilotError(o.code, `${o.stage}: ${o.reason}`), { doc, rejected });
        return;
      case 'hold':
        this.#fail(
          conn,
          new SyncPilotError('SP_ERR_HELD', `${o.stage} held the message for review (${o.code}: ${o.reason}); hold id ${o.holdId}`),
          { doc, rejected },
        );
        return;
      case 'reply':
        this.#replies(conn, doc, o.replies);
        return;
    }
  }

  #replies(conn: PeerConnection, doc: DocId, replies: readonly { kind: string; data: unknown }[]): void {
    for (const r of replies) conn.send({ type: 'HINT', kind: r.kind, doc, data: r.data });
  }

  /** Stops accepting, closes every connection, snapshots open rooms. The store is the caller's to close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#flushCommits();
    this.#outbox.close();
    for (const conn of this.#conns.values()) conn.close(1001, 'server shutting down');
    for (const room of this.#rooms.values()) {
      try {
        room.snapshot();
      } catch (err) {
        this.#logger.warn('snapshot at shutdown failed', { doc: room.id, error: toSyncPilotError(err).message });
      }
    }
    this.#rooms.clear();
    await new Promise<void>((resolve) => (this.#wss ? this.#wss.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.#http ? this.#http.close(() => resolve()) : resolve()));
  }
}

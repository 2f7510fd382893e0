import { SyncPilotError, isErrorCode, type ErrorCode } from '../../core/errors.ts';
import { actorId, isValidId, type ActorId } from '../../core/ids.ts';
import type { Change } from '../crdt/types.ts';
import { chunkChanges } from '../protocol/chunk-changes.ts';
import { decodeFrame, encodeFrame } from '../protocol/frame-codec.ts';
import { PROTOCOL_VERSIONS, type CodecName, type ProtocolMessage } from '../protocol/messages.ts';
import { ClientDoc, type DocTransport } from './client-doc.ts';
import { Emitter } from './emitter.ts';

/** The part of the WHATWG WebSocket API the client uses (browsers' global, Node's `ws`). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface SyncClientOptions {
  /** `ws://host:port` of a syncpilot server. */
  readonly url: string;
  /** This replica's actor id; default a random one. Reuse it only for the same replica's state. */
  readonly actor?: string;
  /** Bearer token for the server's authenticator, or a function that returns a fresh one per connection. */
  readonly token?: string | (() => string | Promise<string>);
  /** WebSocket implementation; default `globalThis.WebSocket` (browsers). In Node 20 pass `ws`'s `WebSocket`. */
  readonly WebSocket?: WebSocketConstructor;
  /** Payload codecs this client can decode; default raw only. */
  readonly codecs?: readonly CodecName[];
  /** Reconnect with exponential backoff and jitter; `false` disables. Default 100 ms → 5 s. */
  readonly reconnect?: false | { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  readonly clientName?: string;
}

export type ClientState = 'idle' | 'connecting' | 'open' | 'closed';

export type SyncClientEvents = {
  open: () => void;
  /** The connection dropped; the client reconnects unless closed or reconnect is off. */
  disconnect: (code: number, reason: string) => void;
  /** A coded error from the server, or a local protocol failure. */
  error: (error: SyncPilotError, doc: string | undefined) => void;
  /** A hint or suggestion from a server stage. */
  hint: (kind: string, doc: string | undefined, data: unknown) => void;
};

const OPEN = 1;
const MAX_INBOUND_FRAME = 256 * 1024 * 1024;
/** Codes after which resending the same changes cannot succeed until something changes on the server side. */
const FINAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'SP_ERR_FORBIDDEN',
  'SP_ERR_CHANGE_INVALID',
  'SP_ERR_HELD',
  'SP_ERR_UNAUTHENTICATED',
]);

/**
 * The reference engine's client, for Node and browsers. Open documents with `open(id)`; local
 * changes apply at once, queue while offline and are resent after a reconnect until acknowledged,
 * without loss or duplication (the server is idempotent per (actor, seq)).
 */
export class SyncClient extends Emitter<SyncClientEvents> implements DocTransport {
  readonly actor: ActorId;
  readonly #o: SyncClientOptions;
  readonly #WS: WebSocketConstructor;
  readonly #docs = new Map<string, ClientDoc>();
  #ws: WebSocketLike | undefined;
  #state: ClientState = 'idle';
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #maxFrameBytes = 4 * 1024 * 1024;
  #connectWaiters: { resolve: () => void; reject: (e: SyncPilotError) => void }[] = [];
  #nonce = 0;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(options: SyncClientOptions) {
    super();
    const actor = options.actor ?? `c-${Math.random().toString(36).slice(2, 12)}`;
    if (!isValidId(actor)) throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'actor id must be 1..128 characters of [A-Za-z0-9._:@/-]');
    this.actor = actorId(actor);
    this.#o = options;
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (WS === undefined)
      throw new SyncPilotError(
        'SP_ERR_CONFIG_INVALID',
        'no WebSocket implementation: pass options.WebSocket (in Node 20: `import { WebSocket } from "ws"`)',
      );
    this.#WS = WS;
  }

  get state(): ClientState {
    return this.#state;
  }

  /** Connects (and keeps reconnecting); resolves once the server welcomed us. */
  connect(): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(new SyncPilotError('SP_ERR_CLOSED', 'client was closed'));
    if (this.#state === 'open') return Promise.resolve();
    const waiter = new Promise<void>((resolve, reject) => this.#connectWaiters.push({ resolve, reject }));
    if (this.#state === 'idle') this.#dial();
    return waiter;
  }

  /** Opens (subscribes to) a document; returns the same ClientDoc for the same id. */
  open(id: string): ClientDoc {
    if (!isValidId(id)) throw new SyncPilotError('SP_ERR_PAYLOAD_INVALID', `invalid document id "${id}"`);
    let doc = this.#docs.get(id);
    if (doc !== undefined) return doc;
    doc = new ClientDoc(id, this.actor, this);
    this.#docs.set(id, doc);
    if (this.#state === 'open') this.#subscribe(doc);
    return doc;
  }

  /** DocTransport: send local changes now if connected; otherwise they wait in the doc's queue. */
  sendChanges(doc: ClientDoc, changes: readonly Change[]): void {
    if (this.#state === 'open') this.#send({ type: 'CHANGES', doc: doc.id, changes });
  }

  /** DocTransport */
  unsubscribe(doc: ClientDoc): void {
    this.#docs.delete(doc.id);
    if (this.#state === 'open') this.#send({ type: 'UNSUBSCRIBE', doc: doc.id });
  }

  /** Closes the connection for good. Unacknowledged changes remain readable in each doc's `pending`. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#retryTimer);
    const ws = this.#ws;
    this.#ws = undefined;
    for (const w of this.#connectWaiters) w.reject(new SyncPilotError('SP_ERR_CLOSED', 'client closed before connecting'));
    this.#connectWaiters = [];
    if (ws !== undefined && ws.readyState <= OPEN) {
      await new Promise<void>((resolve) => {
        ws.onclose = () => resolve();
        ws.close(1000, 'client closed');
        setTimeout(resolve, 1000).unref?.();
      });
    }
  }

  /** Drops the connection without closing the client (it reconnects): for tests and network changes. */
  dropConnection(): void {
    this.#ws?.close(4000, 'dropped by client');
  }

  #dial(): void {
    this.#state = 'connecting';
    let ws: WebSocketLike;
    try {
      ws = new this.#WS(this.#o.url);
    } catch (err) {
      this.#emitError(new SyncPilotError('SP_ERR_CONFIG_INVALID', `cannot connect to ${this.#o.url}`, { cause: err }), undefined);
      this.#scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.onopen = () => void this.#hello(ws);
    ws.onmessage = (ev) => this.#onMessage(ws, ev.data);
    ws.onerror = () => undefined; // onclose follows and handles it
    ws.onclose = (ev) => this.#onClose(ws, ev.code, ev.reason);
  }

  async #hello(ws: WebSocketLike): Promise<void> {
    const t = this.#o.token;
    let token: string | undefined;
    try {
      token = typeof t === 'function' ? await t() : t;
    } catch (err) {
      this.#emitError(new SyncPilotError('SP_ERR_UNAUTHENTICATED', 'token provider failed', { cause: err }), undefined);
      ws.close(4001, 'no token');
      return;
    }
    if (this.#ws !== ws) return;
    this.#sendOn(ws, {
      type: 'HELLO',
      protocols: [...PROTOCOL_VERSIONS],
      actor: this.actor,
      client: this.#o.clientName ?? 'syncpilot-client',
      codecs: [...(this.#o.codecs ?? ['raw'])],
      capabilities: ['delta-sync', 'acks', 'hints'],
      ...(token === undefined ? {} : { token }),
    });
  }

  #onMessage(ws: WebSocketLike, data: unknown): void {
    if (this.#ws !== ws) return;
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : undefined;
    if (bytes === undefined)
      return this.#emitError(new SyncPilotError('SP_ERR_FRAME_MALFORMED', 'server sent a non-binary frame'), undefined);
    this.bytesReceived += bytes.byteLength;
    let m: ProtocolMessage;
    try {
      m = decodeFrame(bytes, { maxFrameBytes: MAX_INBOUND_FRAME }).message;
    } catch (err) {
      return this.#emitError(err instanceof SyncPilotError ? err : new SyncPilotError('SP_ERR_FRAME_MALFORMED', String(err)), undefined);
    }
    switch (m.type) {
      case 'WELCOME':
        return this.#welcome(m.maxFrameBytes);
      case 'SYNC':
      case 'CHANGES': {
        const doc = this.#docs.get(m.doc);
        if (doc === undefined) return;
        try {
          doc.receive(m.changes, m.type === 'SYNC' && m.complete);
        } catch (err) {
          this.#emitError(err instanceof SyncPilotError ? err : new SyncPilotError('SP_ERR_INTERNAL', String(err)), m.doc);
        }
        return;
      }
      case 'ACK':
        if (m.actor === this.actor) this.#docs.get(m.doc)?.ack(m.seq);
        return;
      case 'ERROR': {
        const code = isErrorCode(m.code) ? m.code : 'SP_ERR_INTERNAL';
        const retryable = !FINAL_CODES.has(code);
        this.#emitError(new SyncPilotError(code, m.message, { retryable, details: { rejected: m.rejected ?? [] } }), m.doc);
        if (retryable && m.rejected !== undefined && m.rejected.length > 0 && m.doc !== undefined) this.#retryLater(m.doc);
        return;
      }
      case 'HINT':
        this.emit('hint', m.kind, m.doc, m.data);
        return;
      case 'PING':
        this.#send({ type: 'PONG', nonce: m.nonce });
        return;
      case 'PONG':
      case 'HELLO':
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        return;
    }
  }

  #welcome(maxFrameBytes: number): void {
    this.#maxFrameBytes = maxFrameBytes;
    this.#state = 'open';
    this.#attempt = 0;
    for (const doc of this.#docs.values()) this.#subscribe(doc);
    const waiters = this.#connectWaiters;
    this.#connectWaiters = [];
    for (const w of waiters) w.resolve();
    this.emit('open');
  }

  /** Subscribes with our clock (delta sync) and resends what the server has not acknowledged. */
  #subscribe(doc: ClientDoc): void {
    doc.resetSync();
    this.#send({ type: 'SUBSCRIBE', doc: doc.id, clock: doc.crdt.clock() });
    this.#resend(doc);
  }

  #resend(doc: ClientDoc): void {
    const pending = doc.pending;
    if (pending.length === 0) return;
    // Keep frames well under the server's limit, measured by their real encoded size.
    for (const run of chunkChanges(pending, Math.floor(this.#maxFrameBytes / 4)))
      this.#send({ type: 'CHANGES', doc: doc.id, changes: run });
  }

  #retryLater(docId: string): void {
    setTimeout(() => {
      const doc = this.#docs.get(docId);
      if (doc !== undefined && this.#state === 'open') this.#resend(doc);
    }, 250).unref?.();
  }

  #onClose(ws: WebSocketLike, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    const wasOpen = this.#state === 'open';
    for (const doc of this.#docs.values()) doc.resetSync();
    if (this.#state === 'closed') return;
    if (wasOpen) this.emit('disconnect', code, reason);
    if (code === 1008 && (reason === 'SP_ERR_UNAUTHENTICATED' || reason === 'SP_ERR_PROTOCOL_VERSION' || reason === 'SP_ERR_FORBIDDEN')) {
      // The server will refuse us again: stop and tell whoever waits.
      const e = new SyncPilotError(reason, `server refused the connection: ${reason}`);
      for (const w of this.#connectWaiters) w.reject(e);
      this.#connectWaiters = [];
      this.#state = 'idle';
      return;
    }
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#o.reconnect === false) {
      this.#state = 'idle';
      const e = new SyncPilotError('SP_ERR_CLOSED', 'connection closed and reconnect is off');
      for (const w of this.#connectWaiters) w.reject(e);
      this.#connectWaiters = [];
      return;
    }
    this.#state = 'connecting';
    const initial = this.#o.reconnect?.initialDelayMs ?? 100;
    const max = this.#o.reconnect?.maxDelayMs ?? 5000;
    const delay = Math.min(max, initial * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#attempt++;
    this.#retryTimer = setTimeout(() => this.#dial(), delay);
  }

  #send(message: ProtocolMessage): void {
    const ws = this.#ws;
    if (ws !== undefined) this.#sendOn(ws, message);
  }

  #sendOn(ws: WebSocketLike, message: ProtocolMessage): void {
    if (ws.readyState !== OPEN) return;
    const bytes = encodeFrame(message);
    this.bytesSent += bytes.byteLength;
    ws.send(bytes);
  }

  /** Sends a PING (keeps intermediaries from idling the connection out). */
  ping(): void {
    this.#send({ type: 'PING', nonce: ++this.#nonce });
  }

  #emitError(error: SyncPilotError, doc: string | undefined): void {
    this.emit('error', error, doc);
  }
}

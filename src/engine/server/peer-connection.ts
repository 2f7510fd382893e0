import type { WebSocket } from 'ws';
import type { ErrorCode } from '../../core/errors.ts';
import { toSyncPilotError } from '../../core/errors.ts';
import type { ActorId, DocId, PeerId } from '../../core/ids.ts';
import type { Principal } from '../../core/stage.ts';
import { encodeFrame } from '../protocol/frame-codec.ts';
import type { CodecName, ErrorMessage, ProtocolMessage } from '../protocol/messages.ts';

export type ConnectionState = 'handshake' | 'open' | 'closed';

/** What a connection asks of the server for each inbound frame. */
export interface FrameHandler {
  /** Handles one frame's bytes; may return a promise, and the next frame waits for it (per-peer order). */
  handle(conn: PeerConnection, bytes: Uint8Array): void | Promise<void>;
}

/** Frames a peer may have waiting while an asynchronous stage runs before the server pauses its socket. */
const MAX_QUEUED_FRAMES = 1024;

/**
 * One client connection: protocol state, identity, subscriptions, and the per-peer ordering of
 * inbound frames (a frame is handled only after the previous one finished, even when a stage is async).
 */
export class PeerConnection {
  readonly peer: PeerId;
  readonly ws: WebSocket;
  state: ConnectionState = 'handshake';
  actor: ActorId | undefined;
  principal: Principal | undefined;
  protocol = 0;
  codecs: ReadonlySet<CodecName> = new Set<CodecName>(['raw']);
  readonly subscriptions = new Set<DocId>();
  readonly connectedAt = Date.now();
  /** Whether the peer answered the last heartbeat ping. */
  alive = true;
  framesIn = 0;
  bytesIn = 0;
  bytesOut = 0;
  readonly #handler: FrameHandler;
  readonly #queue: Uint8Array[] = [];
  #busy = false;
  #paused = false;
  #corked = false;

  constructor(peer: PeerId, ws: WebSocket, handler: FrameHandler) {
    this.peer = peer;
    this.ws = ws;
    this.#handler = handler;
  }

  /** Called for every binary message from the socket. */
  receive(bytes: Uint8Array): void {
    this.framesIn++;
    this.bytesIn += bytes.byteLength;
    if (this.#busy) {
      this.#queue.push(bytes);
      if (this.#queue.length >= MAX_QUEUED_FRAMES && !this.#paused) {
        // Backpressure on a fast sender: stop reading its socket until the queue drains.
        this.#paused = true;
        this.ws.pause();
      }
      return;
    }
    this.#dispatch(bytes);
  }

  #dispatch(bytes: Uint8Array): void {
    let pending: void | Promise<void>;
    try {
      pending = this.#handler.handle(this, bytes);
    } catch (err) {
      this.sendError(toSyncPilotError(err).code, toSyncPilotError(err).message, {}, false);
      pending = undefined;
    }
    if (pending instanceof Promise) {
      this.#busy = true;
      pending
        .catch((err: unknown) => {
          const e = toSyncPilotError(err);
          this.sendError(e.code, e.message, {}, false);
        })
        .finally(() => {
          this.#busy = false;
          this.#drain();
        });
    }
  }

  #drain(): void {
    while (!this.#busy && this.#queue.length > 0 && this.state !== 'closed') {
      this.#dispatch(this.#queue.shift() as Uint8Array);
    }
    if (this.#paused && this.#queue.length < MAX_QUEUED_FRAMES / 2) {
      this.#paused = false;
      this.ws.resume();
    }
  }

  /**
   * Corks the TCP socket until the end of this tick, so that every frame sent to this peer in one
   * turn of the event loop (acks, fan-out of a group commit) leaves in one writev instead of one
   * system call per frame. `_socket` is ws's own (undocumented but stable) handle on the socket.
   */
  #cork(): void {
    if (this.#corked) return;
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (socket === undefined) return;
    this.#corked = true;
    socket.cork();
    process.nextTick(() => {
      this.#corked = false;
      socket.uncork();
    });
  }

  /** Bytes waiting in the socket's send buffer. */
  get buffered(): number {
    return this.ws.bufferedAmount;
  }

  send(message: ProtocolMessage, codec: CodecName = 'raw'): void {
    if (this.state === 'closed') return;
    this.sendBytes(encodeFrame(message, { codec, version: this.protocol || undefined }));
  }

  /** Sends an already encoded frame (fan-out encodes once for all peers). */
  sendBytes(bytes: Uint8Array): void {
    if (this.state === 'closed' || this.ws.readyState !== this.ws.OPEN) return;
    this.bytesOut += bytes.byteLength;
    this.#cork();
    this.ws.send(bytes, { binary: true });
  }

  sendError(code: ErrorCode, message: string, extras: Partial<Pick<ErrorMessage, 'doc' | 'rejected'>>, fatal: boolean): void {
    const msg: ErrorMessage = { type: 'ERROR', code, message, fatal, ...extras };
    this.send(msg);
    if (fatal) this.close(1008, code);
  }

  close(code = 1000, reason = ''): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.#queue.length = 0;
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      this.ws.terminate();
    }
  }
}

import type { ErrorCode } from '../../core/errors.ts';
import type { Change, VersionVector } from '../crdt/types.ts';

/** The wire protocol versions this build speaks, newest first. */
export const PROTOCOL_VERSIONS = [1] as const;
export const PROTOCOL_VERSION = 1;

/** Frame types (one byte on the wire). Values are stable; never reuse one. */
export const FrameType = {
  HELLO: 1,
  WELCOME: 2,
  SUBSCRIBE: 3,
  SYNC: 4,
  CHANGES: 5,
  ACK: 6,
  UNSUBSCRIBE: 7,
  ERROR: 8,
  HINT: 9,
  PING: 10,
  PONG: 11,
} as const;
export type FrameTypeName = keyof typeof FrameType;

/** Codec ids (one byte on the wire): how the payload bytes are compressed. */
export const CodecId = { raw: 0, gzip: 1, brotli: 2, deflate: 3 } as const;
export type CodecName = keyof typeof CodecId;

/** Client → server, first frame: who I am, what I speak. */
export interface HelloMessage {
  readonly type: 'HELLO';
  readonly protocols: readonly number[];
  readonly actor: string;
  readonly client: string;
  readonly token?: string;
  readonly codecs: readonly CodecName[];
  readonly capabilities: readonly string[];
}
/** Server → client, answer to HELLO: the chosen version and what both sides can use. */
export interface WelcomeMessage {
  readonly type: 'WELCOME';
  readonly protocol: number;
  readonly peer: string;
  readonly server: string;
  readonly codecs: readonly CodecName[];
  readonly capabilities: readonly string[];
  readonly maxFrameBytes: number;
}
/** Client → server: open a document; `clock` is what the client already has (delta sync). */
export interface SubscribeMessage {
  readonly type: 'SUBSCRIBE';
  readonly doc: string;
  readonly clock: VersionVector;
}
/** Server → client: the changes the client lacks; `complete` marks the end of the initial sync. */
export interface SyncMessage {
  readonly type: 'SYNC';
  readonly doc: string;
  readonly changes: readonly Change[];
  readonly complete: boolean;
  /** The server's version vector for the document after these changes. */
  readonly clock: VersionVector;
}
/** Either direction: new changes to a document. */
export interface ChangesMessage {
  readonly type: 'CHANGES';
  readonly doc: string;
  readonly changes: readonly Change[];
}
/** Server → client: every change of `actor` up to `seq` on `doc` is durable. */
export interface AckMessage {
  readonly type: 'ACK';
  readonly doc: string;
  readonly actor: string;
  readonly seq: number;
}
export interface UnsubscribeMessage {
  readonly type: 'UNSUBSCRIBE';
  readonly doc: string;
}
/** Either direction: a coded error. `fatal` means the sender closes the connection after it. */
export interface ErrorMessage {
  readonly type: 'ERROR';
  readonly code: ErrorCode;
  readonly message: string;
  readonly fatal: boolean;
  readonly doc?: string;
  /** For rejected changes: the (actor, seq) pairs that were not applied. */
  readonly rejected?: readonly { readonly actor: string; readonly seq: number }[];
}
/** Server → client: hints and suggestions from policy stages (prefetch, conflict suggestions …). */
export interface HintMessage {
  readonly type: 'HINT';
  readonly kind: string;
  readonly doc?: string;
  readonly data: unknown;
}
export interface PingMessage {
  readonly type: 'PING';
  readonly nonce: number;
}
export interface PongMessage {
  readonly type: 'PONG';
  readonly nonce: number;
}

export type ProtocolMessage =
  | HelloMessage
  | WelcomeMessage
  | SubscribeMessage
  | SyncMessage
  | ChangesMessage
  | AckMessage
  | UnsubscribeMessage
  | ErrorMessage
  | HintMessage
  | PingMessage
  | PongMessage;

/** One decoded frame: header fields plus the message. */
export interface Frame {
  readonly version: number;
  readonly codec: CodecName;
  readonly flags: number;
  readonly message: ProtocolMessage;
}

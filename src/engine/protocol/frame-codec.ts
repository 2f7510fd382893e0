import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import { compressPayload, decompressPayload } from './compression.ts';
import { CodecId, FrameType, PROTOCOL_VERSION, PROTOCOL_VERSIONS } from './messages.ts';
import type { CodecName, Frame, FrameTypeName, ProtocolMessage } from './messages.ts';
import { decodePayload, encodePayload } from './payload-codec.ts';

/**
 * Versioned binary frames. Header: byte 0 protocol version, byte 1 frame type ({@link FrameType}),
 * byte 2 codec id ({@link CodecId}), byte 3 flags (carried, not interpreted here); then the payload,
 * compressed with that codec.
 */

export const FRAME_HEADER_BYTES = 4;
/** The default decoded-size limit is 4 × maxFrameBytes, but never more than this (unless maxFrameBytes is). */
export const DEFAULT_MAX_DECODED_CAP = 256 * 1024 * 1024;
/** An explicit maxDecodedBytes may not exceed this. */
export const MAX_DECODED_LIMIT = 1024 * 1024 * 1024;

export interface FrameCodecOptions {
  /** Frames longer than this are refused before any parsing. A positive integer. */
  readonly maxFrameBytes: number;
  /**
   * Payloads that decompress to more than this are refused, without decompressing the rest.
   * Default: 4 × maxFrameBytes, capped at {@link DEFAULT_MAX_DECODED_CAP} (but at least maxFrameBytes).
   */
  readonly maxDecodedBytes?: number | undefined;
  /** Codecs accepted on decode (the negotiated ones). Default: all. */
  readonly codecs?: readonly CodecName[] | undefined;
}

export interface EncodeFrameOptions {
  /** Default `raw`. */
  readonly codec?: CodecName | undefined;
  /** Compression level: zlib −1..9 (default 6), brotli 0..11 (default 4). Ignored for `raw`. */
  readonly level?: number | undefined;
  /** Header version byte; default {@link PROTOCOL_VERSION}. */
  readonly version?: number | undefined;
  /** Header flags byte; default 0. */
  readonly flags?: number | undefined;
}

const FRAME_TYPE_NAMES = new Map<number, FrameTypeName>(Object.entries(FrameType).map(([name, id]) => [id, name as FrameTypeName]));
const CODEC_NAMES = new Map<number, CodecName>(Object.entries(CodecId).map(([name, id]) => [id, name as CodecName]));
const SUPPORTED_VERSIONS: ReadonlySet<number> = new Set(PROTOCOL_VERSIONS);

function checkByte(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 255)
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `${what} must be an integer 0..255`);
}

/**
 * Encodes `message` as one frame. The message is validated first.
 * @throws SyncPilotError SP_ERR_PAYLOAD_INVALID (invalid message), SP_ERR_CODEC_UNSUPPORTED
 *   (unknown codec), SP_ERR_CONFIG_INVALID (bad version, flags or level).
 */
export function encodeFrame(message: ProtocolMessage, options: EncodeFrameOptions = {}): Uint8Array {
  const codec = options.codec ?? 'raw';
  const version = options.version ?? PROTOCOL_VERSION;
  const flags = options.flags ?? 0;
  checkByte(version, 'version');
  checkByte(flags, 'flags');
  if (!Object.hasOwn(CodecId, codec)) throw new SyncPilotError('SP_ERR_CODEC_UNSUPPORTED', `unknown codec ${String(codec)}`);
  // Raw frames are written in place behind a reserved header: no copy.
  let frame = encodePayload(message, FRAME_HEADER_BYTES);
  const typeId = FrameType[message.type];
  if (codec !== 'raw') {
    const body = compressPayload(codec, frame.subarray(FRAME_HEADER_BYTES), options.level);
    frame = new Uint8Array(FRAME_HEADER_BYTES + body.length);
    frame.set(body, FRAME_HEADER_BYTES);
  }
  frame[0] = version;
  frame[1] = typeId;
  frame[2] = CodecId[codec];
  frame[3] = flags;
  return frame;
}

/** The effective decoded-size limit for `options`. Throws SP_ERR_CONFIG_INVALID for bad options. */
export function maxDecodedBytesOf(options: FrameCodecOptions): number {
  if (typeof options !== 'object' || options === null)
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'frame codec options are required');
  const { maxFrameBytes, maxDecodedBytes } = options;
  if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < 1) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', 'maxFrameBytes must be a positive integer');
  }
  if (maxDecodedBytes === undefined) return Math.max(maxFrameBytes, Math.min(4 * maxFrameBytes, DEFAULT_MAX_DECODED_CAP));
  if (!Number.isSafeInteger(maxDecodedBytes) || maxDecodedBytes < 1 || maxDecodedBytes > MAX_DECODED_LIMIT) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `maxDecodedBytes must be an integer 1..${MAX_DECODED_LIMIT}`);
  }
  return maxDecodedBytes;
}

/**
 * Decodes and validates one frame. Never throws anything but a SyncPilotError, whatever the bytes:
 * SP_ERR_FRAME_TOO_LARGE (over maxFrameBytes, checked first, or decompressing past maxDecodedBytes),
 * SP_ERR_FRAME_MALFORMED (truncated, garbled, unknown frame type), SP_ERR_PROTOCOL_VERSION,
 * SP_ERR_CODEC_UNSUPPORTED (unknown or not in `options.codecs`), SP_ERR_PAYLOAD_INVALID (schema),
 * SP_ERR_CONFIG_INVALID (bad options).
 */
export function decodeFrame(bytes: Uint8Array, options: FrameCodecOptions): Frame {
  try {
    return decodeUnchecked(bytes, options);
  } catch (err) {
    // Anything that is not already a SyncPilotError is a bug in this codec, not bad input.
    throw toSyncPilotError(err, 'SP_ERR_INTERNAL');
  }
}

function decodeUnchecked(bytes: Uint8Array, options: FrameCodecOptions): Frame {
  const maxDecoded = maxDecodedBytesOf(options);
  if (!(bytes instanceof Uint8Array)) throw new SyncPilotError('SP_ERR_FRAME_MALFORMED', 'a frame must be a Uint8Array');
  if (bytes.length > options.maxFrameBytes) {
    throw new SyncPilotError('SP_ERR_FRAME_TOO_LARGE', `frame of ${bytes.length} bytes exceeds ${options.maxFrameBytes}`);
  }
  if (bytes.length < FRAME_HEADER_BYTES) throw new SyncPilotError('SP_ERR_FRAME_MALFORMED', 'frame is shorter than its header');
  const version = bytes[0] as number;
  if (!SUPPORTED_VERSIONS.has(version)) {
    throw new SyncPilotError('SP_ERR_PROTOCOL_VERSION', `protocol version ${version} is not supported`, { details: { version } });
  }
  const type = FRAME_TYPE_NAMES.get(bytes[1] as number);
  if (type === undefined) throw new SyncPilotError('SP_ERR_FRAME_MALFORMED', `unknown frame type ${bytes[1]}`);
  const codec = CODEC_NAMES.get(bytes[2] as number);
  if (codec === undefined) throw new SyncPilotError('SP_ERR_CODEC_UNSUPPORTED', `unknown codec id ${bytes[2]}`);
  if (options.codecs !== undefined && !options.codecs.includes(codec)) {
    throw new SyncPilotError('SP_ERR_CODEC_UNSUPPORTED', `codec ${codec} was not negotiated`);
  }
  const flags = bytes[3] as number;
  let payload = bytes.subarray(FRAME_HEADER_BYTES);
  if (codec === 'raw') {
    if (payload.length > maxDecoded) throw new SyncPilotError('SP_ERR_FRAME_TOO_LARGE', `payload exceeds ${maxDecoded} bytes`);
  } else {
    payload = decompressPayload(codec, payload, maxDecoded);
  }
  return { version, codec, flags, message: decodePayload(type, payload) };
}

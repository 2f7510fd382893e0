/**
 * The reference engine's wire protocol: message types, versioned binary frames with optional
 * compression, the compact binary payload and change encodings, and their validation.
 */
export * from './messages.ts';
export {
  decodeFrame,
  encodeFrame,
  maxDecodedBytesOf,
  FRAME_HEADER_BYTES,
  DEFAULT_MAX_DECODED_CAP,
  MAX_DECODED_LIMIT,
} from './frame-codec.ts';
export type { EncodeFrameOptions, FrameCodecOptions } from './frame-codec.ts';
export { decodePayload, encodePayload } from './payload-codec.ts';
export { binaryChangeCodec, CHANGE_FORMAT_VERSION } from './change-codec.ts';
export { compressPayload, decompressPayload, DEFAULT_BROTLI_QUALITY } from './compression.ts';
export {
  isOneCodePoint,
  isOpId,
  isScalar,
  opIdCounter,
  PROTOCOL_LIMITS,
  validateChange,
  validateJsonValue,
  validateMessage,
  validateVersionVector,
} from './validate.ts';

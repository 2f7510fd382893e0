import { SyncPilotError } from '../../core/errors.ts';
import type { CodecName } from './messages.ts';

/**
 * The browser build's stand-in for `compression.ts` (selected by the `browser` field of
 * package.json): browsers have no synchronous zlib, so a browser client negotiates `raw` only and
 * any other codec is refused with a coded error instead of pulling node:zlib into the bundle.
 */
export const DEFAULT_BROTLI_QUALITY = 4;

export function compressPayload(codec: Exclude<CodecName, 'raw'>): Uint8Array {
  throw new SyncPilotError('SP_ERR_CODEC_UNSUPPORTED', `codec ${codec} is not available in the browser build; use raw`);
}

export function decompressPayload(codec: Exclude<CodecName, 'raw'>): Uint8Array {
  throw new SyncPilotError('SP_ERR_CODEC_UNSUPPORTED', `codec ${codec} is not available in the browser build; use raw`);
}

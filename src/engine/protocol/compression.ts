import { brotliCompressSync, brotliDecompressSync, constants, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { SyncPilotError } from '../../core/errors.ts';
import type { CodecName } from './messages.ts';

/**
 * Payload compression with node:zlib's synchronous functions: frames are small, and a thread-pool
 * round trip would cost more than the work. `deflate` is the zlib format (RFC 1950), as in HTTP.
 */

/** Brotli's default quality (11) is far too slow for live traffic; 4 is its usual "fast" setting. */
export const DEFAULT_BROTLI_QUALITY = 4;

/**
 * Compresses `bytes` with `codec` at `level` (zlib −1..9, default 6; brotli quality 0..11, default
 * {@link DEFAULT_BROTLI_QUALITY}). Throws SP_ERR_CONFIG_INVALID for an out-of-range level.
 */
export function compressPayload(codec: Exclude<CodecName, 'raw'>, bytes: Uint8Array, level?: number): Uint8Array {
  if (codec === 'brotli') {
    const quality = level ?? DEFAULT_BROTLI_QUALITY;
    checkLevel(quality, constants.BROTLI_MIN_QUALITY, constants.BROTLI_MAX_QUALITY);
    return brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: quality,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    });
  }
  const zlibLevel = level ?? constants.Z_DEFAULT_COMPRESSION;
  checkLevel(zlibLevel, -1, 9);
  return codec === 'gzip' ? gzipSync(bytes, { level: zlibLevel }) : deflateSync(bytes, { level: zlibLevel });
}

function checkLevel(level: number, min: number, max: number): void {
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `compression level ${level} is outside ${min}..${max}`);
  }
}

/**
 * Decompresses `bytes`, stopping as soon as the output would exceed `maxOutputBytes` (zlib checks
 * per chunk, so a bomb never allocates much more than the limit). Throws SP_ERR_FRAME_TOO_LARGE
 * past the limit and SP_ERR_FRAME_MALFORMED for corrupt data.
 */
export function decompressPayload(codec: Exclude<CodecName, 'raw'>, bytes: Uint8Array, maxOutputBytes: number): Uint8Array {
  const options = { maxOutputLength: maxOutputBytes };
  try {
    if (codec === 'gzip') return gunzipSync(bytes, options);
    if (codec === 'deflate') return inflateSync(bytes, options);
    return brotliDecompressSync(bytes, options);
  } catch (err) {
    if (err instanceof RangeError && (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SyncPilotError('SP_ERR_FRAME_TOO_LARGE', `${codec} payload decompresses to more than ${maxOutputBytes} bytes`, {
        cause: err,
      });
    }
    throw new SyncPilotError('SP_ERR_FRAME_MALFORMED', `${codec} payload could not be decompressed`, { cause: err });
  }
}

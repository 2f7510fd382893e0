import * as zlib from 'node:zlib';

/*
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) for the embedded log's record checksums.
 * Node 20.15+ and 22 ship a native `zlib.crc32`; older Node 20 releases (the project allows
 * >=20.10) do not, so a table-driven version stands in for them. Both give identical results.
 */

let table: Uint32Array | undefined;

function buildTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/**
 * The portable, table-driven CRC-32. Exported so tests can check it against the native one;
 * callers should use {@link crc32}.
 * @param data bytes to checksum
 * @param initial a previous CRC to continue from (default 0)
 */
export function crc32Portable(data: Uint8Array, initial = 0): number {
  table ??= buildTable();
  const t = table;
  let c = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) {
    // Both indexes are in range by construction; `?? 0` only satisfies noUncheckedIndexedAccess.
    c = (t[(c ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

// Resolved once: the typings always declare zlib.crc32, but the running Node may predate it.
const native: ((data: Uint8Array, value?: number) => number) | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? zlib.crc32 : undefined;

/** True when the running Node provides a native `zlib.crc32`. */
export const hasNativeCrc32 = native !== undefined;

/**
 * CRC-32 of `data` as an unsigned 32-bit integer (native `zlib.crc32` when available).
 * @param data bytes to checksum
 * @param initial a previous CRC to continue from (default 0)
 */
export function crc32(data: Uint8Array, initial = 0): number {
  return native === undefined ? crc32Portable(data, initial) : native(data, initial) >>> 0;
}

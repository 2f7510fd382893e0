import { SyncPilotError } from '../../core/errors.ts';

/**
 * JSON that round-trips what held envelopes carry beyond plain JSON: `Uint8Array` (payload bytes),
 * `bigint`, `undefined`, non-finite numbers and `-0`, `Date`, `Map` and `Set`. Special values become
 * objects tagged with the reserved key `$sp`; a plain object that itself has a `$sp` key is escaped,
 * so no input is misread on the way back.
 *
 * Anything else (functions, symbols, class instances, other binary views, cycles) cannot be stored
 * faithfully, so it is refused with `SP_ERR_STORE` rather than stored lossily: a hold that cannot be
 * written must make the caller keep the message.
 */
const TAG = '$sp';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Serialises `value` to a JSON string; see the module comment for what is supported.
 * @throws SyncPilotError `SP_ERR_STORE` if `value` holds something that cannot round-trip.
 */
export function toTaggedJson(value: unknown): string {
  return JSON.stringify(encode(value, new Set(), '$'));
}

/**
 * Parses a string written by {@link toTaggedJson}. `Buffer`s come back as plain `Uint8Array`s.
 * @throws SyncPilotError `SP_ERR_STORE_CORRUPT` if the text is not valid tagged JSON.
 */
export function fromTaggedJson(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new SyncPilotError('SP_ERR_STORE_CORRUPT', 'stored JSON does not parse', { cause: err });
  }
  try {
    return decode(parsed);
  } catch (err) {
    if (err instanceof SyncPilotError) throw err;
    throw new SyncPilotError('SP_ERR_STORE_CORRUPT', 'stored JSON has a malformed tagged value', { cause: err });
  }
}

function refuse(path: string, what: string): never {
  throw new SyncPilotError('SP_ERR_STORE', `cannot store ${what} at ${path}`, { details: { path } });
}

function encode(value: unknown, ancestors: Set<object>, path: string): Json {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? value : { [TAG]: 'num', v: String(Object.is(value, -0) ? '-0' : value) };
    case 'bigint':
      return { [TAG]: 'big', v: value.toString() };
    case 'undefined':
      return { [TAG]: 'undef' };
    case 'function':
    case 'symbol':
      return refuse(path, `a ${typeof value}`);
    case 'object':
      break;
  }
  if (value === null) return null;
  if (ancestors.has(value)) refuse(path, 'a cyclic reference');
  ancestors.add(value);
  try {
    if (value instanceof Uint8Array)
      return { [TAG]: 'u8', v: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
    if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer)
      return refuse(path, `a ${value.constructor.name} (only Uint8Array is supported)`);
    if (value instanceof Date) return { [TAG]: 'date', v: encode(value.getTime(), ancestors, path) };
    if (Array.isArray(value)) return value.map((item, i) => encode(item, ancestors, `${path}[${i}]`));
    if (value instanceof Map) {
      return {
        [TAG]: 'map',
        v: [...value].map(([k, v], i) => [encode(k, ancestors, `${path}<key ${i}>`), encode(v, ancestors, `${path}<value ${i}>`)]),
      };
    }
    if (value instanceof Set) return { [TAG]: 'set', v: [...value].map((item, i) => encode(item, ancestors, `${path}<item ${i}>`)) };
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return refuse(path, `an instance of ${value.constructor.name}`);
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = encode(v, ancestors, `${path}.${k}`);
    // Escape objects that could be mistaken for a tag; entries are an array, which is never read as a tag.
    return Object.hasOwn(out, TAG) ? { [TAG]: 'obj', v: Object.entries(out) } : out;
  } finally {
    ancestors.delete(value);
  }
}

function decode(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(decode);
  const record = value as Record<string, unknown>;
  if (!Object.hasOwn(record, TAG)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) out[k] = decode(v);
    return out;
  }
  const tag = record[TAG];
  const v = record['v'];
  switch (tag) {
    case 'num':
      if (typeof v === 'string') return v === '-0' ? -0 : Number(v);
      break;
    case 'big':
      if (typeof v === 'string') return BigInt(v);
      break;
    case 'undef':
      return undefined;
    case 'u8':
      if (typeof v === 'string') return new Uint8Array(Buffer.from(v, 'base64'));
      break;
    case 'date':
      return new Date(decode(v) as number);
    case 'map':
      if (Array.isArray(v)) return new Map(v.map((pair) => (Array.isArray(pair) ? [decode(pair[0]), decode(pair[1])] : corrupt())));
      break;
    case 'set':
      if (Array.isArray(v)) return new Set(v.map(decode));
      break;
    case 'obj':
      if (Array.isArray(v)) {
        const out: Record<string, unknown> = {};
        for (const pair of v) {
          if (!Array.isArray(pair) || typeof pair[0] !== 'string') corrupt();
          out[pair[0]] = decode(pair[1]);
        }
        return out;
      }
      break;
  }
  return corrupt();
}

function corrupt(): never {
  throw new SyncPilotError('SP_ERR_STORE_CORRUPT', 'stored JSON has a malformed tagged value');
}

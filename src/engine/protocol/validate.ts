import { isErrorCode, SyncPilotError } from '../../core/errors.ts';
import { isValidId } from '../../core/ids.ts';
import { HEAD, ROOT } from '../crdt/types.ts';
import type { Change, VersionVector } from '../crdt/types.ts';
import { CodecId } from './messages.ts';
import type { ProtocolMessage } from './messages.ts';

/**
 * Structural validation of protocol messages and changes, shared by the frame codec and the change
 * codec: run on every decoded value and on every value before it is encoded, so that no peer can
 * be sent (or store) what it would refuse to read. Hand-written checks, because this runs per op.
 * Every failure is a SyncPilotError SP_ERR_PAYLOAD_INVALID whose message names the field.
 *
 * What it cannot check: whether an `ins` targets a text object made in an earlier change (the op
 * does not say). Text values are checked to be one code point only for text objects made in the
 * same message; the CRDT checks the rest when it applies the op.
 */

/** Limits on free-form control strings and lists (UTF-16 units / items). */
export const PROTOCOL_LIMITS = {
  shortString: 256,
  name: 64,
  token: 8192,
  errorMessage: 4096,
  listItems: 64,
  jsonDepth: 64,
} as const;

const OBJ_TYPES: ReadonlySet<string> = new Set(['map', 'text', 'list', 'counter']);
/** `ctr` of an op id: decimal without leading zeros, at most 16 digits (2^53 − 1 has 16). */
const MAX_CTR_DIGITS = 16;

function fail(message: string): never {
  throw new SyncPilotError('SP_ERR_PAYLOAD_INVALID', message);
}

/** Re-throws a validation error with `where` prefixed to its message, so it names the field. */
function rethrowAt(err: unknown, where: string): never {
  if (err instanceof SyncPilotError && err.code === 'SP_ERR_PAYLOAD_INVALID') {
    fail(err.message.startsWith(':') ? `${where}${err.message}` : `${where}.${err.message}`);
  }
  throw err;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNonNegInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isId = (v: unknown): v is string => typeof v === 'string' && isValidId(v);

function checkString(v: unknown, field: string, max: number, min = 0): void {
  if (typeof v !== 'string') fail(`${field}: expected a string`);
  if (v.length < min || v.length > max) fail(`${field}: length must be ${min}..${max}`);
}

function checkId(v: unknown, field: string): void {
  if (!isId(v)) fail(`${field}: expected an id of 1..128 characters [A-Za-z0-9._:@/-]`);
}

function checkNonNegInt(v: unknown, field: string, min = 0): void {
  if (!isNonNegInt(v) || v < min) fail(`${field}: expected a safe integer >= ${min}`);
}

/**
 * The counter of an op id `"<ctr>@<actor>"`, or -1 if `value` is not a well-formed op id: a
 * canonical decimal counter >= 1 (counters start at 1, as in the CRDT) and a valid actor id. The
 * actor may itself contain `@`; the first one separates.
 */
export function opIdCounter(value: unknown): number {
  if (typeof value !== 'string') return -1;
  const at = value.indexOf('@');
  if (at < 1 || at > MAX_CTR_DIGITS) return -1;
  if (value.charCodeAt(0) === 0x30) return -1; // a leading zero, or counter 0
  let ctr = 0;
  for (let i = 0; i < at; i++) {
    const d = value.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    ctr = ctr * 10 + d;
  }
  if (ctr > Number.MAX_SAFE_INTEGER) return -1;
  return isValidId(value.slice(at + 1)) ? ctr : -1;
}

/** True if `value` is an op id string `"<ctr>@<actor>"`. */
export function isOpId(value: unknown): value is string {
  return opIdCounter(value) >= 0;
}

function checkOpId(v: unknown, field: string): void {
  if (opIdCounter(v) < 0) fail(`${field}: expected an op id "<ctr>@<actor>"`);
}

function checkObjId(v: unknown, field: string): void {
  if (v !== ROOT && opIdCounter(v) < 0) fail(`${field}: expected "root" or an op id`);
}

function checkOpIdList(v: unknown, field: string, min: number): void {
  if (!Array.isArray(v)) fail(`${field}: expected an array`);
  if (v.length < min) fail(`${field}: expected at least ${min} op id`);
  for (let i = 0; i < v.length; i++) checkOpId(v[i], `${field}[${i}]`);
}

/** True for a scalar the wire can carry: null, a boolean, a finite number or a string. */
export function isScalar(v: unknown): boolean {
  return v === null || typeof v === 'boolean' || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

/** True if `v` is a string of exactly one Unicode code point. */
export function isOneCodePoint(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  const c = v.charCodeAt(0);
  if (v.length === 1) return c < 0xd800 || c > 0xdfff;
  if (v.length !== 2 || c < 0xd800 || c > 0xdbff) return false;
  const d = v.charCodeAt(1);
  return d >= 0xdc00 && d <= 0xdfff;
}

/** Asserts that `value` is a version vector: valid actor ids mapped to safe integers >= 0. */
export function validateVersionVector(value: unknown, field = 'clock'): asserts value is VersionVector {
  if (!isRecord(value)) fail(`${field}: expected an object`);
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) fail(`${field}: expected a plain object`);
  for (const key in value) {
    if (!isValidId(key)) fail(`${field}: key ${JSON.stringify(key.slice(0, 140))} is not a valid actor id`);
    if (!isNonNegInt(value[key])) fail(`${field}.${key}: expected a safe integer >= 0`);
  }
}

/**
 * Asserts that `value` is a structurally valid change. `textObjects` collects the ids of text
 * objects made so far in the same message, so that inserts into them are checked to be code points.
 */
export function validateChange(value: unknown, textObjects: Set<string> = new Set()): asserts value is Change {
  if (!isRecord(value)) fail(': expected an object');
  const actor = value['actor'];
  checkId(actor, 'actor');
  checkNonNegInt(value['seq'], 'seq', 1);
  checkNonNegInt(value['startOp'], 'startOp', 1);
  validateVersionVector(value['deps'], 'deps');
  if (!isFiniteNumber(value['time'])) fail('time: expected a finite number');
  const ops = value['ops'];
  if (!Array.isArray(ops)) fail('ops: expected an array');
  let ctr = value['startOp'] as number;
  for (let i = 0; i < ops.length; i++) {
    let consumed: number;
    try {
      consumed = validateOp(ops[i], ctr, actor as string, textObjects);
    } catch (err) {
      rethrowAt(err, `ops[${i}]`);
    }
    // The op's last counter, ctr + consumed - 1, has to stay a safe integer (compared without overflow).
    if (consumed - 1 > Number.MAX_SAFE_INTEGER - ctr) fail(`ops[${i}]: counters exceed 2^53 - 1`);
    ctr += consumed;
  }
}

/** Validates one op whose counter is `ctr`; returns how many counters it consumes. */
function validateOp(op: unknown, ctr: number, actor: string, textObjects: Set<string>): number {
  if (!isRecord(op)) fail(': expected an object');
  const obj = op['obj'];
  checkObjId(obj, 'obj');
  const action = op['action'];
  switch (action) {
    case 'set':
      checkString(op['key'], 'key', Number.MAX_SAFE_INTEGER);
      if (!isScalar(op['value'])) fail('value: expected null, a boolean, a finite number or a string');
      checkOpIdList(op['pred'], 'pred', 0);
      return 1;
    case 'make': {
      checkString(op['key'], 'key', Number.MAX_SAFE_INTEGER);
      const type = op['type'];
      if (typeof type !== 'string' || !OBJ_TYPES.has(type)) fail('type: expected map, text, list or counter');
      checkOpIdList(op['pred'], 'pred', 0);
      if (type === 'text') textObjects.add(`${ctr}@${actor}`);
      return 1;
    }
    case 'del':
      checkString(op['key'], 'key', Number.MAX_SAFE_INTEGER);
      checkOpIdList(op['pred'], 'pred', 0);
      return 1;
    case 'ins': {
      const after = op['after'];
      if (after !== HEAD && opIdCounter(after) < 0) fail('after: expected "_head" or an op id');
      const values = op['values'];
      if (!Array.isArray(values) || values.length === 0) fail('values: expected a non-empty array');
      const text = textObjects.size > 0 && textObjects.has(obj as string);
      for (let i = 0; i < values.length; i++) {
        const v: unknown = values[i];
        if (text ? !isOneCodePoint(v) : !isScalar(v)) {
          fail(`values[${i}]: ${text ? 'a text value must be one code point' : 'expected a scalar'}`);
        }
      }
      return values.length;
    }
    case 'rm':
      checkOpIdList(op['elems'], 'elems', 1);
      return 1;
    case 'inc':
      if (!isFiniteNumber(op['by'])) fail('by: expected a finite number');
      return 1;
    default:
      return fail(`action: unknown op action ${JSON.stringify(String(action).slice(0, 20))}`);
  }
}

function validateChanges(value: unknown): void {
  if (!Array.isArray(value)) fail('changes: expected an array');
  const textObjects = new Set<string>();
  for (let i = 0; i < value.length; i++) {
    try {
      validateChange(value[i], textObjects);
    } catch (err) {
      rethrowAt(err, `changes[${i}]`);
    }
  }
}

function checkCodecs(value: unknown): void {
  if (!Array.isArray(value) || value.length > PROTOCOL_LIMITS.listItems) fail('codecs: expected an array of codec names');
  for (const c of value) if (typeof c !== 'string' || !Object.hasOwn(CodecId, c)) fail(`codecs: unknown codec ${String(c).slice(0, 20)}`);
}

function checkNames(value: unknown, field: string): void {
  if (!Array.isArray(value) || value.length > PROTOCOL_LIMITS.listItems)
    fail(`${field}: expected at most ${PROTOCOL_LIMITS.listItems} names`);
  for (let i = 0; i < value.length; i++) checkString(value[i], `${field}[${i}]`, PROTOCOL_LIMITS.name, 1);
}

function checkVersion(v: unknown, field: string): void {
  if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 255) fail(`${field}: expected an integer 0..255`);
}

function checkOptionalDoc(v: unknown): void {
  if (v !== undefined) checkId(v, 'doc');
}

/**
 * Asserts that `value` is a JSON value (null, boolean, finite number, string, array, plain object)
 * nested at most {@link PROTOCOL_LIMITS.jsonDepth} deep, so that it survives a JSON round trip and
 * consumers may recurse over it safely.
 */
export function validateJsonValue(value: unknown, field = 'data', depth = 0): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(`${field}: numbers must be finite`);
    return;
  }
  if (typeof value !== 'object') fail(`${field}: ${typeof value} is not a JSON value`);
  if (depth >= PROTOCOL_LIMITS.jsonDepth) fail(`${field}: nested deeper than ${PROTOCOL_LIMITS.jsonDepth}`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) validateJsonValue(value[i], field, depth + 1);
    return;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) fail(`${field}: only plain objects are JSON values`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) validateJsonValue(record[key], field, depth + 1);
}

/** Asserts that `value` is a valid protocol message of any type. Throws SP_ERR_PAYLOAD_INVALID. */
export function validateMessage(value: unknown): asserts value is ProtocolMessage {
  if (!isRecord(value)) fail('message: expected an object');
  const m = value;
  switch (m['type']) {
    case 'HELLO': {
      const protocols = m['protocols'];
      if (!Array.isArray(protocols) || protocols.length > PROTOCOL_LIMITS.listItems) fail('protocols: expected an array of versions');
      for (const p of protocols) checkVersion(p, 'protocols');
      checkId(m['actor'], 'actor');
      checkString(m['client'], 'client', PROTOCOL_LIMITS.shortString);
      if (m['token'] !== undefined) checkString(m['token'], 'token', PROTOCOL_LIMITS.token, 1);
      checkCodecs(m['codecs']);
      checkNames(m['capabilities'], 'capabilities');
      return;
    }
    case 'WELCOME':
      checkVersion(m['protocol'], 'protocol');
      checkId(m['peer'], 'peer');
      checkString(m['server'], 'server', PROTOCOL_LIMITS.shortString);
      checkCodecs(m['codecs']);
      checkNames(m['capabilities'], 'capabilities');
      checkNonNegInt(m['maxFrameBytes'], 'maxFrameBytes', 1);
      return;
    case 'SUBSCRIBE':
      checkId(m['doc'], 'doc');
      validateVersionVector(m['clock']);
      return;
    case 'SYNC':
      checkId(m['doc'], 'doc');
      validateChanges(m['changes']);
      if (typeof m['complete'] !== 'boolean') fail('complete: expected a boolean');
      validateVersionVector(m['clock']);
      return;
    case 'CHANGES':
      checkId(m['doc'], 'doc');
      validateChanges(m['changes']);
      return;
    case 'ACK':
      checkId(m['doc'], 'doc');
      checkId(m['actor'], 'actor');
      checkNonNegInt(m['seq'], 'seq');
      return;
    case 'UNSUBSCRIBE':
      checkId(m['doc'], 'doc');
      return;
    case 'ERROR': {
      if (!isErrorCode(m['code'])) fail('code: expected a known SP_ERR_* code');
      checkString(m['message'], 'message', PROTOCOL_LIMITS.errorMessage);
      if (typeof m['fatal'] !== 'boolean') fail('fatal: expected a boolean');
      checkOptionalDoc(m['doc']);
      const rejected = m['rejected'];
      if (rejected === undefined) return;
      if (!Array.isArray(rejected)) fail('rejected: expected an array');
      for (let i = 0; i < rejected.length; i++) {
        const r: unknown = rejected[i];
        if (!isRecord(r)) fail(`rejected[${i}]: expected an object`);
        checkId(r['actor'], `rejected[${i}].actor`);
        checkNonNegInt(r['seq'], `rejected[${i}].seq`, 1);
      }
      return;
    }
    case 'HINT':
      checkString(m['kind'], 'kind', PROTOCOL_LIMITS.name, 1);
      checkOptionalDoc(m['doc']);
      if (m['data'] === undefined) fail('data: expected a JSON value');
      validateJsonValue(m['data']);
      return;
    case 'PING':
    case 'PONG':
      if (!isFiniteNumber(m['nonce'])) fail('nonce: expected a finite number');
      return;
    default:
      fail(`type: unknown message type ${JSON.stringify(String(m['type']).slice(0, 20))}`);
  }
}

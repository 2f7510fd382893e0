import { isValidId } from '../../core/ids.ts';
import type { OpIdStr } from './types.ts';

/** An op id split into its Lamport counter and actor. */
export interface OpId {
  readonly ctr: number;
  readonly actor: string;
}

// Counters are decimal without leading zeros so that every id has exactly one spelling: ids are
// used as map keys (object ids) and compared as strings in places, so "01@a" must not alias "1@a".
const CTR_PATTERN = /^[1-9][0-9]{0,15}$/;

/** Formats an op id as `"<ctr>@<actor>"`. */
export function formatOpId(ctr: number, actor: string): OpIdStr {
  return `${ctr}@${actor}`;
}

/** Parses `"<ctr>@<actor>"`; returns undefined when the string is not a canonical op id. */
export function parseOpId(id: string): OpId | undefined {
  const at = id.indexOf('@');
  if (at <= 0) return undefined;
  const ctrText = id.slice(0, at);
  const actor = id.slice(at + 1);
  if (!CTR_PATTERN.test(ctrText) || !isValidId(actor)) return undefined;
  const ctr = Number(ctrText);
  if (!Number.isSafeInteger(ctr)) return undefined;
  return { ctr, actor };
}

/** True if `id` is a canonical op id string. */
export function isOpId(id: string): boolean {
  return parseOpId(id) !== undefined;
}

/**
 * Total order of op ids: by counter, then by actor (JavaScript string order). Returns a negative
 * number when `a` sorts before `b`. Every replica uses this order to pick winners and to place
 * concurrent insertions, so it must never change.
 */
export function compareOpIds(a: OpId, b: OpId): number {
  if (a.ctr !== b.ctr) return a.ctr - b.ctr;
  return a.actor < b.actor ? -1 : a.actor > b.actor ? 1 : 0;
}

/** `compareOpIds` on the string form; throws on a malformed id. */
export function compareOpIdStrs(a: OpIdStr, b: OpIdStr): number {
  const pa = parseOpId(a);
  const pb = parseOpId(b);
  if (pa === undefined || pb === undefined) throw new TypeError(`not an op id: ${pa === undefined ? a : b}`);
  return compareOpIds(pa, pb);
}

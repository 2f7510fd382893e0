import type { Principal } from '../core/stage.ts';

/** One principal's patterns of one kind (read or write), compiled for matching without regexes. */
export interface CompiledPatterns {
  /** A `'*'` pattern: every document. */
  readonly all: boolean;
  readonly exact: ReadonlySet<string>;
  /** The parts before a trailing `*`, with prefixes covered by a shorter one removed. */
  readonly prefixes: readonly string[];
}

/** A principal's compiled permissions. `read` already includes the write patterns (write implies read). */
export interface CompiledPermissions {
  readonly read: CompiledPatterns;
  readonly write: CompiledPatterns;
}

// Principals are immutable (verifiers freeze them), so compiling once per object is safe, and a
// WeakMap lets a disconnected peer's principal be collected with its connection.
const cache = new WeakMap<Principal, CompiledPermissions>();

/**
 * The compiled permissions of `principal`, computed on first use and cached per principal object.
 * Patterns are exact document ids, or prefixes ending in `*` (`'*'` alone matches every document);
 * a `*` anywhere else is an ordinary character. Nothing from the token becomes a regex.
 */
export function compilePermissions(principal: Principal): CompiledPermissions {
  let compiled = cache.get(principal);
  if (compiled === undefined) {
    compiled = Object.freeze({ read: compile([...principal.read, ...principal.write]), write: compile(principal.write) });
    cache.set(principal, compiled);
  }
  return compiled;
}

/** True if `docId` matches one of `patterns`. */
export function matches(patterns: CompiledPatterns, docId: string): boolean {
  if (patterns.all || patterns.exact.has(docId)) return true;
  const prefixes = patterns.prefixes;
  for (let i = 0; i < prefixes.length; i++) {
    if (docId.startsWith(prefixes[i] as string)) return true;
  }
  return false;
}

/** True if `principal` may read (open, receive changes of) `docId`: a read or a write pattern matches. */
export function canRead(principal: Principal, docId: string): boolean {
  return matches(compilePermissions(principal).read, docId);
}

/** True if `principal` may write (send changes to) `docId`: a write pattern matches. */
export function canWrite(principal: Principal, docId: string): boolean {
  return matches(compilePermissions(principal).write, docId);
}

function compile(patterns: readonly string[]): CompiledPatterns {
  const exact = new Set<string>();
  const starred: string[] = [];
  for (const p of patterns) {
    if (p.endsWith('*')) starred.push(p.slice(0, -1));
    else exact.add(p);
  }
  if (starred.includes('')) return Object.freeze({ all: true, exact: new Set<string>(), prefixes: Object.freeze([]) });
  // Shortest first: a prefix that starts with a kept one adds nothing, so the match loop stays short.
  starred.sort((a, b) => a.length - b.length);
  const prefixes: string[] = [];
  for (const s of starred) {
    if (!prefixes.some((kept) => s.startsWith(kept))) prefixes.push(s);
  }
  for (const id of exact) {
    if (prefixes.some((kept) => id.startsWith(kept))) exact.delete(id);
  }
  return Object.freeze({ all: false, exact, prefixes: Object.freeze(prefixes) });
}

import type { Envelope, Stage, StageResult } from '../core/stage.ts';
import { compilePermissions, matches } from './permissions.ts';

/** The authz stage's name in the pipeline (and in holds, rejections and stats). */
export const AUTHZ_STAGE_NAME = 'authz';

// Shared and frozen: allowing a message allocates nothing.
const CONTINUE = Object.freeze({ type: 'continue' as const });
const NO_PRINCIPAL = Object.freeze({
  type: 'reject' as const,
  code: 'SP_ERR_UNAUTHENTICATED' as const,
  reason: 'the peer has not authenticated',
});

/**
 * The built-in authorization stage: `protecting` (if it ever throws, the runner holds the message),
 * order 100, synchronous, phases `inbound` and `outbound`.
 *
 * - inbound `subscribe`: the sender's principal must be able to read the document;
 * - inbound `changes` and `sync` (both carry changes): it must be able to write;
 * - outbound (fan-out, delta sync to one peer): `message.principal` is the *receiving* peer's
 *   principal, and it must be able to read the document — defence in depth, should a peer stay
 *   subscribed to a document it may no longer read.
 *
 * Refusals are `{ type: 'reject', code: 'SP_ERR_FORBIDDEN' }`; a message without a principal is
 * rejected with `SP_ERR_UNAUTHENTICATED`. Patterns are compiled once per principal object
 * ({@link compilePermissions}), so a check costs a WeakMap lookup and a set or prefix test.
 */
export function createAuthzStage<E extends Envelope = Envelope>(): Stage<E> {
  return {
    name: AUTHZ_STAGE_NAME,
    order: 100,
    kind: 'protecting',
    phases: ['inbound', 'outbound'],
    mode: 'sync',
    process(message: E): StageResult<E> {
      const principal = message.principal;
      if (principal === undefined) return NO_PRINCIPAL;
      const permissions = compilePermissions(principal);
      if (message.phase === 'inbound' && message.kind !== 'subscribe') {
        return matches(permissions.write, message.doc) ? CONTINUE : forbidden(principal.subject, 'write', message.doc);
      }
      // Inbound subscribe, and anything going out to a peer: reading is what it amounts to.
      return matches(permissions.read, message.doc) ? CONTINUE : forbidden(principal.subject, 'read', message.doc);
    },
  };
}

function forbidden(subject: string, action: 'read' | 'write', doc: string): StageResult<never> {
  return { type: 'reject', code: 'SP_ERR_FORBIDDEN', reason: `"${subject}" may not ${action} document "${doc}"` };
}

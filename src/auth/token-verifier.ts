import { z } from 'zod';
import { SyncPilotError } from '../core/errors.ts';
import { isValidId } from '../core/ids.ts';
import type { Principal } from '../core/stage.ts';

/**
 * Turns the credential a peer presents at handshake (HELLO `token`) into a {@link Principal}.
 * Implementations: `createJwtVerifier` (mode `jwt`) and `createAllowAllVerifier` (mode `none`).
 */
export interface TokenVerifier {
  /**
   * Verifies `token` and returns the peer's principal (frozen, so the authz stage can cache
   * compiled patterns per principal object).
   * @throws SyncPilotError `SP_ERR_UNAUTHENTICATED` when the token is missing, expired, not yet
   *   valid, badly signed, for another issuer or audience, or carries malformed claims. The message
   *   says which; `retryable` is true only when the cause is on our side (e.g. the JWKS endpoint is down).
   */
  verify(token: string | undefined): Promise<Principal>;
}

/** Patterns are bounded so that one token cannot make compiling its permissions expensive. */
const MAX_PATTERNS = 1_000;

/**
 * A document pattern: an exact document id, or a prefix followed by `*` (`'*'` alone is every document).
 * A `*` anywhere but at the end is refused rather than silently treated as a literal.
 */
const docPatternSchema = z.string().refine((p) => p === '*' || isValidId(p.endsWith('*') ? p.slice(0, -1) : p), {
  message: 'must be a document id (1..128 of A-Z a-z 0-9 . _ : @ / -) optionally followed by a single trailing "*"',
});

/** The `docs` claim: which documents the subject may read and write. Write implies read. */
export const docsClaimSchema = z.strictObject({
  read: z.array(docPatternSchema).max(MAX_PATTERNS).default([]),
  write: z.array(docPatternSchema).max(MAX_PATTERNS).default([]),
});
export type DocsClaim = z.infer<typeof docsClaimSchema>;

/**
 * The claims syncpilot reads from a verified token. Registered claims (`iss`, `exp` …) are checked
 * by the JWT library and let through; only `docs` is strict, because a typo there (`writes`)
 * would otherwise silently grant less, or be read as something else, than intended.
 */
const claimsSchema = z.looseObject({
  sub: z.string().min(1).max(256),
  tenant: z.string().min(1).max(128).default('default'),
  docs: docsClaimSchema.default({ read: [], write: [] }),
});

/**
 * Maps verified token claims to a frozen {@link Principal}: `sub` → subject, `tenant` (default
 * `'default'`), `docs.read` / `docs.write` (default none: an authenticated peer with no `docs`
 * claim may open nothing).
 * @throws SyncPilotError `SP_ERR_UNAUTHENTICATED` naming every malformed claim.
 */
export function principalFromClaims(claims: unknown): Principal {
  const parsed = claimsSchema.safeParse(claims);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(claims)'}: ${i.message}`).join('; ');
    throw new SyncPilotError('SP_ERR_UNAUTHENTICATED', `malformed claims: ${problems}`);
  }
  const { sub, tenant, docs } = parsed.data;
  return Object.freeze({
    subject: sub,
    tenant,
    read: Object.freeze([...docs.read]),
    write: Object.freeze([...docs.write]),
  });
}

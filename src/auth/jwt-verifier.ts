import { createPublicKey } from 'node:crypto';
import { createRemoteJWKSet, errors, importSPKI, jwtVerify, type CryptoKey, type JWTVerifyOptions, type JWTVerifyResult } from 'jose';
import type { AuthConfig } from '../core/config.ts';
import { SyncPilotError } from '../core/errors.ts';
import type { Principal } from '../core/stage.ts';
import { principalFromClaims, type TokenVerifier } from './token-verifier.ts';

/** The `jwt` branch of the auth configuration. */
export type JwtAuthConfig = Extract<AuthConfig, { mode: 'jwt' }>;

/** Tokens longer than this are refused before any parsing or crypto. */
const MAX_TOKEN_CHARS = 16 * 1024;
/** Asymmetric algorithms accepted from a JWKS. Never HS* (a public JWKS must not act as an HMAC secret) nor `none`. */
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const JWKS_TIMEOUT_MS = 5_000;
const EC_ALGORITHMS = new Map([
  ['prime256v1', 'ES256'],
  ['secp384r1', 'ES384'],
  ['secp521r1', 'ES512'],
]);
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

type VerifyJwt = (token: string, options: JWTVerifyOptions) => Promise<JWTVerifyResult>;

/**
 * A verifier of bearer JWTs (jose `jwtVerify`). Exactly one key source must be configured:
 * - `secret`: HS256 with that shared secret;
 * - `publicKey`: a PEM SPKI public key; the algorithm follows the key (RSA → RS256, EC P-256/384/521 →
 *   ES256/384/512, Ed25519 → EdDSA), so a token cannot pick a weaker one;
 * - `jwksUrl`: keys fetched (and cached) from a JWKS endpoint; asymmetric algorithms only. It must be
 *   `https:` except on a loopback host, since keys fetched in clear could be swapped in transit.
 *
 * `issuer` and `audience` are enforced when configured; `clockToleranceSec` (default 5) applies to
 * `exp` and `nbf`. Every token must carry `exp`: a sync connection's token should not live forever.
 * Claims map to a principal as described in {@link principalFromClaims}.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` if zero or several key sources are set, the public key
 *   is not a PEM SPKI public key of a supported type, or the JWKS URL is not usable.
 */
export function createJwtVerifier(config: Readonly<JwtAuthConfig>): TokenVerifier {
  const verifyJwt = keySource(config);
  const options: JWTVerifyOptions = {
    clockTolerance: config.clockToleranceSec,
    requiredClaims: ['exp'],
    ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
    ...(config.audience === undefined ? {} : { audience: config.audience }),
  };
  const viaJwks = config.jwksUrl !== undefined;
  return {
    async verify(token: string | undefined): Promise<Principal> {
      const raw = stripBearer(token);
      if (raw === '') throw unauthenticated('missing token');
      if (raw.length > MAX_TOKEN_CHARS) throw unauthenticated(`token too large (over ${MAX_TOKEN_CHARS} characters)`);
      let result: JWTVerifyResult;
      try {
        result = await verifyJwt(raw, options);
      } catch (err) {
        throw fromJoseError(err, viaJwks);
      }
      return principalFromClaims(result.payload);
    },
  };
}

/** Full access for every peer, whatever it presents: auth mode `none`, for development only. */
export function createAllowAllVerifier(): TokenVerifier {
  return { verify: () => Promise.resolve(ANONYMOUS) };
}

// One shared frozen object, so the authz stage compiles its patterns once for all anonymous peers.
const ANONYMOUS: Principal = Object.freeze({
  subject: 'anonymous',
  tenant: 'default',
  read: Object.freeze(['*']),
  write: Object.freeze(['*']),
});

/**
 * The verifier for an auth configuration: {@link createAllowAllVerifier} for mode `none`,
 * {@link createJwtVerifier} for mode `jwt`.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` as {@link createJwtVerifier}.
 */
export function createVerifier(config: Readonly<AuthConfig>): TokenVerifier {
  switch (config.mode) {
    case 'none':
      return createAllowAllVerifier();
    case 'jwt':
      return createJwtVerifier(config);
  }
}

function keySource(config: Readonly<JwtAuthConfig>): VerifyJwt {
  const { secret, publicKey, jwksUrl } = config;
  const configured = [
    secret === undefined ? [] : ['secret'],
    publicKey === undefined ? [] : ['publicKey'],
    jwksUrl === undefined ? [] : ['jwksUrl'],
  ].flat();
  if (configured.length !== 1) {
    throw new SyncPilotError(
      'SP_ERR_CONFIG_INVALID',
      `auth mode "jwt" needs exactly one of auth.secret, auth.publicKey, auth.jwksUrl; got ${configured.length === 0 ? 'none' : configured.join(', ')}`,
    );
  }
  if (secret !== undefined) {
    const key = new TextEncoder().encode(secret);
    return (token, options) => jwtVerify(token, key, { ...options, algorithms: ['HS256'] });
  }
  if (publicKey !== undefined) {
    const { alg, algorithms } = algorithmOf(publicKey);
    let imported: Promise<CryptoKey> | undefined;
    return async (token, options) => {
      // Imported on first use (importSPKI is async); the PEM was already validated synchronously.
      imported ??= importSPKI(publicKey, alg);
      return jwtVerify(token, await imported, { ...options, algorithms });
    };
  }
  if (jwksUrl === undefined) throw new SyncPilotError('SP_ERR_INTERNAL', 'no key source after validation');
  const url = jwksEndpoint(jwksUrl);
  const jwks = createRemoteJWKSet(url, { timeoutDuration: JWKS_TIMEOUT_MS });
  return (token, options) => jwtVerify(token, jwks, { ...options, algorithms: JWKS_ALGORITHMS });
}

/** Reads the key type from the PEM, so that a bad key fails at startup rather than on the first peer. */
function algorithmOf(pem: string): { alg: string; algorithms: string[] } {
  if (!pem.trimStart().startsWith('-----BEGIN PUBLIC KEY-----')) {
    throw new SyncPilotError(
      'SP_ERR_CONFIG_INVALID',
      'auth.publicKey must be a PEM SPKI public key ("-----BEGIN PUBLIC KEY-----"); never configure a private key here',
    );
  }
  let type: string | undefined;
  let curve: string | undefined;
  try {
    const key = createPublicKey({ key: pem, format: 'pem' });
    type = key.asymmetricKeyType;
    curve = key.asymmetricKeyDetails?.namedCurve;
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `auth.publicKey is not a readable PEM public key: ${detail}`, { cause: err });
  }
  if (type === 'rsa') return { alg: 'RS256', algorithms: ['RS256'] };
  // jose accepts both the legacy `EdDSA` and the fully specified `Ed25519` name for this key.
  if (type === 'ed25519') return { alg: 'EdDSA', algorithms: ['EdDSA', 'Ed25519'] };
  const ecAlg = type === 'ec' && curve !== undefined ? EC_ALGORITHMS.get(curve) : undefined;
  if (ecAlg !== undefined) return { alg: ecAlg, algorithms: [ecAlg] };
  throw new SyncPilotError(
    'SP_ERR_CONFIG_INVALID',
    `auth.publicKey has an unsupported key type "${type ?? 'unknown'}${curve === undefined ? '' : ` ${curve}`}" (use RSA, EC P-256/384/521 or Ed25519)`,
  );
}

function jwksEndpoint(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `auth.jwksUrl is not a URL: ${raw}`, { cause: err });
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) return url;
  throw new SyncPilotError(
    'SP_ERR_CONFIG_INVALID',
    `auth.jwksUrl must use https: (plain http: only on a loopback host), got ${url.protocol}//${url.host}`,
  );
}

function stripBearer(token: string | undefined): string {
  if (token === undefined) return '';
  const t = token.trim();
  return /^bearer(?:\s|$)/i.test(t) ? t.slice(6).trim() : t;
}

function unauthenticated(reason: string, cause?: unknown, retryable = false): SyncPilotError {
  return new SyncPilotError('SP_ERR_UNAUTHENTICATED', reason, { cause, retryable });
}

/** Says why a token was refused, without echoing configuration (expected issuer, keys) to the peer. */
function fromJoseError(err: unknown, viaJwks: boolean): SyncPilotError {
  if (err instanceof SyncPilotError) return err;
  if (!(err instanceof errors.JOSEError)) {
    // Outside jose's own errors the usual cause is the network (fetching the JWKS): our side, retryable.
    const detail = err instanceof Error ? err.message : String(err);
    return viaJwks
      ? unauthenticated(`could not load the JWKS: ${detail}`, err, true)
      : unauthenticated(`token verification failed: ${detail}`, err);
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = err;
    if (claim === 'nbf') return unauthenticated('token not yet valid (nbf)', err);
    if (claim === 'iss') return unauthenticated(reason === 'missing' ? 'token has no issuer (iss)' : 'wrong issuer (iss)', err);
    if (claim === 'aud') return unauthenticated(reason === 'missing' ? 'token has no audience (aud)' : 'wrong audience (aud)', err);
    if (claim === 'exp') return unauthenticated('token has no valid expiry (exp)', err);
    return unauthenticated(`malformed claims: ${claim}: ${err.message}`, err);
  }
  const known = JOSE_REASONS.get(err.code);
  if (known !== undefined) return unauthenticated(known.detail ? `${known.reason}: ${err.message}` : known.reason, err, known.retryable);
  // ERR_JOSE_GENERIC and the rest: e.g. a non-200 answer from the JWKS endpoint.
  return viaJwks
    ? unauthenticated(`could not load the JWKS: ${err.message}`, err, true)
    : unauthenticated(`token verification failed: ${err.message}`, err);
}

/** Why jose refused a token, by its error code; `detail` appends jose's message. */
const JOSE_REASONS = new Map<string, { reason: string; retryable: boolean; detail: boolean }>([
  ['ERR_JWT_EXPIRED', { reason: 'token expired', retryable: false, detail: false }],
  ['ERR_JWS_SIGNATURE_VERIFICATION_FAILED', { reason: 'bad signature', retryable: false, detail: false }],
  ['ERR_JOSE_ALG_NOT_ALLOWED', { reason: 'signing algorithm not allowed', retryable: false, detail: false }],
  ['ERR_JWS_INVALID', { reason: 'malformed token', retryable: false, detail: true }],
  ['ERR_JWT_INVALID', { reason: 'malformed token', retryable: false, detail: true }],
  ['ERR_JOSE_NOT_SUPPORTED', { reason: 'unsupported token', retryable: false, detail: true }],
  ['ERR_JWKS_NO_MATCHING_KEY', { reason: 'no key in the JWKS matches the token (kid / alg)', retryable: false, detail: false }],
  [
    'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
    { reason: 'several keys in the JWKS match the token; it needs a kid', retryable: false, detail: false },
  ],
  // Our side: the key set could not be obtained, so the peer may retry.
  ['ERR_JWKS_TIMEOUT', { reason: 'timed out loading the JWKS', retryable: true, detail: false }],
  ['ERR_JWKS_INVALID', { reason: 'the JWKS endpoint returned an invalid key set', retryable: true, detail: false }],
]);

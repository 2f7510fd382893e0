import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  SignJWT,
  UnsecuredJWT,
  base64url,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importPKCS8,
  type CryptoKey,
  type JWTPayload,
} from 'jose';
import { createAllowAllVerifier, createJwtVerifier, createVerifier, type JwtAuthConfig } from '../../src/auth/jwt-verifier.ts';
import type { TokenVerifier } from '../../src/auth/token-verifier.ts';
import { authConfigSchema } from '../../src/core/config.ts';
import { SyncPilotError } from '../../src/core/errors.ts';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'syncpilot';
const DOCS = { read: ['public/*'], write: ['team-a/*', 'notes-1'] };

/** Parses through the real schema, so defaults (clockToleranceSec) are the shipped ones. */
function jwtConfig(input: Record<string, unknown>): JwtAuthConfig {
  const parsed = authConfigSchema.parse({ mode: 'jwt', ...input });
  assert.equal(parsed.mode, 'jwt');
  return parsed;
}

const now = (): number => Math.floor(Date.now() / 1000);

interface SignOptions {
  readonly alg?: string;
  readonly kid?: string;
  readonly iss?: string | null;
  readonly aud?: string | null;
  readonly exp?: number | null;
  readonly nbf?: number;
}

function sign(claims: JWTPayload, key: CryptoKey | Uint8Array, o: SignOptions = {}): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: o.alg ?? 'HS256', ...(o.kid === undefined ? {} : { kid: o.kid }) })
    .setIssuedAt();
  if (o.iss !== null) jwt.setIssuer(o.iss ?? ISSUER);
  if (o.aud !== null) jwt.setAudience(o.aud ?? AUDIENCE);
  if (o.exp !== null) jwt.setExpirationTime(o.exp ?? now() + 300);
  if (o.nbf !== undefined) jwt.setNotBefore(o.nbf);
  return jwt.sign(key);
}

const PEM_SPKI = { type: 'spki', format: 'pem' } as const;
const PEM_PKCS8 = { type: 'pkcs8', format: 'pem' } as const;
const hsKey = new TextEncoder().encode(SECRET);
const claims: JWTPayload = { sub: 'alice', tenant: 'acme', docs: DOCS };

async function rejectsWith(verifier: TokenVerifier, token: string | undefined, pattern: RegExp, retryable = false): Promise<void> {
  await assert.rejects(verifier.verify(token), (err: unknown) => {
    assert.ok(err instanceof SyncPilotError, `expected SyncPilotError, got ${String(err)}`);
    assert.equal(err.code, 'SP_ERR_UNAUTHENTICATED');
    assert.match(err.message, pattern);
    assert.equal(err.retryable, retryable);
    return true;
  });
}

describe('createJwtVerifier with an HS256 secret', () => {
  const verifier = createJwtVerifier(jwtConfig({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE }));

  test('a valid token yields a frozen principal from sub, tenant and docs', async () => {
    const p = await verifier.verify(await sign(claims, hsKey));
    assert.deepEqual(p, { subject: 'alice', tenant: 'acme', read: ['public/*'], write: ['team-a/*', 'notes-1'] });
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.read) && Object.isFrozen(p.write));
  });

  test('tenant defaults to "default", a "Bearer " prefix is accepted', async () => {
    const p = await verifier.verify(`Bearer ${await sign({ sub: 'bob', docs: { read: ['x'] } }, hsKey)}`);
    assert.deepEqual(p, { subject: 'bob', tenant: 'default', read: ['x'], write: [] });
  });

  test('without a docs claim the principal may open nothing', async () => {
    const p = await verifier.verify(await sign({ sub: 'carol' }, hsKey));
    assert.deepEqual([p.read, p.write], [[], []]);
  });

  test('missing or empty token', async () => {
    await rejectsWith(verifier, undefined, /missing token/);
    await rejectsWith(verifier, '', /missing token/);
    await rejectsWith(verifier, 'Bearer   ', /missing token/);
  });

  test('oversized token is refused before parsing', async () => {
    await rejectsWith(verifier, 'x'.repeat(20_000), /too large/);
  });

  test('expired, beyond the clock tolerance', async () => {
    await rejectsWith(verifier, await sign(claims, hsKey, { exp: now() - 60 }), /expired/);
  });

  test('expired by less than clockToleranceSec (default 5) still passes', async () => {
    const p = await verifier.verify(await sign(claims, hsKey, { exp: now() - 2 }));
    assert.equal(p.subject, 'alice');
  });

  test('not yet valid (nbf in the future)', async () => {
    await rejectsWith(verifier, await sign(claims, hsKey, { nbf: now() + 120 }), /not yet valid/);
  });

  test('a token without exp is refused', async () => {
    await rejectsWith(verifier, await sign(claims, hsKey, { exp: null }), /expiry \(exp\)/);
  });

  test('signed with another secret', async () => {
    await rejectsWith(verifier, await sign(claims, new TextEncoder().encode('another-secret-of-sufficient-len')), /bad signature/);
  });

  test('wrong issuer, wrong audience, missing issuer', async () => {
    await rejectsWith(verifier, await sign(claims, hsKey, { iss: 'https://evil.example' }), /wrong issuer/);
    await rejectsWith(verifier, await sign(claims, hsKey, { aud: 'other-app' }), /wrong audience/);
    await rejectsWith(verifier, await sign(claims, hsKey, { iss: null }), /no issuer/);
  });

  test('alg "none" (unsecured JWT) is refused', async () => {
    const unsecured = new UnsecuredJWT(claims)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(now() + 300)
      .encode();
    await rejectsWith(verifier, unsecured, /algorithm not allowed|malformed token/);
  });

  test('a tampered payload fails the signature check', async () => {
    const [header, , signature] = (await sign(claims, hsKey)).split('.');
    const forged = { ...claims, docs: { read: [], write: ['*'] }, iss: ISSUER, aud: AUDIENCE, exp: now() + 300 };
    const token = `${header}.${base64url.encode(JSON.stringify(forged))}.${signature}`;
    await rejectsWith(verifier, token, /bad signature/);
  });

  test('garbage is a malformed token', async () => {
    await rejectsWith(verifier, 'not.a.jwt', /malformed token/);
    await rejectsWith(verifier, 'abc', /malformed token/);
  });

  test('malformed claims: docs with unknown keys, bad patterns, wrong types, missing sub', async () => {
    await rejectsWith(verifier, await sign({ sub: 'a', docs: { read: [], writes: ['x'] } }, hsKey), /malformed claims: docs: .*writes/i);
    await rejectsWith(verifier, await sign({ sub: 'a', docs: { read: ['a*b'] } }, hsKey), /malformed claims: docs\.read\.0/);
    await rejectsWith(verifier, await sign({ sub: 'a', docs: { read: ['**'] } }, hsKey), /malformed claims: docs\.read\.0/);
    await rejectsWith(verifier, await sign({ sub: 'a', docs: { write: 'team-a/*' } }, hsKey), /malformed claims: docs\.write/);
    await rejectsWith(verifier, await sign({ sub: 'a', docs: { read: ['has space'] } }, hsKey), /malformed claims/);
    await rejectsWith(verifier, await sign({ docs: DOCS }, hsKey), /malformed claims: sub/);
    await rejectsWith(verifier, await sign({ sub: 'a', tenant: 7 }, hsKey), /malformed claims: tenant/);
  });

  test('without issuer/audience configured, those claims are not enforced', async () => {
    const lax = createJwtVerifier(jwtConfig({ secret: SECRET }));
    const p = await lax.verify(await sign(claims, hsKey, { iss: 'anyone', aud: null }));
    assert.equal(p.subject, 'alice');
  });
});

describe('createJwtVerifier with an ES256 SPKI public key', () => {
  let es: { publicKey: CryptoKey; privateKey: CryptoKey };
  let verifier: TokenVerifier;
  let pem: string;
  before(async () => {
    es = await generateKeyPair('ES256', { extractable: true });
    pem = await exportSPKI(es.publicKey);
    verifier = createJwtVerifier(jwtConfig({ publicKey: pem, issuer: ISSUER, audience: AUDIENCE }));
  });

  test('a valid token yields the principal', async () => {
    const p = await verifier.verify(await sign(claims, es.privateKey, { alg: 'ES256' }));
    assert.equal(p.subject, 'alice');
    assert.deepEqual(p.write, DOCS.write);
  });

  test('a token signed by another key pair fails', async () => {
    const other = await generateKeyPair('ES256');
    await rejectsWith(verifier, await sign(claims, other.privateKey, { alg: 'ES256' }), /bad signature/);
  });

  test('algorithm confusion: HS256 signed with the public PEM as secret is refused', async () => {
    await rejectsWith(verifier, await sign(claims, new TextEncoder().encode(pem)), /algorithm not allowed/);
  });

  test('expired and wrong audience', async () => {
    await rejectsWith(verifier, await sign(claims, es.privateKey, { alg: 'ES256', exp: now() - 60 }), /expired/);
    await rejectsWith(verifier, await sign(claims, es.privateKey, { alg: 'ES256', aud: 'x' }), /wrong audience/);
  });

  test('an Ed25519 key selects EdDSA', async () => {
    const ed = await generateKeyPair('EdDSA', { extractable: true });
    const v = createJwtVerifier(jwtConfig({ publicKey: await exportSPKI(ed.publicKey) }));
    assert.equal((await v.verify(await sign(claims, ed.privateKey, { alg: 'EdDSA' }))).subject, 'alice');
    await rejectsWith(v, await sign(claims, es.privateKey, { alg: 'ES256' }), /algorithm not allowed/);
  });
});

describe('createJwtVerifier with an RSA SPKI public key', () => {
  test('RS256 tokens verify; PS256 ones (same key) do not', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: PEM_SPKI, privateKeyEncoding: PEM_PKCS8 });
    const priv = await importPKCS8(rsa.privateKey, 'RS256');
    const v = createJwtVerifier(jwtConfig({ publicKey: rsa.publicKey }));
    assert.equal((await v.verify(await sign(claims, priv, { alg: 'RS256' }))).subject, 'alice');
    const ps = await importPKCS8(rsa.privateKey, 'PS256');
    await rejectsWith(v, await sign(claims, ps, { alg: 'PS256' }), /algorithm not allowed/);
  });
});

describe('createJwtVerifier with a JWKS served over local HTTP', () => {
  let server: Server;
  let url: string;
  let requests = 0;
  let es: { publicKey: CryptoKey; privateKey: CryptoKey };
  before(async () => {
    es = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(es.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    server = createServer((req, res) => {
      requests++;
      if (req.url === '/.well-known/jwks.json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('verifies through jwksUrl, fetching the key set once', async () => {
    const v = createJwtVerifier(jwtConfig({ jwksUrl: `${url}/.well-known/jwks.json`, issuer: ISSUER, audience: AUDIENCE }));
    const before = requests;
    assert.equal((await v.verify(await sign(claims, es.privateKey, { alg: 'ES256', kid: 'k1' }))).subject, 'alice');
    assert.equal((await v.verify(await sign({ sub: 'bob' }, es.privateKey, { alg: 'ES256', kid: 'k1' }))).subject, 'bob');
    assert.equal(requests - before, 1);
  });

  test('unknown kid, wrong key and HS256 tokens are refused', async () => {
    const v = createJwtVerifier(jwtConfig({ jwksUrl: `${url}/.well-known/jwks.json` }));
    await rejectsWith(v, await sign(claims, es.privateKey, { alg: 'ES256', kid: 'nope' }), /no key in the JWKS/);
    const other = await generateKeyPair('ES256');
    await rejectsWith(v, await sign(claims, other.privateKey, { alg: 'ES256', kid: 'k1' }), /bad signature/);
    await rejectsWith(v, await sign(claims, hsKey, { kid: 'k1' }), /algorithm not allowed/);
  });

  test('an endpoint that does not serve a key set is a retryable failure', async () => {
    const v = createJwtVerifier(jwtConfig({ jwksUrl: `${url}/missing` }));
    await rejectsWith(v, await sign(claims, es.privateKey, { alg: 'ES256', kid: 'k1' }), /could not load the JWKS/, true);
  });

  test('an unreachable endpoint is a retryable failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const v = createJwtVerifier(jwtConfig({ jwksUrl: `http://127.0.0.1:${port}/jwks` }));
    await rejectsWith(v, await sign(claims, es.privateKey, { alg: 'ES256', kid: 'k1' }), /could not load the JWKS/, true);
  });
});

describe('configuration', () => {
  test('exactly one key source is required', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    for (const bad of [{}, { secret: SECRET, publicKey: pem }, { secret: SECRET, jwksUrl: 'https://id.example/jwks' }]) {
      assert.throws(
        () => createJwtVerifier(jwtConfig(bad)),
        (err: unknown) => {
          assert.ok(err instanceof SyncPilotError);
          assert.equal(err.code, 'SP_ERR_CONFIG_INVALID');
          assert.match(err.message, /exactly one of/);
          return true;
        },
      );
    }
  });

  test('a private key, a garbled PEM or an unsupported curve as publicKey', async () => {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const secp256k1 = generateKeyPairSync('ec', {
      namedCurve: 'secp256k1',
      publicKeyEncoding: PEM_SPKI,
      privateKeyEncoding: PEM_PKCS8,
    }).publicKey;
    const cases = [await exportPKCS8(privateKey), '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n', secp256k1];
    for (const pem of cases) {
      assert.throws(
        () => createJwtVerifier(jwtConfig({ publicKey: pem })),
        (err: unknown) => err instanceof SyncPilotError && err.code === 'SP_ERR_CONFIG_INVALID',
      );
    }
  });

  test('a plain-http JWKS URL is refused unless loopback', () => {
    assert.throws(() => createJwtVerifier(jwtConfig({ jwksUrl: 'http://id.example/jwks' })), /must use https/);
    assert.doesNotThrow(() => createJwtVerifier(jwtConfig({ jwksUrl: 'http://localhost:9/jwks' })));
  });

  test('createVerifier picks by mode; mode none allows everything for any token', async () => {
    const none = createVerifier({ mode: 'none' });
    for (const token of [undefined, '', 'garbage']) {
      const p = await none.verify(token);
      assert.deepEqual(p, { subject: 'anonymous', tenant: 'default', read: ['*'], write: ['*'] });
    }
    assert.equal(await createAllowAllVerifier().verify(undefined), await none.verify('x'), 'one shared principal object');
    const jwt = createVerifier(jwtConfig({ secret: SECRET }));
    await rejectsWith(jwt, undefined, /missing token/);
    assert.equal((await jwt.verify(await sign(claims, hsKey))).subject, 'alice');
  });
});

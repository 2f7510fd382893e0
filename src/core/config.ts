import { z } from 'zod';
import { SyncPilotError } from './errors.ts';

/** Authentication: `none` trusts every peer with full access (development only); `jwt` verifies bearer tokens. */
export const authConfigSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('none') }),
  z.strictObject({
    mode: z.literal('jwt'),
    /** HMAC secret (HS256) for verification. */
    secret: z.string().min(16).optional(),
    /** A PEM SPKI public key (RS256 / ES256 / EdDSA). */
    publicKey: z.string().optional(),
    /** A JWKS endpoint. */
    jwksUrl: z.url().optional(),
    issuer: z.string().optional(),
    audience: z.string().optional(),
    /** Clock tolerance in seconds for `exp` / `nbf`. */
    clockToleranceSec: z.number().int().min(0).max(300).default(5),
  }),
]);
export type AuthConfig = z.infer<typeof authConfigSchema>;

export const serverConfigSchema = z.strictObject({
  /** Directory for the SQLite store and the embedded telemetry log. */
  dataDir: z.string().min(1).default('.syncpilot'),
  host: z.string().default('127.0.0.1'),
  /** 0 picks a free port. */
  port: z.number().int().min(0).max(65535).default(4455),
  /** Frames larger than this are refused with SP_ERR_FRAME_TOO_LARGE. */
  maxFrameBytes: z
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  /** Changes a document may buffer while waiting for causal dependencies. */
  maxPendingChanges: z.number().int().min(1).default(10_000),
  /** Write a snapshot after this many changes since the last one. */
  snapshotEvery: z.number().int().min(1).default(2_000),
  /** `process`: an ack survives a crash of the server process; `power`: it survives power loss (fsync per commit). */
  durability: z.enum(['process', 'power']).default('process'),
  /** Outbound bytes buffered for one peer before it is treated as slow and resynced later. */
  highWaterBytes: z
    .number()
    .int()
    .min(1024)
    .default(8 * 1024 * 1024),
  /** Default per-stage time budget in milliseconds. */
  stageBudgetMs: z.number().positive().default(5),
  auth: authConfigSchema.default({ mode: 'none' }),
  telemetry: z
    .strictObject({
      sink: z.enum(['embedded', 'none']).default('embedded'),
      segmentBytes: z
        .number()
        .int()
        .min(4096)
        .default(16 * 1024 * 1024),
    })
    .default({ sink: 'embedded', segmentBytes: 16 * 1024 * 1024 }),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});
export type ServerConfig = Readonly<z.infer<typeof serverConfigSchema>>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

/** Parses configuration once at the edge; throws SP_ERR_CONFIG_INVALID listing every problem. */
export function parseServerConfig(input: unknown): ServerConfig {
  const result = serverConfigSchema.safeParse(input ?? {});
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid configuration: ${problems}`, { details: { issues: result.error.issues } });
  }
  return Object.freeze(result.data);
}

/**
 * Every error syncpilot raises or sends over the wire carries one of these stable codes.
 * Codes are never reused or renamed; the catalogue with explanations is `docs/errors.md`.
 */
export const ERROR_CODES = {
  SP_ERR_CONFIG_INVALID: 'Configuration failed validation.',
  SP_ERR_FRAME_TOO_LARGE: 'A frame exceeded the configured maximum size.',
  SP_ERR_FRAME_MALFORMED: 'A frame could not be decoded.',
  SP_ERR_PROTOCOL_VERSION: 'The peer speaks a protocol version this server does not support.',
  SP_ERR_PROTOCOL_STATE: 'A frame arrived that is not valid in the current connection state.',
  SP_ERR_CODEC_UNSUPPORTED: 'A frame used a codec that was not negotiated or is unknown.',
  SP_ERR_PAYLOAD_INVALID: 'A frame payload decoded but failed validation.',
  SP_ERR_UNAUTHENTICATED: 'The peer presented no valid credentials.',
  SP_ERR_FORBIDDEN: 'The peer may not perform this operation on this document.',
  SP_ERR_CHANGE_INVALID: 'A change is structurally invalid for the document it targets.',
  SP_ERR_CHANGE_CONFLICT: 'A change reuses an (actor, seq) already applied with different content.',
  SP_ERR_CAUSAL_BUFFER_FULL: 'Too many changes are waiting for their causal dependencies.',
  SP_ERR_STORE: 'The persistent store failed.',
  SP_ERR_STORE_CORRUPT: 'Persistent data failed an integrity check.',
  SP_ERR_STAGE_FAILED: 'A pipeline stage threw an error.',
  SP_ERR_STAGE_TIMEOUT: 'A pipeline stage exceeded its time budget.',
  SP_ERR_HELD: 'The message was held durably by a protecting stage and was not applied.',
  SP_ERR_BACKPRESSURE: 'The peer is sending faster than the server can accept.',
  SP_ERR_TELEMETRY: 'The telemetry sink failed.',
  SP_ERR_EVENT_INVALID: 'A telemetry event does not match its versioned schema.',
  SP_ERR_TRACE_INVALID: 'An editing trace file is missing or malformed.',
  SP_ERR_MODEL_NOT_FOUND: 'No model (or model version) by that name is in the registry.',
  SP_ERR_MODEL_CORRUPT: 'A model file is truncated, fails its checksum, or cannot be decoded.',
  SP_ERR_MODEL_MISMATCH: 'A model does not fit where it is loaded (feature schema, shape, policy).',
  SP_ERR_MODEL_CARD_INVALID: 'A model card does not match its schema.',
  SP_ERR_INFERENCE_FAILED: 'A model could not produce a prediction in its budget; the baseline answered.',
  SP_ERR_PROMOTION_REJECTED: 'A challenger did not pass the promotion gate.',
  SP_ERR_DATASET_INVALID: 'A training dataset is missing, empty or malformed.',
  SP_ERR_JOB_INVALID: 'A pipeline job payload failed validation.',
  SP_ERR_CLOSED: 'The component was used after it was closed.',
  SP_ERR_TIMEOUT: 'An operation did not complete in time.',
  SP_ERR_INTERNAL: 'An unexpected internal error; this is a bug.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

export interface SyncPilotErrorOptions {
  readonly cause?: unknown;
  readonly retryable?: boolean;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The one error class of syncpilot: a stable `code`, a `retryable` flag and the original `cause`. */
export class SyncPilotError extends Error {
  override readonly name = 'SyncPilotError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message?: string, options: SyncPilotErrorOptions = {}) {
    super(message ?? ERROR_CODES[code], options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }

  toJSON(): { code: ErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/** Wraps anything thrown into a SyncPilotError, keeping an existing one as is. */
export function toSyncPilotError(err: unknown, fallback: ErrorCode = 'SP_ERR_INTERNAL'): SyncPilotError {
  if (err instanceof SyncPilotError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SyncPilotError(fallback, message, { cause: err });
}

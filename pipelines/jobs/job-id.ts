import { createHash } from 'node:crypto';
import type { Policy } from '../../src/ml/policy.ts';

/** A JSON value as job configs hold it. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/**
 * JSON with object keys sorted at every depth, so equal configs give equal text whatever order
 * their keys were written in. `undefined` members are dropped, as `JSON.stringify` does.
 */
export function canonicalJson(value: JsonValue | undefined): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${(value as readonly JsonValue[]).map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as { readonly [key: string]: JsonValue | undefined };
  const members = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  return `{${members.join(',')}}`;
}

/**
 * The id of one train → evaluate → promote cycle: SHA-256 over the policy, the data fingerprint
 * and the canonical training config. Two triggers for the same data and config get the same id,
 * so the queue (BullMQ job ids) and the in-process runner collapse them into one training.
 * Hex only: BullMQ refuses ids that contain `:` or parse as integers, and the step suffixes
 * (`-train`, …) keep it from being all digits.
 */
export function pipelineJobId(policy: Policy, dataFingerprint: string, config: JsonValue): string {
  return createHash('sha256').update(canonicalJson({ policy, dataFingerprint, config })).digest('hex');
}

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { z } from 'zod';
import { SyncPilotError } from '../core/errors.ts';
import type { ConcurrentTrace, EditingTrace, SequentialTrace } from './types.ts';

const gunzipAsync = promisify(gunzip);

/** How many zod issues a message lists before summarising the rest. */
const MAX_LISTED_ISSUES = 5;

const count = z.number().int().nonnegative();
const patchSchema = z.tuple([count, count, z.string()]);

/** RFC 3339 timestamp → epoch milliseconds; the traces use the epoch itself for "unknown". */
const timeSchema = z.string().transform((value, ctx) => {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: `not an RFC 3339 timestamp: ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});

// Plain (non-strict) objects on purpose: the format belongs to the upstream project, which adds
// fields over time; we validate every field we use and drop the rest.
const sequentialSchema = z.object({
  startContent: z.string(),
  endContent: z.string(),
  txns: z.array(
    z.object({
      time: timeSchema.optional(),
      // The upstream README documents `timestamp`; the published files use `time`.
      timestamp: timeSchema.optional(),
      patches: z.array(patchSchema),
    }),
  ),
});

const concurrentSchema = z.object({
  kind: z.literal('concurrent'),
  endContent: z.string(),
  numAgents: z.number().int().positive(),
  txns: z.array(
    z.object({
      parents: z.array(count),
      numChildren: count,
      agent: count,
      time: timeSchema,
      patches: z.array(patchSchema),
    }),
  ),
});

function invalid(source: string, message: string, cause?: unknown): SyncPilotError {
  return new SyncPilotError('SP_ERR_TRACE_INVALID', `invalid editing trace ${source}: ${message}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { source },
  });
}

function describeIssues(error: z.ZodError): string {
  const listed = error.issues.slice(0, MAX_LISTED_ISSUES).map((issue) => {
    const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    return `${path === '' ? '(root)' : path.replace(/^\./, '')}: ${issue.message}`;
  });
  const more = error.issues.length - listed.length;
  return listed.join('; ') + (more > 0 ? `; and ${more} more issue(s)` : '');
}

/** Checks what a schema cannot: causal structure and agent ranges. Parents must point backwards. */
function checkConcurrent(trace: ConcurrentTrace, source: string): void {
  const { txns, numAgents } = trace;
  if (txns.length === 0) throw invalid(source, 'txns is empty');
  for (let i = 0; i < txns.length; i++) {
    const txn = txns[i]!;
    if (txn.agent >= numAgents) throw invalid(source, `txns[${i}].agent ${txn.agent} is not below numAgents ${numAgents}`);
    if (i === 0 ? txn.parents.length !== 0 : txn.parents.length === 0) {
      throw invalid(
        source,
        i === 0 ? 'txns[0] must have no parents' : `txns[${i}] has no parents; only txns[0] may start from the empty document`,
      );
    }
    for (const p of txn.parents) {
      if (p >= i) throw invalid(source, `txns[${i}].parents names ${p}, which is not an earlier txn`);
    }
  }
}

/**
 * Validates an already-decoded JSON value as an editing trace (sequential or concurrent).
 * `source` names the input in error messages.
 *
 * @throws SyncPilotError `SP_ERR_TRACE_INVALID` listing the first problems found.
 */
export function parseTrace(json: unknown, source = '(inline)'): EditingTrace {
  if (typeof json === 'object' && json !== null && 'kind' in json) {
    const result = concurrentSchema.safeParse(json);
    if (!result.success) throw invalid(source, describeIssues(result.error), result.error);
    const trace: ConcurrentTrace = { ...result.data, kind: 'concurrent' };
    checkConcurrent(trace, source);
    return trace;
  }
  const result = sequentialSchema.safeParse(json);
  if (!result.success) throw invalid(source, describeIssues(result.error), result.error);
  const trace: SequentialTrace = {
    kind: 'sequential',
    startContent: result.data.startContent,
    endContent: result.data.endContent,
    txns: result.data.txns.map((t) => ({ time: t.time ?? t.timestamp ?? 0, patches: t.patches })),
  };
  return trace;
}

/**
 * Reads an editing trace file (josephg/editing-traces format): gunzips it when it is gzipped
 * (by content, whatever its name), parses the JSON and validates it.
 *
 * @throws SyncPilotError `SP_ERR_TRACE_INVALID` when the file is missing, not gzip/JSON, or not a valid trace.
 */
export async function loadTrace(path: string): Promise<EditingTrace> {
  const source = basename(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw invalid(source, `cannot read ${path}: ${(err as Error).message}`, err);
  }
  const gzipped = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  if (gzipped) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (err) {
      throw invalid(source, `gunzip failed: ${(err as Error).message}`, err);
    }
  } else if (path.endsWith('.gz')) {
    throw invalid(source, 'the file name ends in .gz but the content is not gzip');
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid(source, `not JSON: ${(err as Error).message}`, err);
  }
  return parseTrace(json, source);
}

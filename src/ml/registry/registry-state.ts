import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { SyncPilotError } from '../../core/errors.ts';
import { writeFileAtomic } from './atomic-file.ts';

const version = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** The changes the registry records, one history entry each. */
export const HISTORY_ACTIONS = ['register', 'promote', 'rollback', 'add-challenger', 'remove-challenger'] as const;
export type HistoryAction = (typeof HISTORY_ACTIONS)[number];

const historyEntrySchema = z.strictObject({
  /** Milliseconds since the epoch. */
  at: z.number().int().nonnegative(),
  action: z.enum(HISTORY_ACTIONS),
  /** The version acted on (for `promote` and `rollback`: the new champion). */
  version: version,
  /** The champion before this change. */
  previous: version.nullable(),
  /** The registry that made the change (host, pid, random suffix). */
  origin: z.string().min(1).max(256),
  /** A promotion that skipped the gate. */
  forced: z.literal(true).optional(),
  /** Challengers dropped to stay within the registry's `maxChallengers`. */
  evicted: z.array(version).optional(),
});

/** `<root>/<policy>/state.json`: a policy's serving state and every change that led to it. */
export const policyStateSchema = z.strictObject({
  champion: version.nullable(),
  /** Oldest first. */
  challengers: z.array(version),
  /** Oldest first; never truncated. */
  history: z.array(historyEntrySchema),
});

export type HistoryEntry = z.infer<typeof historyEntrySchema>;

/** A policy's champion, challengers and history, as in its `state.json`. */
export interface PolicyState {
  readonly champion: number | null;
  readonly challengers: readonly number[];
  readonly history: readonly Readonly<HistoryEntry>[];
}

export const EMPTY_STATE: PolicyState = Object.freeze({ champion: null, challengers: Object.freeze([]), history: Object.freeze([]) });

/**
 * Reads a state file; a missing one is the empty state.
 * @throws SyncPilotError `SP_ERR_STORE_CORRUPT` when it is not valid JSON or fails its schema
 */
export async function readStateFile(path: string): Promise<PolicyState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_STATE;
    throw new SyncPilotError('SP_ERR_STORE', `cannot read ${path}`, { cause: err });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `registry state ${path} is not valid JSON`, { cause: err });
  }
  const r = policyStateSchema.safeParse(value);
  if (!r.success) {
    throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `registry state ${path} is invalid: ${z.prettifyError(r.error)}`, { cause: r.error });
  }
  return r.data;
}

/** Replaces a state file atomically (tmp + fsync + rename + directory fsync). */
export async function writeStateFile(path: string, state: PolicyState): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(state, null, 2)}\n`);
}

/**
 * The champions a rollback can return to, oldest first, ending with the current one: replays
 * `promote` (push) and `rollback` (pop) entries, so rolling back twice goes two champions back
 * rather than bouncing between the last two.
 */
export function championStack(history: readonly HistoryEntry[]): number[] {
  const stack: number[] = [];
  for (const e of history) {
    if (e.action === 'promote') {
      if (stack.at(-1) !== e.version) stack.push(e.version);
    } else if (e.action === 'rollback') {
      stack.pop();
      // A history written by hand may roll back to a version the stack no longer has: follow it.
      if (stack.at(-1) !== e.version) stack.push(e.version);
    }
  }
  return stack;
}

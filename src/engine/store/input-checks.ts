import { SyncPilotError, isErrorCode } from '../../core/errors.ts';
import type { HeldMessage } from '../../core/pipeline.ts';
import type { Change } from '../crdt/types.ts';
import type { Snapshot } from './types.ts';

/** How many snapshots each store keeps per document: the newest, and one to fall back on. */
export const SNAPSHOTS_KEPT = 2;

/**
 * Rejects changes whose identity is unusable, before anything is written: an (actor, seq) that is
 * not a non-empty string and a positive safe integer would break idempotence and `since` filtering.
 * @throws SyncPilotError `SP_ERR_CHANGE_INVALID`
 */
export function checkChanges(changes: readonly Change[]): void {
  for (const change of changes) {
    const actor: unknown = change.actor;
    if (typeof actor !== 'string' || actor.length === 0 || !Number.isSafeInteger(change.seq) || change.seq < 1) {
      throw new SyncPilotError(
        'SP_ERR_CHANGE_INVALID',
        `change has an invalid identity (actor ${JSON.stringify(actor)}, seq ${String(change.seq)})`,
      );
    }
  }
}

/** @throws SyncPilotError `SP_ERR_STORE` for a snapshot that could not be stored faithfully. */
export function checkSnapshot(snapshot: Snapshot): void {
  const clockOk =
    typeof snapshot.clock === 'object' &&
    snapshot.clock !== null &&
    Object.values(snapshot.clock).every((v) => Number.isSafeInteger(v) && v >= 0);
  if (
    !clockOk ||
    !(snapshot.state instanceof Uint8Array) ||
    !Number.isSafeInteger(snapshot.changeCount) ||
    snapshot.changeCount < 0 ||
    !Number.isFinite(snapshot.createdAt)
  ) {
    throw new SyncPilotError('SP_ERR_STORE', 'snapshot is malformed (clock, state, changeCount or createdAt)');
  }
}

/** @throws SyncPilotError `SP_ERR_STORE` for a hold record that could not be stored or found again. */
export function checkHold(record: HeldMessage): void {
  if (typeof record.id !== 'string' || record.id.length === 0 || !isErrorCode(record.code) || !Number.isFinite(record.heldAt)) {
    throw new SyncPilotError('SP_ERR_STORE', 'hold record is malformed (id, code or heldAt)');
  }
}

import type { ModelCard } from '../model-card.ts';
import type { Policy } from '../policy.ts';
import type { GateOutcome } from './promotion-gate.ts';
import type { PolicyState } from './registry-state.ts';

export type { PolicyState, HistoryEntry, HistoryAction } from './registry-state.ts';

/** One policy in {@link RegistryReader.list}. */
export interface PolicySummary {
  readonly policy: Policy;
  /** Registered versions, ascending. */
  readonly versions: readonly number[];
  readonly champion: number | null;
  readonly challengers: readonly number[];
  /** When the state last changed (ms since the epoch), `null` if never. */
  readonly updatedAt: number | null;
}

/**
 * What a server needs from the registry to serve models (`ModelHost` uses it): read-only, and
 * safe while another process changes the registry (state files are replaced atomically).
 */
export interface RegistryReader {
  /** Every policy with at least one version or a state file, in `POLICIES` order. */
  list(): Promise<PolicySummary[]>;
  /** A policy's registered versions, ascending (none: `[]`). */
  versions(policy: Policy): Promise<number[]>;
  /**
   * A version's card (default: the champion's).
   * @throws SyncPilotError `SP_ERR_MODEL_NOT_FOUND` (no such version, or no champion),
   * `SP_ERR_MODEL_CARD_INVALID`, `SP_ERR_MODEL_MISMATCH` (the card names another policy or version
   * than where it lies), `SP_ERR_CONFIG_INVALID` (unknown policy, bad version number)
   */
  show(policy: Policy, version?: number): Promise<ModelCard>;
  /** The directory holding a version's `card.json` and model file (not checked for existence). */
  modelDir(policy: Policy, version: number): string;
  /**
   * A policy's champion, challengers and history.
   * @throws SyncPilotError `SP_ERR_STORE_CORRUPT` when its state file is damaged
   */
  state(policy: Policy): Promise<PolicyState>;
}

/** The outcome of {@link ModelRegistry.promote} and {@link ModelRegistry.rollback}. */
export interface PromotionResult {
  readonly policy: Policy;
  readonly action: 'promote' | 'rollback';
  /** The champion now. */
  readonly champion: number;
  /** The champion before (`null`: there was none). */
  readonly previous: number | null;
  readonly challengers: readonly number[];
  /** False when the version already was the champion (nothing was written; the notice is sent again). */
  readonly changed: boolean;
  /** The gate was skipped on request. */
  readonly forced: boolean;
  /** The comparison the gate made; `null` when there was no champion, on rollback, or when forced. */
  readonly gate: GateOutcome | null;
  /** Whether the promotion notice reached the bus (a failure is logged; the promotion stands). */
  readonly notified: boolean;
  /** When the change was made (ms since the epoch). */
  readonly at: number;
}

import type { Policy } from '../../src/ml/policy.ts';
import type { SyncPilotEvent } from '../../src/telemetry/events/schemas.ts';

/**
 * What counts as a new label for each policy: the outcome its model learns to predict. The label
 * trigger counts these, and a `labels` cycle's train job reads the same ones back as rows.
 */
export const DEFAULT_LABELS: Record<Policy, { readonly families: readonly string[]; readonly isLabel: (e: SyncPilotEvent) => boolean }> = {
  // A person accepted, rejected or edited a suggestion.
  conflict: { families: ['review-decision'], isLabel: (e) => e.type === 'syncpilot.review-decision.v1' },
  // A session opened a document: what prefetch should have predicted.
  prefetch: { families: ['access'], isLabel: (e) => e.type === 'syncpilot.access.v1' && e.data.action === 'open' },
  // A codec's actual output size for a compressed message.
  compression: { families: ['compression'], isLabel: (e) => e.type === 'syncpilot.compression.v1' && e.data.decision === 'compress' },
  // A quarantined peer released: a false positive someone corrected.
  anomaly: { families: ['anomaly'], isLabel: (e) => e.type === 'syncpilot.anomaly.v1' && e.data.action === 'release' },
};

import { SyncPilotError } from '../../src/core/errors.ts';
import { parseJob, promotePayloadSchema, type PromotePayload, type PromoteResult } from './job-schemas.ts';
import { emitLifecycle } from './lifecycle.ts';
import type { PipelineDeps } from './pipeline-deps.ts';

/**
 * Promotes an evaluated version through the registry's gate. Idempotent: when the version is
 * already the champion (an earlier attempt promoted it) it reports success without promoting
 * again. A version the evaluation found ineligible, or that the registry's gate rejects, stays a
 * challenger (shadow mode) and the result says why; that is an outcome, not an error.
 * @throws SyncPilotError `SP_ERR_JOB_INVALID` (payload), and registry failures other than
 * `SP_ERR_PROMOTION_REJECTED`
 */
export async function promoteJob(input: PromotePayload, deps: PipelineDeps): Promise<PromoteResult> {
  const p = parseJob(promotePayloadSchema, input, 'promote payload');
  const registry = await deps.openRegistry();
  const before = await registry.champion(p.policy);
  const base = { jobId: p.jobId, policy: p.policy, version: p.version };
  if (before === p.version) return { ...base, promoted: true, champion: before, reason: `v${p.version} is the champion` };
  const keep = (reason: string): PromoteResult => {
    deps.logger?.info('model kept as a challenger', { policy: p.policy, version: p.version, champion: before, reason });
    return { ...base, promoted: false, champion: before, reason };
  };
  if (!p.eligible) return keep(p.reason);
  try {
    await registry.promote(p.policy, p.version, { margin: p.margin });
  } catch (err) {
    if (err instanceof SyncPilotError && err.code === 'SP_ERR_PROMOTION_REJECTED') return keep(err.message);
    throw err;
  }
  const card = await registry.show(p.policy, p.version);
  emitLifecycle(deps, p.policy, card, 'promoted', { metrics: card.metrics.test, reason: p.reason });
  deps.logger?.info('model promoted', { policy: p.policy, version: p.version, previous: before });
  return { ...base, promoted: true, champion: p.version, reason: p.reason };
}

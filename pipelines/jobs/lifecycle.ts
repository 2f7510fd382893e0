import { newEventId } from '../../src/core/telemetry.ts';
import type { Policy } from '../../src/ml/policy.ts';
import type { PipelineDeps } from './pipeline-deps.ts';

/** The lifecycle steps the pipeline reports (the registry and ModelHost report the others). */
export type PipelineLifecycleEvent = 'trained' | 'evaluated' | 'promoted';

/** Emits a `syncpilot.model-lifecycle.v1` event when `deps.telemetry` is set. */
export function emitLifecycle(
  deps: Pick<PipelineDeps, 'telemetry' | 'tenant' | 'clock'>,
  policy: Policy,
  model: { readonly name: string; readonly version: number },
  event: PipelineLifecycleEvent,
  extra: { readonly metrics?: Readonly<Record<string, number>>; readonly reason?: string } = {},
): void {
  if (deps.telemetry === undefined) return;
  deps.telemetry.emit({
    type: 'syncpilot.model-lifecycle.v1',
    id: newEventId(),
    time: Math.round((deps.clock ?? Date.now)()),
    tenant: deps.tenant ?? 'default',
    key: policy,
    data: {
      policy,
      model: { id: `${policy}/${model.name}`, version: String(model.version) },
      event,
      ...(extra.metrics === undefined ? {} : { metrics: { ...extra.metrics } }),
      ...(extra.reason === undefined ? {} : { reason: extra.reason.slice(0, 1024) }),
    },
  });
}

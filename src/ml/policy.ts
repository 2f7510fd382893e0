/** The policies that own a model. Each has features, a baseline, a model and a stage (DESIGN.md). */
export const POLICIES = ['conflict', 'prefetch', 'compression', 'anomaly'] as const;
export type Policy = (typeof POLICIES)[number];

export function isPolicy(value: unknown): value is Policy {
  return typeof value === 'string' && (POLICIES as readonly string[]).includes(value);
}

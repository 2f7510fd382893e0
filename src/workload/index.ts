/** Editing traces and workloads for the demo, tests and benchmarks. */
export { loadTrace, parseTrace } from './trace-file.ts';
export { convertTrace } from './trace-to-changes.ts';
export type { ConvertOptions } from './trace-to-changes.ts';
export { syntheticWorkload, SYNTHETIC_COUNTER_KEY, SYNTHETIC_MAP_KEY } from './synthetic.ts';
export type { SyntheticOptions, SyntheticWorkload } from './synthetic.ts';
export { defaultDataDir, defaultTracesDir, listTraceFiles } from './traces-dir.ts';
export { ReplicaSimulator } from './replica-sim.ts';
export { createPrng } from './prng.ts';
export type { Prng } from './prng.ts';
export type {
  AgentChanges,
  ConcurrentTrace,
  ConcurrentTxn,
  ConvertedTrace,
  EditingTrace,
  OrderEntry,
  SequentialTrace,
  SequentialTxn,
  TracePatch,
} from './types.ts';

/** The telemetry spool: events waiting on local disk for an unreachable or slow broker. */
export { Spool } from './spool.ts';
export type { SpoolAppendResult, SpoolBatch, SpoolOptions } from './spool-options.ts';
export { comparePositions, POSITION_FILE_NAME } from './spool-position.ts';
export type { SpoolPosition } from './spool-position.ts';

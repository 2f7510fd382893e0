import type { Envelope } from '../../core/stage.ts';
import type { ApplyResult, Change } from '../crdt/types.ts';

/** The envelope the reference engine passes through the pipeline: changes in, the apply outcome after. */
export type EngineEnvelope = Envelope<readonly Change[], ApplyResult>;

let seq = 0;
/** A process-unique message id. */
export function nextMessageId(): string {
  seq = (seq + 1) >>> 0;
  return `m${seq.toString(36)}`;
}

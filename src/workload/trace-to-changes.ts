import { SyncPilotError } from '../core/errors.ts';
import { actorId, isValidId } from '../core/ids.ts';
import type { ActorId } from '../core/ids.ts';
import type { Transaction } from '../engine/crdt/crdt-doc.ts';
import { ROOT } from '../engine/crdt/types.ts';
import type { ObjId } from '../engine/crdt/types.ts';
import { ReplicaSimulator } from './replica-sim.ts';
import type { ConcurrentTrace, ConvertedTrace, EditingTrace, SequentialTrace, TracePatch } from './types.ts';

/** Options of {@link convertTrace}. */
export interface ConvertOptions {
  /** The root map key of the text object. Default `'text'`. */
  readonly docTextKey?: string;
  /** Actor ids are `<prefix><agent>` and `<prefix>setup`. Default `'agent-'`. */
  readonly actorPrefix?: string;
  /** Check that merging every change gives the trace's `endContent`. Default true (cheap). */
  readonly verify?: boolean;
}

function invalid(message: string, cause?: unknown): SyncPilotError {
  return new SyncPilotError('SP_ERR_TRACE_INVALID', message, cause === undefined ? {} : { cause });
}

/** Applies a txn's patches in order, each on the result of the previous one (code point offsets). */
function applyPatches(tx: Transaction, text: ObjId, patches: readonly TracePatch[]): void {
  for (const [pos, del, ins] of patches) {
    if (del > 0) tx.deleteText(text, pos, del);
    if (ins !== '') tx.insertText(text, pos, ins);
  }
}

/**
 * Converts an editing trace into the CRDT changes that simulated clients would send: one change
 * per non-empty txn, made by the real engine on a replica per agent, so `deps` and insert anchors
 * are exactly what a live client would produce.
 *
 * - Sequential trace: one agent; `setup` creates `root[docTextKey]` holding `startContent`.
 * - Concurrent trace: one agent per trace agent; `setup` creates the empty text. Before each txn
 *   its agent's replica merges the causal closure of the txn's parents.
 *
 * @throws SyncPilotError `SP_ERR_TRACE_INVALID` when a patch does not fit the document, an agent's
 *   txns are not causally ordered, or (with `verify`) the replay does not give `endContent`;
 *   `SP_ERR_CONFIG_INVALID` when the options give invalid actor ids.
 */
export function convertTrace(trace: EditingTrace, options: ConvertOptions = {}): ConvertedTrace {
  const textKey = options.docTextKey ?? 'text';
  const prefix = options.actorPrefix ?? 'agent-';
  const verify = options.verify ?? true;
  const agentCount = trace.kind === 'sequential' ? 1 : trace.numAgents;
  const actors = Array.from({ length: agentCount }, (_, i) => actorId(`${prefix}${i}`));
  const setupActor = actorId(`${prefix}setup`);
  for (const actor of [...actors, setupActor]) {
    if (!isValidId(actor))
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `actorPrefix gives an invalid actor id: ${JSON.stringify(actor)}`);
  }
  return trace.kind === 'sequential'
    ? convertSequential(trace, actors, setupActor, textKey, verify)
    : convertConcurrent(trace, actors, setupActor, textKey, verify);
}

function commitTxn(sim: ReplicaSimulator<ObjId>, agent: number, patches: readonly TracePatch[], time: number, txnIndex: number): void {
  try {
    sim.commit(agent, (tx) => applyPatches(tx, sim.ids, patches), time);
  } catch (err) {
    // The engine refuses an out-of-range edit with SP_ERR_CHANGE_INVALID: that is the trace's fault.
    if (!(err instanceof SyncPilotError) || err.code !== 'SP_ERR_CHANGE_INVALID') throw err;
    throw invalid(`txns[${txnIndex}]: a patch does not fit the document: ${err.message}`, err);
  }
}

function checkEnd(sim: ReplicaSimulator<ObjId>, agent: number, endContent: string): void {
  const text = sim.replica(agent).text(sim.ids);
  if (text !== endContent) {
    let at = 0;
    while (at < text.length && text[at] === endContent[at]) at++;
    throw invalid(
      `replaying the trace gives ${text.length} UTF-16 units, endContent has ${endContent.length}; first difference at ${at}: ` +
        `${JSON.stringify(text.slice(at, at + 20))} vs ${JSON.stringify(endContent.slice(at, at + 20))}`,
    );
  }
}

function convertSequential(
  trace: SequentialTrace,
  actors: ActorId[],
  setupActor: ActorId,
  textKey: string,
  verify: boolean,
): ConvertedTrace {
  const first = trace.txns[0]?.time ?? 0;
  const sim = new ReplicaSimulator(
    actors,
    setupActor,
    (tx) => {
      const text = tx.makeText(ROOT, textKey);
      if (trace.startContent !== '') tx.insertText(text, 0, trace.startContent);
      return text;
    },
    first,
  );
  trace.txns.forEach((txn, i) => commitTxn(sim, 0, txn.patches, txn.time, i));
  if (verify) checkEnd(sim, 0, trace.endContent);
  return { ...sim.result(), endContent: trace.endContent, setup: sim.setup, textKey };
}

/*
 * Why the replica equals the parents' state before each txn t of agent a:
 * replica a holds the setup, a's own earlier txns, and for each of them the closure of its
 * parents, merged just before it. Agent a's txns are totally ordered, so a's previous txn is an
 * ancestor of t, and with it (transitively) every earlier txn of a and every closure merged for
 * them. So replica a holds a subset of closure(parents(t)); merging what it lacks makes it equal.
 * The code checks both facts rather than trusting the trace: the closure must contain exactly a's
 * earlier txns, and after the merge the replica's vector must equal the closure's.
 *
 * The closure of a set of txns is a version vector: because each agent's txns form a chain, it is
 * fixed by how many of each agent's txns it reaches. `after[t]` (per txn, computed once from the
 * parents' vectors: the max of theirs, plus t itself) replaces a graph walk per txn. We count
 * changes rather than txn indexes, which is the same order and is directly the change seq.
 */
function convertConcurrent(
  trace: ConcurrentTrace,
  actors: ActorId[],
  setupActor: ActorId,
  textKey: string,
  verify: boolean,
): ConvertedTrace {
  const n = trace.numAgents;
  const sim = new ReplicaSimulator(actors, setupActor, (tx) => tx.makeText(ROOT, textKey), trace.txns[0]?.time ?? 0);
  const after = new Int32Array(trace.txns.length * n);
  const target = new Int32Array(n);
  trace.txns.forEach((txn, t) => {
    target.fill(0);
    for (const p of txn.parents) {
      for (let b = 0; b < n; b++) target[b] = Math.max(target[b]!, after[p * n + b]!);
    }
    const a = txn.agent;
    const seen = sim.seenBy(a);
    if (target[a] !== seen[a]) {
      throw invalid(`txns[${t}] of agent ${a} does not causally follow that agent's previous txn; an agent's txns must be totally ordered`);
    }
    sim.mergeUpTo(a, target);
    for (let b = 0; b < n; b++) {
      if (seen[b] !== target[b]) {
        throw invalid(`txns[${t}]: agent ${a} had already seen ${seen[b]} txn(s) of agent ${b}, but the parents reach only ${target[b]}`);
      }
    }
    commitTxn(sim, a, txn.patches, txn.time, t);
    after.set(target, t * n);
    after[t * n + a] = seen[a]!;
  });
  if (verify) {
    // Normally the last txn's replica already holds everything (no dangling txns); merging the
    // totals makes the check hold for any trace.
    const last = trace.txns.at(-1)?.agent ?? 0;
    sim.mergeUpTo(last, sim.totals());
    checkEnd(sim, last, trace.endContent);
  }
  return { ...sim.result(), endContent: trace.endContent, setup: sim.setup, textKey };
}

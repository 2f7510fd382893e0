import { SyncPilotError } from '../core/errors.ts';
import type { ActorId } from '../core/ids.ts';
import { CrdtDoc } from '../engine/crdt/crdt-doc.ts';
import type { Transaction } from '../engine/crdt/crdt-doc.ts';
import type { Change } from '../engine/crdt/types.ts';
import type { AgentChanges, OrderEntry } from './types.ts';

/**
 * Simulates one replica per agent, so that every change is made by the real engine on exactly the
 * state its author had seen (its `deps`, op ids and insert anchors are the real ones).
 *
 * Bookkeeping is per agent index, not per actor string: `seen[a][b]` is how many of agent b's
 * changes replica a holds. Since an agent's changes form a chain (seq 1..n), a count per agent is
 * a version vector, and "what a lacks up to a target vector" is a range per agent.
 */
export class ReplicaSimulator<Ids> {
  /** The setup change; every replica applied it before anything else. */
  readonly setup: Change;
  /** What the setup function returned (the ids of the objects it created). */
  readonly ids: Ids;
  private readonly actors: readonly ActorId[];
  private readonly replicas: CrdtDoc[];
  private readonly seen: Int32Array[];
  private readonly changes: Change[][];
  /** `globalIndex[b][i]`: position in `order` of agent b's change i; sorting by it gives a causal order. */
  private readonly globalIndex: number[][];
  private readonly order: OrderEntry[] = [];

  /**
   * @param actors one actor id per agent.
   * @param setupActor the actor of the setup change; must differ from every agent's.
   * @param setupFn creates the shared objects and returns their ids.
   * @param time the setup change's time (ms since the epoch).
   */
  constructor(actors: readonly ActorId[], setupActor: ActorId, setupFn: (tx: Transaction) => Ids, time: number) {
    this.actors = actors;
    const setupDoc = new CrdtDoc(setupActor);
    let ids: Ids | undefined;
    let made = false;
    const setup = setupDoc.change((tx) => {
      ids = setupFn(tx);
      made = true;
    }, time);
    if (setup === undefined || !made) throw new SyncPilotError('SP_ERR_INTERNAL', 'the setup function made no change');
    this.setup = setup;
    this.ids = ids as Ids;
    // Replicas never serve changesSince: the changes they make are collected here instead.
    this.replicas = actors.map((actor) => new CrdtDoc(actor, { keepHistory: false }));
    this.seen = actors.map(() => new Int32Array(actors.length));
    this.changes = actors.map(() => []);
    this.globalIndex = actors.map(() => []);
    for (const replica of this.replicas) this.applyAll(replica, [setup]);
  }

  /** Agent `agent`'s replica (read it; make changes only through {@link commit}). */
  replica(agent: number): CrdtDoc {
    return this.at(this.replicas, agent);
  }

  /** How many changes of each agent replica `agent` holds (a version vector by agent index). */
  seenBy(agent: number): Readonly<Int32Array> {
    return this.at(this.seen, agent);
  }

  /** How many changes each agent has made so far. */
  totals(): Int32Array {
    return Int32Array.from(this.changes, (list) => list.length);
  }

  /**
   * Merges into replica `agent` every change it lacks among the first `target[b]` changes of each
   * agent b. The caller makes `target` causally closed (a vector of some reachable state); the
   * missing changes are applied in the global order they were made, which is a causal order, so
   * nothing waits in the replica's causal buffer. Merging never removes anything: entries of
   * `target` below what the replica holds are ignored.
   */
  mergeUpTo(agent: number, target: ArrayLike<number>): void {
    const seen = this.at(this.seen, agent);
    let missing: number[] | undefined;
    for (let b = 0; b < seen.length; b++) {
      const want = Math.min(target[b] ?? 0, this.at(this.changes, b).length);
      const have = seen[b]!;
      if (want <= have) continue;
      missing ??= [];
      const index = this.at(this.globalIndex, b);
      for (let i = have; i < want; i++) missing.push(index[i]!);
      seen[b] = want;
    }
    if (missing === undefined) return;
    // Agents interleave, so merge their ranges back into global order.
    missing.sort((x, y) => x - y);
    const batch = missing.map((g) => {
      const entry = this.order[g]!;
      return this.at(this.changes, entry.agent)[entry.index]!;
    });
    this.applyAll(this.at(this.replicas, agent), batch);
  }

  /**
   * Makes a change on replica `agent` (run `fn` in one transaction). Returns undefined when `fn`
   * made no op, in which case nothing is recorded.
   */
  commit(agent: number, fn: (tx: Transaction) => void, time: number): Change | undefined {
    const change = this.at(this.replicas, agent).change(fn, time);
    if (change === undefined) return undefined;
    const list = this.at(this.changes, agent);
    this.at(this.globalIndex, agent).push(this.order.length);
    this.order.push({ agent, index: list.length });
    list.push(change);
    this.at(this.seen, agent)[agent]! += 1;
    return change;
  }

  /** Every agent's changes and the global order in which they were made. */
  result(): { agents: AgentChanges[]; order: OrderEntry[] } {
    return {
      agents: this.actors.map((actor, i) => ({ actor, changes: this.at(this.changes, i) })),
      order: this.order,
    };
  }

  private applyAll(replica: CrdtDoc, batch: readonly Change[]): void {
    const result = replica.applyChanges(batch);
    // Batches are causally ordered and new to the replica: anything else is a bookkeeping bug.
    if (result.applied.length !== batch.length || result.pending !== 0 || result.duplicates !== 0) {
      throw new SyncPilotError(
        'SP_ERR_INTERNAL',
        `replica merge applied ${result.applied.length} of ${batch.length} changes (pending ${result.pending}, duplicates ${result.duplicates})`,
      );
    }
  }

  private at<T>(list: readonly T[], agent: number): T {
    const item = list[agent];
    if (item === undefined) throw new RangeError(`no agent ${agent}`);
    return item;
  }
}

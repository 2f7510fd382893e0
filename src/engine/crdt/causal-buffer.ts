import type { Change } from './types.ts';

function key(actor: string, seq: number): string {
  return `${seq}\u0000${actor}`;
}

/**
 * Changes received before their causal dependencies. Each waits on one missing dependency
 * `(actor, seq)`; when that change is applied, only its waiters are re-examined, so draining a
 * buffer of n changes costs O(n · deps) rather than O(n²).
 */
export class CausalBuffer {
  private readonly pending = new Map<string, Change>();
  private readonly waiting = new Map<string, Change[]>();

  get size(): number {
    return this.pending.size;
  }

  get(actor: string, seq: number): Change | undefined {
    return this.pending.get(key(actor, seq));
  }

  /** Buffers `change` until change `dep` of `depActor` is applied. */
  add(change: Change, depActor: string, depSeq: number): void {
    this.pending.set(key(change.actor, change.seq), change);
    this.wait(change, depActor, depSeq);
  }

  /** Re-registers a still-pending change under another missing dependency. */
  wait(change: Change, depActor: string, depSeq: number): void {
    const k = key(depActor, depSeq);
    const list = this.waiting.get(k);
    if (list === undefined) this.waiting.set(k, [change]);
    else list.push(change);
  }

  /** Removes and returns the still-pending changes that waited for `(actor, seq)`. */
  takeWaiters(actor: string, seq: number): Change[] {
    const k = key(actor, seq);
    const list = this.waiting.get(k);
    if (list === undefined) return [];
    this.waiting.delete(k);
    const out: Change[] = [];
    for (const c of list) {
      // An entry may be stale: the change was dropped or is already waiting elsewhere.
      if (this.pending.get(key(c.actor, c.seq)) === c) out.push(c);
    }
    return out;
  }

  /** Removes a change from the buffer (it is being applied or dropped). */
  delete(change: Change): void {
    const k = key(change.actor, change.seq);
    if (this.pending.get(k) === change) this.pending.delete(k);
  }
}

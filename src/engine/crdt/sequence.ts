import { formatOpId } from './op-id.ts';
import type { OpIdStr, Scalar } from './types.ts';

/** A chunk splits when it grows past this many elements (tombstones included). */
const MAX_CHUNK = 256;
/** Chunks built by a split or a load hold about this many elements, leaving room to grow. */
const FILL_CHUNK = 192;

/**
 * A run of consecutive elements. Parallel arrays keep an element at about three slots; a
 * tombstone is marked by a negative counter (counters start at 1) rather than a fourth array.
 */
class Chunk {
  ctrs: number[] = [];
  actors: string[] = [];
  vals: Scalar[] = [];
  visible = 0;
  next: Chunk | null = null;
  prev: Chunk | null = null;
}

/**
 * The RGA sequence of one text or list object: a doubly linked list of chunks plus an
 * element-id → chunk index, so a local edit at a position costs O(chunks) (O(chunk) while typing,
 * thanks to a finger on the last chunk used) and a remote edit at an element id costs O(chunk).
 * Elements are never removed physically except to roll back an uncommitted insertion.
 */
export class Sequence {
  private head = new Chunk();
  /** The last chunk, only tracked while loading (appendRaw). */
  private tail: Chunk | null = this.head;
  /** actor → counter → chunk holding that element. */
  private readonly index = new Map<string, Map<number, Chunk>>();
  private visibleCount = 0;
  private textCache: string | undefined;
  /** The chunk of the last positional lookup and the visible position of its first element. */
  private finger: Chunk | null = null;
  private fingerStart = 0;

  /** Number of visible (not deleted) elements. */
  get length(): number {
    return this.visibleCount;
  }

  /** True if the element exists (deleted or not). */
  has(ctr: number, actor: string): boolean {
    return this.find(ctr, actor) >= 0;
  }

  /** The id of the visible element at `pos` (0 ≤ pos < length). */
  idAt(pos: number): OpIdStr {
    const [chunk, i] = this.seek(pos);
    return formatOpId(Math.abs(chunk.ctrs[i] ?? 0), chunk.actors[i] ?? '');
  }

  /** Ids of `count` visible elements starting at visible position `pos` (caller checks the range). */
  visibleIds(pos: number, count: number): OpIdStr[] {
    const out: OpIdStr[] = [];
    if (count <= 0) return out;
    const [chunk, start] = this.seek(pos);
    let i = start;
    for (let c: Chunk | null = chunk; c !== null && out.length < count; c = c.next, i = 0) {
      for (; i < c.ctrs.length && out.length < count; i++) {
        const ctr = c.ctrs[i] ?? 0;
        if (ctr > 0) out.push(formatOpId(ctr, c.actors[i] ?? ''));
      }
    }
    return out;
  }

  /**
   * Inserts a run after element `afterCtr@afterActor` (afterCtr 0 = the head) with RGA order:
   * skip the elements right of the reference whose id is greater than the new one. With Lamport
   * counters an element's descendants all have greater ids, so this skips whole subtrees of
   * concurrent insertions and stops where the new run belongs. The reference must exist.
   */
  insertAfter(afterCtr: number, afterActor: string, ctr: number, actor: string, values: readonly Scalar[]): void {
    let chunk: Chunk;
    let i: number;
    if (afterCtr === 0) {
      chunk = this.head;
      i = 0;
    } else {
      const found = this.locate(afterCtr, afterActor);
      if (found === undefined) throw new RangeError(`unknown element ${afterCtr}@${afterActor}`);
      chunk = found;
      i = this.indexIn(chunk, afterCtr, afterActor) + 1;
    }
    for (;;) {
      if (i >= chunk.ctrs.length) {
        if (chunk.next === null) break;
        chunk = chunk.next;
        i = 0;
        continue;
      }
      const c = Math.abs(chunk.ctrs[i] ?? 0);
      if (c > ctr || (c === ctr && (chunk.actors[i] ?? '') > actor)) i++;
      else break;
    }
    this.insertAt(chunk, i, ctr, actor, values);
  }

  /** Marks an element deleted; returns true if it was visible. The element must exist. */
  tombstone(ctr: number, actor: string): boolean {
    const chunk = this.locate(ctr, actor);
    if (chunk === undefined) throw new RangeError(`unknown element ${ctr}@${actor}`);
    const i = this.indexIn(chunk, ctr, actor);
    if ((chunk.ctrs[i] ?? 0) < 0) return false;
    chunk.ctrs[i] = -ctr;
    chunk.visible--;
    this.visibleCount--;
    this.touch(chunk);
    return true;
  }

  /** Undoes `tombstone` (rollback of an uncommitted change). */
  restore(ctr: number, actor: string): void {
    const chunk = this.locate(ctr, actor);
    if (chunk === undefined) return;
    const i = this.indexIn(chunk, ctr, actor);
    if ((chunk.ctrs[i] ?? 0) > 0) return;
    chunk.ctrs[i] = ctr;
    chunk.visible++;
    this.visibleCount++;
    this.touch(chunk);
  }

  /** Physically removes elements `ctr..ctr+n-1` of `actor` (rollback of an uncommitted insertion). */
  remove(ctr: number, actor: string, n: number): void {
    for (let k = 0; k < n; k++) {
      const chunk = this.locate(ctr + k, actor);
      if (chunk === undefined) continue;
      const i = this.indexIn(chunk, ctr + k, actor);
      if ((chunk.ctrs[i] ?? 0) > 0) {
        chunk.visible--;
        this.visibleCount--;
      }
      chunk.ctrs.splice(i, 1);
      chunk.actors.splice(i, 1);
      chunk.vals.splice(i, 1);
      this.index.get(actor)?.delete(ctr + k);
      this.touch(chunk);
      if (chunk.ctrs.length === 0) this.unlink(chunk);
    }
  }

  /** The visible values in order. */
  values(): Scalar[] {
    const out: Scalar[] = [];
    for (let c: Chunk | null = this.head; c !== null; c = c.next) {
      for (let i = 0; i < c.ctrs.length; i++) if ((c.ctrs[i] ?? 0) > 0) out.push(c.vals[i] ?? null);
    }
    return out;
  }

  /** The visible values joined as a string (text objects); cached until the next edit. */
  text(): string {
    this.textCache ??= this.values().join('');
    return this.textCache;
  }

  /** Calls `fn` for every element in order, tombstones included (for encoding). */
  forEach(fn: (ctr: number, actor: string, value: Scalar, deleted: boolean) => void): void {
    for (let c: Chunk | null = this.head; c !== null; c = c.next) {
      for (let i = 0; i < c.ctrs.length; i++) {
        const ctr = c.ctrs[i] ?? 0;
        fn(Math.abs(ctr), c.actors[i] ?? '', c.vals[i] ?? null, ctr < 0);
      }
    }
  }

  /**
   * Appends an element at the end; only for building a sequence from saved state, before any
   * other edit. Returns false if the id is already present (corrupt input).
   */
  appendRaw(ctr: number, actor: string, value: Scalar, deleted: boolean): boolean {
    if (this.tail === null) throw new Error('appendRaw after edits');
    if (this.has(ctr, actor)) return false;
    let chunk = this.tail;
    if (chunk.ctrs.length >= FILL_CHUNK) {
      const c = new Chunk();
      c.prev = chunk;
      chunk.next = c;
      chunk = c;
      this.tail = c;
    }
    chunk.ctrs.push(deleted ? -ctr : ctr);
    chunk.actors.push(actor);
    chunk.vals.push(value);
    if (!deleted) {
      chunk.visible++;
      this.visibleCount++;
    }
    this.indexFor(actor).set(ctr, chunk);
    return true;
  }

  private find(ctr: number, actor: string): number {
    const chunk = this.locate(ctr, actor);
    return chunk === undefined ? -1 : this.indexIn(chunk, ctr, actor);
  }

  private locate(ctr: number, actor: string): Chunk | undefined {
    return this.index.get(actor)?.get(ctr);
  }

  private indexIn(chunk: Chunk, ctr: number, actor: string): number {
    const { ctrs, actors } = chunk;
    for (let i = 0; i < ctrs.length; i++) {
      const c = ctrs[i];
      if ((c === ctr || c === -ctr) && actors[i] === actor) return i;
    }
    throw new Error(`index out of sync for ${ctr}@${actor}`);
  }

  private indexFor(actor: string): Map<number, Chunk> {
    let m = this.index.get(actor);
    if (m === undefined) {
      m = new Map();
      this.index.set(actor, m);
    }
    return m;
  }

  /** The chunk and in-chunk index of the visible element at `pos`; walks from the finger. */
  private seek(pos: number): [Chunk, number] {
    if (pos < 0 || pos >= this.visibleCount) throw new RangeError(`position ${pos} out of range`);
    let chunk = this.finger ?? this.head;
    let start = this.finger === null ? 0 : this.fingerStart;
    while (pos < start) {
      chunk = chunk.prev ?? this.head;
      start -= chunk.visible;
    }
    while (pos >= start + chunk.visible && chunk.next !== null) {
      start += chunk.visible;
      chunk = chunk.next;
    }
    this.finger = chunk;
    this.fingerStart = start;
    let left = pos - start;
    for (let i = 0; i < chunk.ctrs.length; i++) {
      if ((chunk.ctrs[i] ?? 0) > 0 && left-- === 0) return [chunk, i];
    }
    throw new Error('sequence counts out of sync');
  }

  /** Call on every edit of `chunk`: an edit elsewhere may move the finger's start position. */
  private touch(chunk: Chunk): void {
    this.textCache = undefined;
    this.tail = null;
    if (chunk !== this.finger) this.finger = null;
  }

  private insertAt(chunk: Chunk, i: number, ctr: number, actor: string, values: readonly Scalar[]): void {
    const n = values.length;
    if (n === 1) {
      chunk.ctrs.splice(i, 0, ctr);
      chunk.actors.splice(i, 0, actor);
      chunk.vals.splice(i, 0, values[0] ?? null);
    } else {
      // concat rather than splice(...spread): a spread of a huge run can overflow the stack.
      const ctrs = new Array<number>(n);
      const actors = new Array<string>(n);
      for (let k = 0; k < n; k++) {
        ctrs[k] = ctr + k;
        actors[k] = actor;
      }
      chunk.ctrs = chunk.ctrs.slice(0, i).concat(ctrs, chunk.ctrs.slice(i));
      chunk.actors = chunk.actors.slice(0, i).concat(actors, chunk.actors.slice(i));
      chunk.vals = chunk.vals.slice(0, i).concat(values, chunk.vals.slice(i));
    }
    chunk.visible += n;
    this.visibleCount += n;
    const idx = this.indexFor(actor);
    for (let k = 0; k < n; k++) idx.set(ctr + k, chunk);
    this.touch(chunk);
    if (chunk.ctrs.length > MAX_CHUNK) this.split(chunk);
  }

  /** Splits an overfull chunk into pieces of about FILL_CHUNK; the first piece stays in place. */
  private split(chunk: Chunk): void {
    const len = chunk.ctrs.length;
    const pieces = Math.ceil(len / FILL_CHUNK);
    const size = Math.ceil(len / pieces);
    let prev = chunk;
    for (let start = size; start < len; start += size) {
      const c = new Chunk();
      c.ctrs = chunk.ctrs.slice(start, start + size);
      c.actors = chunk.actors.slice(start, start + size);
      c.vals = chunk.vals.slice(start, start + size);
      for (let k = 0; k < c.ctrs.length; k++) {
        const ctr = c.ctrs[k] ?? 0;
        if (ctr > 0) c.visible++;
        this.indexFor(c.actors[k] ?? '').set(Math.abs(ctr), c);
      }
      c.prev = prev;
      c.next = prev.next;
      if (prev.next !== null) prev.next.prev = c;
      prev.next = c;
      prev = c;
    }
    chunk.ctrs.length = size;
    chunk.actors.length = size;
    chunk.vals.length = size;
    let visible = 0;
    for (const ctr of chunk.ctrs) if (ctr > 0) visible++;
    chunk.visible = visible;
  }

  private unlink(chunk: Chunk): void {
    if (chunk.prev === null && chunk.next === null) return; // keep one (empty) chunk
    if (chunk.prev !== null) chunk.prev.next = chunk.next;
    else if (chunk.next !== null) this.head = chunk.next;
    if (chunk.next !== null) chunk.next.prev = chunk.prev;
    if (this.finger === chunk) this.finger = null;
  }
}

import { isValidId } from '../../core/ids.ts';
import { invalid } from '../encoding/byte-io.ts';
import type { ByteReader, ByteWriter } from '../encoding/byte-io.ts';
import type { Change, VersionVector } from './types.ts';

/**
 * Actor tables of the binary formats (a wire message, a stored change, a saved document): each
 * actor id is written once and referenced by its index (one byte for the first 128 actors)
 * everywhere else.
 */

/** Assigns actor ids their index in the message's actor table, in order of first use. */
export class ActorTable {
  readonly actors: string[] = [];
  readonly #index = new Map<string, number>();

  indexOf(actor: string): number {
    let i = this.#index.get(actor);
    if (i === undefined) {
      i = this.actors.length;
      this.actors.push(actor);
      this.#index.set(actor, i);
    }
    return i;
  }

  /** Adds a change's actors in the order `writeChange` uses them, so the table can go first. */
  addChange(c: Change): void {
    this.indexOf(c.actor);
    for (const key in c.deps) this.indexOf(key);
    for (const op of c.ops) {
      this.#addOpId(op.obj);
      switch (op.action) {
        case 'set':
        case 'make':
        case 'del':
          for (const id of op.pred) this.#addOpId(id);
          break;
        case 'ins':
          this.#addOpId(op.after);
          break;
        case 'rm':
          for (const id of op.elems) this.#addOpId(id);
          break;
        case 'inc':
          break;
      }
    }
  }

  addVersionVector(vv: VersionVector): void {
    for (const key in vv) this.indexOf(key);
  }

  #addOpId(id: string): void {
    const at = id.indexOf('@');
    // root and _head have no '@' and no actor.
    if (at > 0) this.indexOf(id.slice(at + 1));
  }

  /** Writes the table: a count, then each actor id. */
  write(w: ByteWriter): void {
    w.varint(this.actors.length);
    for (const a of this.actors) w.str(a);
  }
}

/** Reads an actor table; every entry must be a valid, distinct actor id. */
export function readActorTable(r: ByteReader): readonly string[] {
  const n = r.count(2);
  const actors: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const a = r.str();
    if (!isValidId(a)) throw invalid(`actors[${i}]: not a valid actor id`);
    if (seen.has(a)) throw invalid(`actors[${i}]: duplicate actor id`);
    seen.add(a);
    actors.push(a);
  }
  return actors;
}

/** The actor at `index` of a decoded table; an index outside it is SP_ERR_PAYLOAD_INVALID. */
export function actorAt(actors: readonly string[], index: number): string {
  const a = actors[index];
  if (a === undefined) throw invalid(`actor index ${index} is outside the actor table`);
  return a;
}

/** A version vector: count, then (actor index, value) pairs. */
export function writeVersionVector(w: ByteWriter, t: ActorTable, vv: VersionVector): void {
  let n = 0;
  for (const _key in vv) n++;
  w.varint(n);
  for (const key in vv) {
    w.varint(t.indexOf(key));
    w.varint(vv[key] as number);
  }
}

export function readVersionVector(r: ByteReader, actors: readonly string[]): VersionVector {
  const vv: Record<string, number> = {};
  const n = r.count(2);
  for (let i = 0; i < n; i++) {
    const key = actorAt(actors, r.varint());
    if (Object.hasOwn(vv, key)) throw invalid(`version vector repeats actor ${key}`);
    vv[key] = r.varint();
  }
  return vv;
}

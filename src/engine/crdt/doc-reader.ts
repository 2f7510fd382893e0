import type { ObjectTable, ObjState } from './apply-op.ts';
import { ROOT, type MapValue, type ObjId, type ObjType, type OpIdStr, type Scalar } from './types.ts';

/** One value of a map field, as returned by `getConflicts`. */
export interface Sibling {
  readonly id: OpIdStr;
  readonly value: MapValue;
}

/**
 * The read side of a CrdtDoc. Reads never throw: an unknown object, or one of another type than
 * the read expects, reads as empty (undefined, [], '' or 0).
 */
export class DocReader {
  constructor(protected objects: ObjectTable) {}

  /** The type of an object, or undefined if the document has no such object. */
  objType(obj: ObjId): ObjType | undefined {
    return this.objects.get(obj)?.type;
  }

  /** A map field's winner: the sibling with the greatest op id; undefined when the field is absent. */
  get(obj: ObjId, key: string): MapValue | undefined {
    const state = this.objects.get(obj);
    return state?.type === 'map' ? state.fields.get(key)?.[0]?.value : undefined;
  }

  /**
   * Every sibling of a map field, by op id descending (so the winner comes first). More than one
   * means concurrent writes that no later write has resolved.
   */
  getConflicts(obj: ObjId, key: string): readonly Sibling[] {
    const state = this.objects.get(obj);
    if (state?.type !== 'map') return [];
    return (state.fields.get(key) ?? []).map((v) => ({ id: v.id, value: v.value }));
  }

  /** A map's present keys, sorted (JavaScript string order). */
  keys(obj: ObjId): string[] {
    const state = this.objects.get(obj);
    return state?.type === 'map' ? [...state.fields.keys()].sort() : [];
  }

  /** A text object's visible content. */
  text(obj: ObjId): string {
    const state = this.objects.get(obj);
    return state?.type === 'text' ? state.seq.text() : '';
  }

  /** The visible values of a list (or the code points of a text). */
  list(obj: ObjId): Scalar[] {
    const state = this.objects.get(obj);
    return state?.type === 'list' || state?.type === 'text' ? state.seq.values() : [];
  }

  /** Visible elements of a text or list; keys of a map; 0 for a counter. */
  length(obj: ObjId): number {
    const state = this.objects.get(obj);
    if (state === undefined || state.type === 'counter') return 0;
    return state.type === 'map' ? state.fields.size : state.seq.length;
  }

  /** A counter's value. */
  counter(obj: ObjId): number {
    const state = this.objects.get(obj);
    return state?.type === 'counter' ? state.value : 0;
  }

  /** The materialised tree from `root`: winners only, text as a string, counters as numbers. */
  toJSON(): unknown {
    return this.materialise(this.objects.get(ROOT));
  }

  private materialise(state: ObjState | undefined): unknown {
    switch (state?.type) {
      case undefined:
        return undefined;
      case 'map': {
        const out: Record<string, unknown> = {};
        for (const key of [...state.fields.keys()].sort()) {
          const winner = state.fields.get(key)?.[0]?.value;
          if (winner === undefined) continue;
          const v = winner.kind === 'scalar' ? winner.value : this.materialise(this.objects.get(winner.id));
          // defineProperty: a plain assignment to "__proto__" would set the prototype, not a field.
          Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
        }
        return out;
      }
      case 'text':
        return state.seq.text();
      case 'list':
        return state.seq.values();
      case 'counter':
        return state.value;
    }
  }
}

import { newObject, type FieldValue, type ObjectTable, type ObjState } from './apply-op.ts';
import { ByteReader, ByteWriter, crc32, DecodeError } from './binary.ts';
import { ActorTable, ChangeStream, OBJ_TYPE_CODES, readChange, readOpId, writeChange, writeOpId } from './change-codec.ts';
import { isActorId } from './change-shape.ts';
import { parseOpId } from './op-id.ts';
import { OpRanges } from './op-ranges.ts';
import { ROOT, type Change, type MapValue, type Scalar, type VersionVector } from './types.ts';

/** Everything a document persists. */
export interface DocState {
  readonly objects: ObjectTable;
  readonly ranges: OpRanges;
  readonly maxOp: number;
  /** Applied changes in causal order, or undefined when history is not kept. */
  readonly history: Change[] | undefined;
  /** Changes covered by this vector are not in `history` (it started from a snapshot). */
  readonly historyBase: VersionVector;
}

const MAGIC = [0x53, 0x50, 0x43, 0x44]; // "SPCD"
const VERSION = 1;

function writeSeq(w: ByteWriter, obj: Extract<ObjState, { seq: unknown }>, actors: ActorTable): void {
  // Runs of consecutive ids by one actor (what typing produces) share one header.
  const runs: { actor: string; start: number; dead: boolean[]; values: Scalar[] }[] = [];
  let run: (typeof runs)[number] | undefined;
  obj.seq.forEach((ctr, actor, value, deleted) => {
    if (run === undefined || run.actor !== actor || run.start + run.values.length !== ctr) {
      run = { actor, start: ctr, dead: [], values: [] };
      runs.push(run);
    }
    run.dead.push(deleted);
    run.values.push(value);
  });
  w.uint(runs.length);
  for (const r of runs) {
    w.uint(actors.index(r.actor));
    w.uint(r.start);
    w.uint(r.values.length);
    const bits = new Uint8Array(Math.ceil(r.dead.length / 8));
    r.dead.forEach((d, i) => {
      if (d) bits[i >> 3] = (bits[i >> 3] ?? 0) | (1 << (i & 7));
    });
    w.bytes(bits);
    if (obj.type === 'text') w.string(r.values.join(''));
    else for (const v of r.values) w.scalar(v);
  }
}

function writeObject(w: ByteWriter, obj: ObjState, actors: ActorTable): void {
  switch (obj.type) {
    case 'map':
      w.uint(obj.fields.size);
      for (const [key, values] of obj.fields) {
        w.string(key);
        w.uint(values.length);
        for (const v of values) {
          writeOpId(w, v.id, actors);
          if (v.value.kind === 'scalar') {
            w.u8(0);
            w.scalar(v.value.value);
          } else {
            w.u8(1);
            w.u8(OBJ_TYPE_CODES.indexOf(v.value.type));
          }
        }
      }
      return;
    case 'text':
    case 'list':
      writeSeq(w, obj, actors);
      return;
    case 'counter':
      w.number(obj.value);
      return;
  }
}

/** Encodes a document's full state: `magic · version · actors · body · crc32`. */
export function encodeDoc(state: DocState): Uint8Array {
  const actors = new ActorTable();
  const w = new ByteWriter();
  w.u8(state.history === undefined ? 0 : 1);
  w.uint(state.maxOp);
  const ranges = [...state.ranges.entries()];
  w.uint(ranges.length);
  for (const [actor, { starts, ends }] of ranges) {
    w.uint(actors.index(actor));
    w.uint(starts.length);
    // Run-length coded (repeat, gap from the previous end, length): one actor typing makes long
    // runs of equal (0, 1) pairs.
    const runs: number[] = [];
    let prevEnd = 0;
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i] ?? 0;
      const end = ends[i] ?? 0;
      const gap = start - prevEnd;
      const len = end - start;
      const n = runs.length;
      if (n > 0 && runs[n - 2] === gap && runs[n - 1] === len) runs[n - 3] = (runs[n - 3] ?? 0) + 1;
      else runs.push(1, gap, len);
      prevEnd = end;
    }
    w.uint(runs.length / 3);
    for (const v of runs) w.uint(v);
  }
  const base = Object.entries(state.historyBase);
  w.uint(base.length);
  for (const [a, n] of base) {
    w.uint(actors.index(a));
    w.uint(n);
  }
  w.uint(state.objects.size);
  for (const [id, obj] of state.objects) {
    writeOpId(w, id, actors);
    w.u8(OBJ_TYPE_CODES.indexOf(obj.type));
    writeObject(w, obj, actors);
  }
  const history = state.history ?? [];
  const stream = new ChangeStream(state.historyBase);
  w.uint(history.length);
  for (const c of history) writeChange(w, c, actors, stream);
  const out = new ByteWriter();
  out.bytes(Uint8Array.from(MAGIC));
  out.u8(VERSION);
  out.uint(actors.list.length);
  for (const a of actors.list) out.string(a);
  out.bytes(w.finish());
  const body = out.finish();
  const crc = new Uint8Array(4);
  new DataView(crc.buffer).setUint32(0, crc32(body), true);
  const all = new Uint8Array(body.length + 4);
  all.set(body);
  all.set(crc, body.length);
  return all;
}

function readSeq(r: ByteReader, obj: Extract<ObjState, { seq: unknown }>, actors: readonly string[]): void {
  const nRuns = r.count(4);
  for (let k = 0; k < nRuns; k++) {
    const actor = actors[r.uint()];
    if (actor === undefined) throw new DecodeError('actor index out of range');
    const start = r.uint();
    const len = r.count();
    if (start < 1 || len < 1 || !Number.isSafeInteger(start + len)) throw new DecodeError('bad element run');
    const bits = r.bytes(Math.ceil(len / 8));
    let values: Scalar[];
    if (obj.type === 'text') {
      values = Array.from(r.string());
      if (values.length !== len) throw new DecodeError('text run length mismatch');
    } else {
      values = [];
      for (let i = 0; i < len; i++) values.push(r.scalar());
    }
    for (let i = 0; i < len; i++) {
      const dead = ((bits[i >> 3] ?? 0) >> (i & 7)) & 1;
      if (!obj.seq.appendRaw(start + i, actor, values[i] ?? null, dead === 1)) throw new DecodeError('duplicate element id');
    }
  }
}

function readObject(r: ByteReader, obj: ObjState, actors: readonly string[], refs: Map<string, string>): void {
  switch (obj.type) {
    case 'map': {
      const nFields = r.count(2);
      for (let f = 0; f < nFields; f++) {
        const key = r.string();
        if (obj.fields.has(key)) throw new DecodeError('duplicate field');
        const nValues = r.count(3);
        if (nValues === 0) throw new DecodeError('empty field');
        const values: FieldValue[] = [];
        for (let i = 0; i < nValues; i++) {
          const id = readOpId(r, actors);
          const parsed = parseOpId(id);
          if (parsed === undefined) throw new DecodeError('bad op id');
          let value: MapValue;
          if (r.u8() === 0) value = Object.freeze({ kind: 'scalar', value: r.scalar() });
          else {
            const type = OBJ_TYPE_CODES[r.u8()];
            if (type === undefined) throw new DecodeError('unknown object type');
            value = Object.freeze({ kind: 'object', id, type });
            refs.set(id, type);
          }
          const prev = values[values.length - 1];
          if (prev !== undefined && (prev.ctr < parsed.ctr || (prev.ctr === parsed.ctr && prev.actor <= parsed.actor))) {
            throw new DecodeError('field values out of order');
          }
          values.push({ id, ctr: parsed.ctr, actor: parsed.actor, value });
        }
        obj.fields.set(key, values);
      }
      return;
    }
    case 'text':
    case 'list':
      readSeq(r, obj, actors);
      return;
    case 'counter':
      obj.value = r.number();
      return;
  }
}

/** Decodes what `encodeDoc` wrote; throws DecodeError on any damage or inconsistency. */
export function decodeDoc(bytes: Uint8Array): DocState {
  if (bytes.length < MAGIC.length + 5) throw new DecodeError('too short');
  const body = bytes.subarray(0, bytes.length - 4);
  const stored = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true);
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw new DecodeError('not a syncpilot document');
  if (crc32(body) !== stored) throw new DecodeError('checksum mismatch');
  const r = new ByteReader(body.subarray(MAGIC.length));
  if (r.u8() !== VERSION) throw new DecodeError('unsupported version');
  const actors: string[] = [];
  const nActors = r.count();
  for (let i = 0; i < nActors; i++) {
    const a = r.string();
    if (!isActorId(a) && a !== '__proto__') throw new DecodeError('bad actor id');
    actors.push(a);
  }
  const flags = r.u8();
  if (flags > 1) throw new DecodeError('unknown flags');
  const maxOp = r.uint();
  const ranges = new OpRanges();
  const nRanges = r.count(2);
  for (let k = 0; k < nRanges; k++) {
    const actor = actors[r.uint()];
    if (actor === undefined || actor === '__proto__' || ranges.count(actor) > 0) throw new DecodeError('bad op ranges');
    const n = r.uint();
    const nRuns = r.count(3);
    let prevEnd = 0;
    let seq = 0;
    for (let k = 0; k < nRuns; k++) {
      const repeat = r.uint();
      const gap = r.uint();
      const len = r.uint();
      if (repeat < 1 || seq + repeat > n) throw new DecodeError('bad op range run');
      for (let i = 0; i < repeat; i++) {
        const start = prevEnd + gap;
        const end = start + len;
        if (start < 1 || end - 1 > maxOp) throw new DecodeError('op range out of bounds');
        ranges.add(actor, ++seq, start, end);
        prevEnd = end;
      }
    }
    if (seq !== n) throw new DecodeError('op range count mismatch');
  }
  const historyBase: Record<string, number> = {};
  const nBase = r.count(2);
  for (let k = 0; k < nBase; k++) {
    const actor = actors[r.uint()];
    if (actor === undefined || actor === '__proto__' || Object.hasOwn(historyBase, actor)) throw new DecodeError('bad history base');
    historyBase[actor] = r.uint();
  }
  const objects: ObjectTable = new Map();
  const refs = new Map<string, string>();
  const nObjects = r.count(2);
  for (let k = 0; k < nObjects; k++) {
    const id = readOpId(r, actors, ROOT);
    const type = OBJ_TYPE_CODES[r.u8()];
    if (type === undefined || objects.has(id) || (id !== ROOT && parseOpId(id) === undefined)) throw new DecodeError('bad object');
    const obj = newObject(type);
    objects.set(id, obj);
    readObject(r, obj, actors, refs);
  }
  if (objects.get(ROOT)?.type !== 'map') throw new DecodeError('no root map');
  for (const [id, type] of refs) if (objects.get(id)?.type !== type) throw new DecodeError(`dangling object reference ${id}`);
  const stream = new ChangeStream(historyBase);
  const nHistory = r.count(4);
  const history: Change[] = [];
  for (let i = 0; i < nHistory; i++) {
    const c = readChange(r, actors, stream);
    if (ranges.start(c.actor, c.seq) !== c.startOp) throw new DecodeError('history disagrees with the op ranges');
    history.push(c);
  }
  if (r.remaining !== 0) throw new DecodeError('trailing bytes');
  if (flags === 0 && history.length > 0) throw new DecodeError('history present but flagged absent');
  return { objects, ranges, maxOp, history: flags === 1 ? history : undefined, historyBase };
}

import { SyncPilotError } from '../../core/errors.ts';
import { ByteReader, ByteWriter } from '../encoding/byte-io.ts';
import { crc32 } from '../encoding/crc32.ts';
import { ActorTable, actorAt, readActorTable, readVersionVector, writeVersionVector } from './actor-table.ts';
import {
  newChangeRun,
  OBJ_TYPE_CODE,
  OBJ_TYPES,
  readChange,
  readNumber,
  readObjId,
  readScalar,
  writeChange,
  writeNumber,
  writeObjId,
  writeScalar,
} from './change-encoding.ts';
import { newObject, type FieldValue, type ObjectTable, type ObjState } from './apply-op.ts';
import { checkChangeShape } from './change-shape.ts';
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
/**
 * 2: history, ids and values in the shared change encoding (change-encoding.ts). Version 1 had a
 * layout of its own; its saves are refused (a snapshot is rebuilt from the op log).
 */
const VERSION = 2;

function corrupt(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_STORE_CORRUPT', message);
}

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
  w.varint(runs.length);
  for (const r of runs) {
    w.varint(actors.indexOf(r.actor));
    w.varint(r.start);
    w.varint(r.values.length);
    const bits = new Uint8Array(Math.ceil(r.dead.length / 8));
    r.dead.forEach((d, i) => {
      if (d) bits[i >> 3] = (bits[i >> 3] ?? 0) | (1 << (i & 7));
    });
    w.bytes(bits);
    if (obj.type === 'text') w.str(r.values.join(''));
    else for (const v of r.values) writeScalar(w, v);
  }
}

function writeObject(w: ByteWriter, obj: ObjState, actors: ActorTable): void {
  switch (obj.type) {
    case 'map':
      w.varint(obj.fields.size);
      for (const [key, values] of obj.fields) {
        w.str(key);
        w.varint(values.length);
        for (const v of values) {
          writeObjId(w, actors, v.id);
          if (v.value.kind === 'scalar') {
            w.u8(0);
            writeScalar(w, v.value.value);
          } else {
            w.u8(1);
            w.u8(OBJ_TYPE_CODE[v.value.type]);
          }
        }
      }
      return;
    case 'text':
    case 'list':
      writeSeq(w, obj, actors);
      return;
    case 'counter':
      writeNumber(w, obj.value);
      return;
  }
}

function writeBody(w: ByteWriter, state: DocState, actors: ActorTable): void {
  w.u8(state.history === undefined ? 0 : 1);
  w.varint(state.maxOp);
  const ranges = [...state.ranges.entries()];
  w.varint(ranges.length);
  for (const [actor, { starts, ends }] of ranges) {
    w.varint(actors.indexOf(actor));
    w.varint(starts.length);
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
    w.varint(runs.length / 3);
    for (const v of runs) w.varint(v);
  }
  writeVersionVector(w, actors, state.historyBase);
  w.varint(state.objects.size);
  for (const [id, obj] of state.objects) {
    writeObjId(w, actors, id);
    w.u8(OBJ_TYPE_CODE[obj.type]);
    writeObject(w, obj, actors);
  }
  const history = state.history ?? [];
  w.varint(history.length);
  const run = newChangeRun();
  for (const c of history) writeChange(w, actors, c, run);
}

/** Encodes a document's full state: `magic · version · actor table · body · crc32`. */
export function encodeDoc(state: DocState): Uint8Array {
  // The actor table goes first but is complete only once the body is written.
  const actors = new ActorTable();
  const body = new ByteWriter();
  let bodyBytes: Uint8Array;
  try {
    writeBody(body, state, actors);
    bodyBytes = body.finish();
  } finally {
    body.release();
  }
  const w = new ByteWriter();
  try {
    w.bytes(Uint8Array.from(MAGIC));
    w.u8(VERSION);
    actors.write(w);
    const head = w.finish();
    const end = head.length + bodyBytes.length;
    const all = new Uint8Array(end + 4);
    all.set(head);
    all.set(bodyBytes, head.length);
    new DataView(all.buffer).setUint32(end, crc32(all.subarray(0, end)), true);
    return all;
  } finally {
    w.release();
  }
}

function readSeq(r: ByteReader, obj: Extract<ObjState, { seq: unknown }>, actors: readonly string[]): void {
  const nRuns = r.count(4);
  for (let k = 0; k < nRuns; k++) {
    const actor = actorAt(actors, r.varint());
    const start = r.varint();
    const len = r.count();
    if (start < 1 || len < 1 || !Number.isSafeInteger(start + len)) throw corrupt('bad element run');
    const bits = r.bytes(Math.ceil(len / 8));
    let values: Scalar[];
    if (obj.type === 'text') {
      values = Array.from(r.str());
      if (values.length !== len) throw corrupt('text run length mismatch');
    } else {
      values = [];
      for (let i = 0; i < len; i++) values.push(readScalar(r));
    }
    for (let i = 0; i < len; i++) {
      const dead = ((bits[i >> 3] ?? 0) >> (i & 7)) & 1;
      if (!obj.seq.appendRaw(start + i, actor, values[i] ?? null, dead === 1)) throw corrupt('duplicate element id');
    }
  }
}

function readObject(r: ByteReader, obj: ObjState, actors: readonly string[], refs: Map<string, string>): void {
  switch (obj.type) {
    case 'map': {
      const nFields = r.count(2);
      for (let f = 0; f < nFields; f++) {
        const key = r.str();
        if (obj.fields.has(key)) throw corrupt('duplicate field');
        const nValues = r.count(3);
        if (nValues === 0) throw corrupt('empty field');
        const values: FieldValue[] = [];
        for (let i = 0; i < nValues; i++) {
          const id = readObjId(r, actors);
          const parsed = parseOpId(id);
          if (parsed === undefined) throw corrupt('bad op id');
          let value: MapValue;
          if (r.u8() === 0) value = Object.freeze({ kind: 'scalar', value: readScalar(r) });
          else {
            const type = OBJ_TYPES[r.u8()];
            if (type === undefined) throw corrupt('unknown object type');
            value = Object.freeze({ kind: 'object', id, type });
            refs.set(id, type);
          }
          const prev = values[values.length - 1];
          if (prev !== undefined && (prev.ctr < parsed.ctr || (prev.ctr === parsed.ctr && prev.actor <= parsed.actor))) {
            throw corrupt('field values out of order');
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
      obj.value = readNumber(r);
      return;
  }
}

function readRanges(r: ByteReader, actors: readonly string[], maxOp: number): OpRanges {
  const ranges = new OpRanges();
  const nRanges = r.count(2);
  for (let k = 0; k < nRanges; k++) {
    const actor = actorAt(actors, r.varint());
    if (ranges.count(actor) > 0) throw corrupt('bad op ranges');
    const n = r.varint();
    const nRuns = r.count(3);
    let prevEnd = 0;
    let seq = 0;
    for (let k = 0; k < nRuns; k++) {
      const repeat = r.varint();
      const gap = r.varint();
      const len = r.varint();
      if (repeat < 1 || seq + repeat > n) throw corrupt('bad op range run');
      for (let i = 0; i < repeat; i++) {
        const start = prevEnd + gap;
        const end = start + len;
        if (start < 1 || end - 1 > maxOp) throw corrupt('op range out of bounds');
        ranges.add(actor, ++seq, start, end);
        prevEnd = end;
      }
    }
    if (seq !== n) throw corrupt('op range count mismatch');
  }
  return ranges;
}

/**
 * Decodes what `encodeDoc` wrote. Throws a SyncPilotError on any damage or inconsistency:
 * SP_ERR_STORE_CORRUPT from the document checks, SP_ERR_FRAME_MALFORMED or SP_ERR_PAYLOAD_INVALID
 * from the byte and change layout (CrdtDoc.load reports all of them as SP_ERR_STORE_CORRUPT).
 */
export function decodeDoc(bytes: Uint8Array): DocState {
  if (bytes.length < MAGIC.length + 5) throw corrupt('too short');
  const body = bytes.subarray(0, bytes.length - 4);
  const stored = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true);
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw corrupt('not a syncpilot document');
  if (crc32(body) !== stored) throw corrupt('checksum mismatch');
  const r = new ByteReader(body.subarray(MAGIC.length));
  const version = r.u8();
  if (version !== VERSION) throw corrupt(`unsupported format version ${version}`);
  const actors = readActorTable(r);
  // No document has this actor (isActorId refuses it), and as a plain-object key it would set the prototype.
  if (actors.includes('__proto__')) throw corrupt('bad actor id');
  const flags = r.u8();
  if (flags > 1) throw corrupt('unknown flags');
  const maxOp = r.varint();
  const ranges = readRanges(r, actors, maxOp);
  const historyBase = readVersionVector(r, actors);
  const objects: ObjectTable = new Map();
  const refs = new Map<string, string>();
  const nObjects = r.count(2);
  for (let k = 0; k < nObjects; k++) {
    const id = readObjId(r, actors);
    const type = OBJ_TYPES[r.u8()];
    if (type === undefined || objects.has(id) || (id !== ROOT && parseOpId(id) === undefined)) throw corrupt('bad object');
    const obj = newObject(type);
    objects.set(id, obj);
    readObject(r, obj, actors, refs);
  }
  if (objects.get(ROOT)?.type !== 'map') throw corrupt('no root map');
  for (const [id, type] of refs) if (objects.get(id)?.type !== type) throw corrupt(`dangling object reference ${id}`);
  const nHistory = r.count(6);
  const history: Change[] = [];
  const run = newChangeRun();
  for (let i = 0; i < nHistory; i++) {
    const c = readChange(r, actors, run);
    const reason = checkChangeShape(c);
    if (reason !== undefined) throw corrupt(`history: ${reason}`);
    if (ranges.start(c.actor, c.seq) !== c.startOp) throw corrupt('history disagrees with the op ranges');
    history.push(c);
  }
  r.end();
  if (flags === 0 && history.length > 0) throw corrupt('history present but flagged absent');
  return { objects, ranges, maxOp, history: flags === 1 ? history : undefined, historyBase };
}

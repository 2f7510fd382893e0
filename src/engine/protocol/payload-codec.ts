import type { ErrorCode } from '../../core/errors.ts';
import type { Change } from '../crdt/types.ts';
import { ActorTable, readActorTable, readVersionVector, writeVersionVector } from '../crdt/actor-table.ts';
import { newChangeRun, readChange, readNumber, writeChange, writeNumber } from '../crdt/change-encoding.ts';
import { ByteReader, ByteWriter, invalid } from '../encoding/byte-io.ts';
import { CodecId } from './messages.ts';
import type { CodecName, FrameTypeName, ProtocolMessage } from './messages.ts';
import { PROTOCOL_LIMITS, validateMessage } from './validate.ts';

/**
 * The binary payload of each frame type (the type itself is in the frame header, not repeated here).
 * Messages that carry changes or clocks (SUBSCRIBE, SYNC, CHANGES) start with an actor table.
 *
 * - HELLO: protocols (count, varints) · actor · client · flags (bit 0 token) · [token] · codecs · capabilities
 * - WELCOME: protocol · peer · server · codecs · capabilities · maxFrameBytes
 * - SUBSCRIBE: actors · doc · clock
 * - SYNC: actors · doc · complete · changes · clock
 * - CHANGES: actors · doc · changes
 * - ACK: doc · actor · seq;   UNSUBSCRIBE: doc
 * - ERROR: code · message · flags (bit 0 fatal, 1 doc, 2 rejected) · [doc] · [rejected: (actor, seq)…]
 * - HINT: kind · flags (bit 0 doc) · [doc] · data as UTF-8 JSON
 * - PING / PONG: nonce (tagged number)
 *
 * Codec lists are codec ids (one byte each); ids this build does not know are dropped on decode so
 * a newer peer can offer codecs we lack. Everything else unknown is SP_ERR_PAYLOAD_INVALID.
 */

const CODEC_NAMES = new Map<number, CodecName>(Object.entries(CodecId).map(([name, id]) => [id, name as CodecName]));
const ERROR_FATAL = 1;
const ERROR_DOC = 2;
const ERROR_REJECTED = 4;
const HAS_DOC = 1;
const HELLO_TOKEN = 1;

/**
 * Encodes a message's payload after validating it, leaving `reserve` zero bytes in front for the
 * caller's header. Throws SP_ERR_PAYLOAD_INVALID for a message the wire cannot carry.
 */
export function encodePayload(message: ProtocolMessage, reserve = 0): Uint8Array {
  validateMessage(message);
  const w = new ByteWriter(reserve);
  try {
    writeMessage(w, message);
    return w.finish();
  } finally {
    w.release();
  }
}

function writeMessage(w: ByteWriter, message: ProtocolMessage): void {
  switch (message.type) {
    case 'HELLO':
      w.varint(message.protocols.length);
      for (const p of message.protocols) w.varint(p);
      w.str(message.actor);
      w.str(message.client);
      w.u8(message.token === undefined ? 0 : HELLO_TOKEN);
      if (message.token !== undefined) w.str(message.token);
      writeCodecs(w, message.codecs);
      writeStrings(w, message.capabilities);
      return;
    case 'WELCOME':
      w.varint(message.protocol);
      w.str(message.peer);
      w.str(message.server);
      writeCodecs(w, message.codecs);
      writeStrings(w, message.capabilities);
      w.varint(message.maxFrameBytes);
      return;
    case 'SUBSCRIBE': {
      const t = new ActorTable();
      t.addVersionVector(message.clock);
      t.write(w);
      w.str(message.doc);
      writeVersionVector(w, t, message.clock);
      return;
    }
    case 'SYNC': {
      const t = new ActorTable();
      for (const c of message.changes) t.addChange(c);
      t.addVersionVector(message.clock);
      t.write(w);
      w.str(message.doc);
      w.bool(message.complete);
      writeChanges(w, t, message.changes);
      writeVersionVector(w, t, message.clock);
      return;
    }
    case 'CHANGES': {
      const t = new ActorTable();
      for (const c of message.changes) t.addChange(c);
      t.write(w);
      w.str(message.doc);
      writeChanges(w, t, message.changes);
      return;
    }
    case 'ACK':
      w.str(message.doc);
      w.str(message.actor);
      w.varint(message.seq);
      return;
    case 'UNSUBSCRIBE':
      w.str(message.doc);
      return;
    case 'ERROR': {
      const { doc, rejected } = message;
      w.str(message.code);
      w.str(message.message);
      w.u8((message.fatal ? ERROR_FATAL : 0) | (doc === undefined ? 0 : ERROR_DOC) | (rejected === undefined ? 0 : ERROR_REJECTED));
      if (doc !== undefined) w.str(doc);
      if (rejected !== undefined) {
        w.varint(rejected.length);
        for (const r of rejected) {
          w.str(r.actor);
          w.varint(r.seq);
        }
      }
      return;
    }
    case 'HINT':
      w.str(message.kind);
      w.u8(message.doc === undefined ? 0 : HAS_DOC);
      if (message.doc !== undefined) w.str(message.doc);
      w.str(JSON.stringify(message.data));
      return;
    case 'PING':
    case 'PONG':
      writeNumber(w, message.nonce);
      return;
  }
}

function writeChanges(w: ByteWriter, t: ActorTable, changes: readonly Change[]): void {
  w.varint(changes.length);
  const run = newChangeRun();
  for (const c of changes) writeChange(w, t, c, run);
}

function writeCodecs(w: ByteWriter, codecs: readonly CodecName[]): void {
  w.varint(codecs.length);
  for (const c of codecs) w.u8(CodecId[c]);
}

function writeStrings(w: ByteWriter, values: readonly string[]): void {
  w.varint(values.length);
  for (const v of values) w.str(v);
}

/**
 * Decodes and validates the payload of a frame of type `type`. Throws SP_ERR_FRAME_MALFORMED for
 * truncated or garbled bytes and SP_ERR_PAYLOAD_INVALID for content that breaks the schema.
 */
export function decodePayload(type: FrameTypeName, bytes: Uint8Array): ProtocolMessage {
  const r = new ByteReader(bytes);
  const message = readMessage(type, r);
  r.end();
  validateMessage(message);
  return message;
}

function readMessage(type: FrameTypeName, r: ByteReader): ProtocolMessage {
  switch (type) {
    case 'HELLO': {
      const n = r.count(1);
      const protocols: number[] = [];
      for (let i = 0; i < n; i++) protocols.push(r.varint());
      const actor = r.str();
      const client = r.str();
      const flags = r.u8();
      if ((flags & ~HELLO_TOKEN) !== 0) throw invalid(`unknown HELLO flags ${flags}`);
      const token = (flags & HELLO_TOKEN) !== 0 ? r.str() : undefined;
      const codecs = readCodecs(r);
      const capabilities = readStrings(r);
      return token === undefined
        ? { type, protocols, actor, client, codecs, capabilities }
        : { type, protocols, actor, client, token, codecs, capabilities };
    }
    case 'WELCOME': {
      const protocol = r.varint();
      const peer = r.str();
      const server = r.str();
      const codecs = readCodecs(r);
      const capabilities = readStrings(r);
      return { type, protocol, peer, server, codecs, capabilities, maxFrameBytes: r.varint() };
    }
    case 'SUBSCRIBE': {
      const actors = readActorTable(r);
      const doc = r.str();
      return { type, doc, clock: readVersionVector(r, actors) };
    }
    case 'SYNC': {
      const actors = readActorTable(r);
      const doc = r.str();
      const complete = r.bool();
      const changes = readChanges(r, actors);
      return { type, doc, changes, complete, clock: readVersionVector(r, actors) };
    }
    case 'CHANGES': {
      const actors = readActorTable(r);
      const doc = r.str();
      return { type, doc, changes: readChanges(r, actors) };
    }
    case 'ACK': {
      const doc = r.str();
      const actor = r.str();
      return { type, doc, actor, seq: r.varint() };
    }
    case 'UNSUBSCRIBE':
      return { type, doc: r.str() };
    case 'ERROR':
      return readError(r);
    case 'HINT': {
      const kind = r.str();
      const flags = r.u8();
      if ((flags & ~HAS_DOC) !== 0) throw invalid(`unknown HINT flags ${flags}`);
      const doc = (flags & HAS_DOC) !== 0 ? r.str() : undefined;
      const data = parseJson(r.str());
      return doc === undefined ? { type, kind, data } : { type, kind, doc, data };
    }
    case 'PING':
    case 'PONG':
      return { type, nonce: readNumber(r) };
  }
}

function readError(r: ByteReader): ProtocolMessage {
  // The validator checks that the code is a known ErrorCode.
  const code = r.str() as ErrorCode;
  const message = r.str();
  const flags = r.u8();
  if ((flags & ~(ERROR_FATAL | ERROR_DOC | ERROR_REJECTED)) !== 0) throw invalid(`unknown ERROR flags ${flags}`);
  const fatal = (flags & ERROR_FATAL) !== 0;
  const doc = (flags & ERROR_DOC) !== 0 ? r.str() : undefined;
  let rejected: { actor: string; seq: number }[] | undefined;
  if ((flags & ERROR_REJECTED) !== 0) {
    const n = r.count(3);
    rejected = [];
    for (let i = 0; i < n; i++) {
      const actor = r.str();
      rejected.push({ actor, seq: r.varint() });
    }
  }
  return {
    type: 'ERROR',
    code,
    message,
    fatal,
    ...(doc === undefined ? {} : { doc }),
    ...(rejected === undefined ? {} : { rejected }),
  };
}

function readChanges(r: ByteReader, actors: readonly string[]): Change[] {
  const n = r.count(6);
  const changes: Change[] = [];
  const run = newChangeRun();
  for (let i = 0; i < n; i++) changes.push(readChange(r, actors, run));
  return changes;
}

function readCodecs(r: ByteReader): CodecName[] {
  const n = r.count(1);
  const codecs: CodecName[] = [];
  for (let i = 0; i < n; i++) {
    const name = CODEC_NAMES.get(r.u8());
    if (name !== undefined) codecs.push(name);
  }
  return codecs;
}

function readStrings(r: ByteReader): string[] {
  const n = r.count(1);
  const values: string[] = [];
  for (let i = 0; i < n; i++) values.push(r.str());
  return values;
}

function parseJson(text: string): unknown {
  // JSON.parse would build all of a deeply nested document before the validator could refuse it
  // (a million levels cost hundreds of ms): measure the nesting first, in one cheap pass.
  checkJsonNesting(text, PROTOCOL_LIMITS.jsonDepth);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalid(`data is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Throws if brackets outside strings nest deeper than `max`. Syntax is left to JSON.parse. */
function checkJsonNesting(text: string, max: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw invalid(`data: nested deeper than ${max}`);
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
}

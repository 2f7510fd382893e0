import { toSyncPilotError } from '../../core/errors.ts';
import { ActorTable, readActorTable } from '../crdt/actor-table.ts';
import { newChangeRun, readChange, writeChange } from '../crdt/change-encoding.ts';
import type { Change } from '../crdt/types.ts';
import { ByteReader, ByteWriter, invalid, malformed } from '../encoding/byte-io.ts';
import type { ChangeCodec } from '../store/types.ts';
import { validateChange } from './validate.ts';

/** Leading byte of a standalone change, so stored bytes say which layout wrote them. */
export const CHANGE_FORMAT_VERSION = 1;

/**
 * One change, standalone: format byte · actor table · change, in the same layout (and with the
 * same validation) as changes inside CHANGES and SYNC frames. Used by the SQLite store.
 * `encode` throws SP_ERR_PAYLOAD_INVALID for an invalid change; `decode` throws only
 * SyncPilotError: SP_ERR_FRAME_MALFORMED (truncated or garbled bytes, unknown format) or
 * SP_ERR_PAYLOAD_INVALID (a change that breaks the schema).
 */
export const binaryChangeCodec: ChangeCodec = {
  encode(change: Change): Uint8Array {
    validateChange(change);
    const t = new ActorTable();
    t.addChange(change);
    const w = new ByteWriter();
    try {
      w.u8(CHANGE_FORMAT_VERSION);
      t.write(w);
      writeChange(w, t, change, newChangeRun());
      return w.finish();
    } finally {
      w.release();
    }
  },

  decode(bytes: Uint8Array): Change {
    try {
      if (!(bytes instanceof Uint8Array)) throw malformed('a stored change must be a Uint8Array');
      const r = new ByteReader(bytes);
      const format = r.u8();
      if (format !== CHANGE_FORMAT_VERSION) throw invalid(`unknown change format ${format}`);
      const actors = readActorTable(r);
      const change = readChange(r, actors, newChangeRun());
      r.end();
      validateChange(change);
      return change;
    } catch (err) {
      throw toSyncPilotError(err, 'SP_ERR_INTERNAL');
    }
  },
};

import Database from 'better-sqlite3';
import { SyncPilotError } from '../../core/errors.ts';

/** SQLite result codes (primary or extended) that mean the file is damaged or is not a database. */
const CORRUPT_CODES = /^SQLITE_(CORRUPT|NOTADB)/;
/** Another connection holds a lock: trying again later can succeed. */
const BUSY_CODES = /^SQLITE_(BUSY|LOCKED)/;

/**
 * Turns anything a SQLite call threw into a `SyncPilotError`, keeping the original as `cause`:
 * `SP_ERR_STORE_CORRUPT` for damaged files, retryable `SP_ERR_STORE` for lock contention and
 * `SP_ERR_STORE` otherwise. A `SyncPilotError` passes through unchanged.
 */
export function wrapSqliteError(err: unknown, operation: string): SyncPilotError {
  if (err instanceof SyncPilotError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Database.SqliteError) {
    const details = { operation, sqliteCode: err.code };
    if (CORRUPT_CODES.test(err.code)) {
      return new SyncPilotError('SP_ERR_STORE_CORRUPT', `${operation}: ${message}`, { cause: err, details });
    }
    return new SyncPilotError('SP_ERR_STORE', `${operation}: ${message}`, { cause: err, details, retryable: BUSY_CODES.test(err.code) });
  }
  return new SyncPilotError('SP_ERR_STORE', `${operation}: ${message}`, { cause: err, details: { operation } });
}

import { toSyncPilotError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import type { SyncPilotEvent } from '../events/schemas.ts';
import { parseEvent } from '../events/validate.ts';

/**
 * Validates records read by a source against the versioned schemas, counting the ones that fail
 * and logging the first failure of each type once (a bad producer must not flood the log).
 */
export class EventChecker {
  readonly #logger: Logger;
  readonly #source: string;
  readonly #logged = new Set<string>();
  #invalid = 0;

  constructor(logger: Logger, source: string) {
    this.#logger = logger;
    this.#source = source;
  }

  /** Records that failed so far. */
  get invalid(): number {
    return this.#invalid;
  }

  /** The parsed event, or undefined (counted, maybe logged) when `value` is not a valid event. */
  check(value: unknown, position: string): SyncPilotEvent | undefined {
    try {
      return parseEvent(value);
    } catch (err) {
      const type = (value as { type?: unknown } | null)?.type;
      this.fail(
        typeof type === 'string' ? type.slice(0, 200) : '(no type)',
        position,
        toSyncPilotError(err, 'SP_ERR_EVENT_INVALID').message,
      );
      return undefined;
    }
  }

  /** Counts a record that could not even be decoded (not JSON, empty). */
  fail(type: string, position: string, reason: string): void {
    this.#invalid++;
    if (this.#logged.has(type)) return;
    this.#logged.add(type);
    this.#logger.warn('telemetry source skipped an invalid event (logged once per type)', {
      code: 'SP_ERR_EVENT_INVALID',
      source: this.#source,
      type,
      position,
      reason: reason.slice(0, 500),
    });
  }
}

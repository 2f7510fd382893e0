import { SyncPilotError } from '../../core/errors.ts';
import { EVENT_SCHEMAS } from '../events/schemas.ts';
import { familyOf } from '../events/validate.ts';

/** Every family with at least one known schema, e.g. `access`, `sync-latency`. */
export const KNOWN_FAMILIES: readonly string[] = [...new Set(Object.keys(EVENT_SCHEMAS).map((t) => familyOf(t) ?? t))].sort();

/**
 * Checks requested families against the known schemas: `undefined` (or none) means every family.
 * @throws SyncPilotError `SP_ERR_CONFIG_INVALID` naming an unknown family and the known ones
 */
export function resolveFamilies(families: readonly string[] | undefined): ReadonlySet<string> | undefined {
  if (families === undefined || families.length === 0) return undefined;
  for (const f of families) {
    if (!KNOWN_FAMILIES.includes(f)) {
      throw new SyncPilotError(
        'SP_ERR_CONFIG_INVALID',
        `unknown telemetry family ${JSON.stringify(f)}; known: ${KNOWN_FAMILIES.join(', ')}`,
      );
    }
  }
  return new Set(families);
}

const TYPE_TOPIC = /^syncpilot\.([a-z][a-z0-9-]*)\.v[1-9][0-9]*$/;

/**
 * A predicate on topic names for the sink's default naming (topic = `prefix` + event type): the
 * topics of `families` (every family when undefined), any version, e.g. `syncpilot.access.v1`.
 */
export function topicMatcher(prefix: string, families: ReadonlySet<string> | undefined): (topic: string) => boolean {
  return (topic) => {
    if (!topic.startsWith(prefix)) return false;
    const family = TYPE_TOPIC.exec(topic.slice(prefix.length))?.[1];
    return family !== undefined && (families === undefined || families.has(family));
  };
}

import { SyncPilotError } from '../../core/errors.ts';
import { EVENT_SCHEMAS, type EventType, type SyncPilotEvent } from './schemas.ts';

const TYPE = /^syncpilot\.([a-z][a-z0-9-]*)\.v([1-9][0-9]*)$/;

/** The family of an event type: `syncpilot.access.v1` → `access`. */
export function familyOf(type: string): string | undefined {
  return TYPE.exec(type)?.[1];
}

export function isEventType(type: unknown): type is EventType {
  return typeof type === 'string' && Object.hasOwn(EVENT_SCHEMAS, type);
}

/**
 * Parses an event from the outside (a Kafka message, a log record, a producer's object) against
 * its versioned schema. Throws SP_ERR_EVENT_INVALID naming the type and every problem.
 */
export function parseEvent(value: unknown): SyncPilotEvent {
  const type = (value as { type?: unknown } | null)?.type;
  if (!isEventType(type)) {
    throw new SyncPilotError('SP_ERR_EVENT_INVALID', `unknown event type ${JSON.stringify(type)?.slice(0, 100) ?? 'undefined'}`);
  }
  const result = EVENT_SCHEMAS[type].safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new SyncPilotError('SP_ERR_EVENT_INVALID', `${type}: ${problems}`);
  }
  return result.data;
}

export * from './schemas.ts';
export { familyOf, isEventType, parseEvent } from './validate.ts';

declare const brand: unique symbol;
/** A nominal type: a `T` that cannot be mixed with another brand of the same base type. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Identifies a document. */
export type DocId = Brand<string, 'DocId'>;
/** Identifies a connected peer (one connection of one client). */
export type PeerId = Brand<string, 'PeerId'>;
/** Identifies a CRDT actor: one replica that makes changes. */
export type ActorId = Brand<string, 'ActorId'>;

const ID_PATTERN = /^[A-Za-z0-9._:@/-]{1,128}$/;

/** True if `value` is usable as a document, peer or actor id (1..128 safe characters). */
export function isValidId(value: string): boolean {
  return ID_PATTERN.test(value);
}

export const docId = (value: string): DocId => value as DocId;
export const peerId = (value: string): PeerId => value as PeerId;
export const actorId = (value: string): ActorId => value as ActorId;

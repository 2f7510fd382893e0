/** The reference engine's CRDT document and its helpers. */
export { CrdtDoc, type CrdtDocOptions, type RejectedChange } from './crdt-doc.ts';
export type { Transaction } from './transaction.ts';
export type { Sibling } from './doc-reader.ts';
export { compareOpIds, compareOpIdStrs, formatOpId, isOpId, parseOpId, type OpId } from './op-id.ts';
export { vvCompare, vvCovers, vvGet, vvMerge, type VvOrder } from './version-vector.ts';
export { checkChangeShape } from './change-shape.ts';
export * from './types.ts';

// fast-check arbitraries for the wire protocol: valid changes, ops, version vectors and every message type.
import fc from 'fast-check';
import { ERROR_CODES, type ErrorCode } from '../../src/core/errors.ts';
import type { ActorId } from '../../src/core/ids.ts';
import type { Change, Op, Scalar, VersionVector } from '../../src/engine/crdt/types.ts';
import type { CodecName, ProtocolMessage } from '../../src/engine/protocol/messages.ts';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** fc.record without null-prototype objects (decoded messages are plain objects). */
const record = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true });
const ID_CHARS = 'abcdefXYZ0189._:@/-'.split('');

/** Actor / doc ids: mostly short (so they repeat), sometimes at the 128-character limit; may contain '@'. */
export const idArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 3 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 120, maxLength: 128 }) },
);

export const counterArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 5000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: MAX_SAFE }) },
);
export const opIdArb: fc.Arbitrary<string> = fc.tuple(counterArb, idArb).map(([c, a]) => `${c}@${a}`);
export const objIdArb: fc.Arbitrary<string> = fc.oneof(fc.constant('root'), opIdArb);

export const scalarArb: fc.Arbitrary<Scalar> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);
const codePointArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
const finiteArb = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));

export const versionVectorArb: fc.Arbitrary<VersionVector> = fc.dictionary(idArb, fc.oneof(fc.nat(1000), fc.maxSafeNat()), {
  maxKeys: 5,
  noNullPrototype: true,
});

const keyArb = fc.string({ unit: 'binary', maxLength: 12 });
const predArb = fc.array(opIdArb, { maxLength: 3 });

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  record({ action: fc.constant('set' as const), obj: objIdArb, key: keyArb, value: scalarArb, pred: predArb }),
  record({
    action: fc.constant('make' as const),
    obj: objIdArb,
    key: keyArb,
    type: fc.constantFrom('map' as const, 'text' as const, 'list' as const, 'counter' as const),
    pred: predArb,
  }),
  record({ action: fc.constant('del' as const), obj: objIdArb, key: keyArb, pred: predArb }),
  record({
    action: fc.constant('ins' as const),
    obj: objIdArb,
    after: fc.oneof(fc.constant('_head'), opIdArb),
    values: fc.oneof(fc.array(codePointArb, { minLength: 1, maxLength: 6 }), fc.array(scalarArb, { minLength: 1, maxLength: 4 })),
  }),
  record({ action: fc.constant('rm' as const), obj: objIdArb, elems: fc.array(opIdArb, { minLength: 1, maxLength: 3 }) }),
  record({ action: fc.constant('inc' as const), obj: objIdArb, by: finiteArb }),
);

export const changeArb: fc.Arbitrary<Change> = fc
  .record({
    actor: idArb,
    seq: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: MAX_SAFE })),
    startOp: fc.oneof(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: MAX_SAFE - 1000 })),
    deps: versionVectorArb,
    selfDep: fc.boolean(),
    time: fc.oneof(fc.integer({ min: 1.6e12, max: 1.9e12 }), fc.maxSafeInteger(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    ops: fc.array(opArb, { maxLength: 6 }),
  })
  .map(({ actor, seq, startOp, deps, selfDep, time, ops }) => ({
    actor: actor as ActorId,
    seq,
    startOp,
    // Usually a change depends on its actor's previous seq (the layout has a shortcut for that).
    deps: selfDep && seq > 1 ? { ...deps, [actor]: seq - 1 } : deps,
    time,
    ops,
  }));

/**
 * The validator checks that inserts into text objects made earlier in the same message are single
 * code points; replace the values of such inserts (rare in random data, but possible) so every
 * generated message is valid.
 */
export function fixTextInserts(changes: readonly Change[]): Change[] {
  const text = new Set<string>();
  return changes.map((c) => {
    let ctr = c.startOp;
    const ops = c.ops.map((op): Op => {
      const mine = ctr;
      if (op.action === 'ins') {
        ctr += op.values.length;
        return text.has(op.obj) ? { ...op, values: op.values.map(() => 'x') } : op;
      }
      ctr += 1;
      if (op.action === 'make' && op.type === 'text') text.add(`${mine}@${c.actor}`);
      return op;
    });
    return { ...c, ops };
  });
}

export const changesArb: fc.Arbitrary<Change[]> = fc.array(changeArb, { maxLength: 4 }).map(fixTextInserts);

const codecsArb: fc.Arbitrary<CodecName[]> = fc.array(fc.constantFrom<CodecName>('raw', 'gzip', 'brotli', 'deflate'), { maxLength: 4 });
const namesArb = fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }), { maxLength: 5 });
const shortStringArb = fc.string({ unit: 'binary', maxLength: 40 });
const errorCodeArb = fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[]));
/** JSON data as it comes back from a JSON round trip (e.g. no -0). */
const jsonDataArb: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

function withOptional<T extends object, K extends string, V>(base: T, key: K, value: V | undefined): T & { [P in K]?: V } {
  return value === undefined ? base : { ...base, [key]: value };
}

export const messageArb: fc.Arbitrary<ProtocolMessage> = fc.oneof(
  fc
    .record({
      protocols: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 4 }),
      actor: idArb,
      client: shortStringArb,
      token: fc.option(fc.string({ minLength: 1, maxLength: 200 }), { nil: undefined }),
      codecs: codecsArb,
      capabilities: namesArb,
    })
    .map(({ token, ...m }): ProtocolMessage => withOptional({ type: 'HELLO' as const, ...m }, 'token', token)),
  fc
    .record({
      protocol: fc.integer({ min: 0, max: 255 }),
      peer: idArb,
      server: shortStringArb,
      codecs: codecsArb,
      capabilities: namesArb,
      maxFrameBytes: fc.integer({ min: 1, max: MAX_SAFE }),
    })
    .map((m): ProtocolMessage => ({ type: 'WELCOME', ...m })),
  record({ doc: idArb, clock: versionVectorArb }).map((m): ProtocolMessage => ({ type: 'SUBSCRIBE', ...m })),
  fc
    .record({ doc: idArb, changes: changesArb, complete: fc.boolean(), clock: versionVectorArb })
    .map((m): ProtocolMessage => ({ type: 'SYNC', ...m })),
  record({ doc: idArb, changes: changesArb }).map((m): ProtocolMessage => ({ type: 'CHANGES', ...m })),
  record({ doc: idArb, actor: idArb, seq: fc.oneof(fc.nat(1000), fc.maxSafeNat()) }).map((m): ProtocolMessage => ({ type: 'ACK', ...m })),
  idArb.map((doc): ProtocolMessage => ({ type: 'UNSUBSCRIBE', doc })),
  fc
    .record({
      code: errorCodeArb,
      message: fc.string({ unit: 'binary', maxLength: 60 }),
      fatal: fc.boolean(),
      doc: fc.option(idArb, { nil: undefined }),
      rejected: fc.option(fc.array(record({ actor: idArb, seq: fc.integer({ min: 1, max: MAX_SAFE }) }), { maxLength: 4 }), {
        nil: undefined,
      }),
    })
    .map(({ doc, rejected, ...m }): ProtocolMessage =>
      withOptional(withOptional({ type: 'ERROR' as const, ...m }, 'doc', doc), 'rejected', rejected),
    ),
  fc
    .record({
      kind: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
      doc: fc.option(idArb, { nil: undefined }),
      data: jsonDataArb,
    })
    .map(({ doc, ...m }): ProtocolMessage => withOptional({ type: 'HINT' as const, ...m }, 'doc', doc)),
  finiteArb.map((nonce): ProtocolMessage => ({ type: 'PING', nonce })),
  finiteArb.map((nonce): ProtocolMessage => ({ type: 'PONG', nonce })),
);

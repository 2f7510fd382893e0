import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createAuthzStage } from '../../src/auth/authz-stage.ts';
import { canRead, canWrite } from '../../src/auth/permissions.ts';
import { docId, peerId } from '../../src/core/ids.ts';
import { Pipeline, type HeldMessage, type PipelineOutcome } from '../../src/core/pipeline.ts';
import type { Envelope, MessageKind, Phase, Principal, Stage } from '../../src/core/stage.ts';

function envelope(phase: Phase, kind: MessageKind, doc: string, principal: Principal | undefined): Envelope {
  return {
    id: 'm1',
    phase,
    kind,
    doc: docId(doc),
    peer: peerId('peer-1'),
    ...(principal === undefined ? {} : { principal }),
    payload: { changes: [] },
    bytes: 10,
    receivedAt: 0,
    annotations: {},
  };
}

/** A later stage (order 200, like anomaly) that records every message it sees. */
function spyStage(): Stage & { seen: Envelope[] } {
  const seen: Envelope[] = [];
  return {
    name: 'spy',
    order: 200,
    kind: 'protecting',
    phases: ['inbound', 'applied', 'outbound'],
    seen,
    process: (m) => {
      seen.push(m);
      return { type: 'continue' };
    },
  };
}

function run(pipeline: Pipeline, message: Envelope): PipelineOutcome {
  const outcome = pipeline.run(message);
  // Every stage here is synchronous, so the runner must answer synchronously.
  assert.ok(!(outcome instanceof Promise), 'expected a synchronous outcome');
  return outcome;
}

const alice: Principal = Object.freeze({
  subject: 'alice',
  tenant: 'acme',
  read: Object.freeze(['public/*', 'doc-1']),
  write: Object.freeze(['team-a/*']),
});

describe('authz stage in a Pipeline', () => {
  test('declares itself as a protecting, synchronous stage at order 100 on inbound and outbound', () => {
    const s = createAuthzStage();
    assert.deepEqual([s.name, s.order, s.kind, s.mode, s.phases], ['authz', 100, 'protecting', 'sync', ['inbound', 'outbound']]);
  });

  test('denied subscribe and changes are rejected with SP_ERR_FORBIDDEN; later stages never run', () => {
    const spy = spyStage();
    const holds: HeldMessage[] = [];
    const pipeline = new Pipeline([spy, createAuthzStage()], { holds: { put: (h) => holds.push(h) } });
    const cases: [MessageKind, string, RegExp][] = [
      ['subscribe', 'private/x', /"alice" may not read document "private\/x"/],
      ['subscribe', 'doc-10', /may not read/],
      ['changes', 'public/readme', /"alice" may not write document "public\/readme"/],
      ['changes', 'doc-1', /may not write/],
      ['sync', 'doc-1', /may not write/],
    ];
    for (const [kind, doc, reason] of cases) {
      const outcome = run(pipeline, envelope('inbound', kind, doc, alice));
      assert.equal(outcome.type, 'reject', `${kind} ${doc}`);
      if (outcome.type !== 'reject') continue;
      assert.equal(outcome.stage, 'authz');
      assert.equal(outcome.code, 'SP_ERR_FORBIDDEN');
      assert.match(outcome.reason, reason);
    }
    assert.equal(spy.seen.length, 0, 'no later stage saw a denied message');
    assert.equal(holds.length, 0, 'a refusal is a reject, not a hold');
    assert.equal(pipeline.stats().get('authz')?.calls, cases.length);
  });

  test('allowed messages pass unchanged to later stages', () => {
    const spy = spyStage();
    const pipeline = new Pipeline([createAuthzStage(), spy]);
    const allowed: Envelope[] = [
      envelope('inbound', 'subscribe', 'public/readme', alice),
      envelope('inbound', 'subscribe', 'doc-1', alice),
      envelope('inbound', 'subscribe', 'team-a/plan', alice), // write implies read
      envelope('inbound', 'changes', 'team-a/plan', alice),
      envelope('outbound', 'changes', 'public/readme', alice),
      envelope('outbound', 'sync', 'team-a/plan', alice),
    ];
    for (const m of allowed) {
      const outcome = run(pipeline, m);
      assert.equal(outcome.type, 'continue', `${m.phase} ${m.kind} ${m.doc}`);
      if (outcome.type === 'continue') assert.equal(outcome.message, m);
    }
    assert.deepEqual(spy.seen, allowed);
  });

  test('outbound to a peer whose principal cannot read the document is rejected', () => {
    const spy = spyStage();
    const pipeline = new Pipeline([createAuthzStage(), spy]);
    const reader: Principal = Object.freeze({ subject: 'bob', tenant: 'acme', read: ['doc-1'], write: [] });
    for (const kind of ['changes', 'sync'] as const) {
      const outcome = run(pipeline, { ...envelope('outbound', kind, 'team-a/plan', reader), origin: peerId('peer-alice') });
      assert.deepEqual(outcome.type === 'reject' && [outcome.stage, outcome.code], ['authz', 'SP_ERR_FORBIDDEN']);
    }
    assert.equal(run(pipeline, envelope('outbound', 'changes', 'doc-1', reader)).type, 'continue');
    assert.equal(spy.seen.length, 1);
  });

  test('a message without a principal is rejected with SP_ERR_UNAUTHENTICATED, in both phases', () => {
    const spy = spyStage();
    const pipeline = new Pipeline([createAuthzStage(), spy]);
    for (const phase of ['inbound', 'outbound'] as const) {
      const outcome = run(pipeline, envelope(phase, 'subscribe', 'public/readme', undefined));
      assert.deepEqual(outcome.type === 'reject' && [outcome.stage, outcome.code], ['authz', 'SP_ERR_UNAUTHENTICATED']);
    }
    assert.equal(spy.seen.length, 0);
  });

  test("the applied phase is not the stage's business", () => {
    const pipeline = new Pipeline([createAuthzStage()]);
    assert.equal(pipeline.isEmpty('applied'), true);
  });
});

// --- property: the stage decides exactly as the permissions say, checked against a naive oracle ---

const idChar = fc.constantFrom('a', 'b', '1', '/', '-');
const idArb = fc.string({ unit: idChar, minLength: 1, maxLength: 4 });
const patternArb = fc.oneof(
  idArb,
  fc.string({ unit: idChar, minLength: 0, maxLength: 3 }).map((p) => `${p}*`),
);
const principalArb = fc.record({
  subject: fc.constant('p'),
  tenant: fc.constant('t'),
  read: fc.array(patternArb, { maxLength: 4 }),
  write: fc.array(patternArb, { maxLength: 4 }),
});

/** Independent of the implementation: a pattern matches its exact id, or (with a trailing `*`) every id it prefixes. */
const matchesNaive = (patterns: readonly string[], doc: string): boolean =>
  patterns.some((p) => (p.endsWith('*') ? doc.startsWith(p.slice(0, -1)) : p === doc));

describe('authz stage properties', () => {
  test('allows a write iff canWrite; never allows a read of a doc no read/write pattern matches', () => {
    const stage = createAuthzStage();
    const pipeline = new Pipeline([stage]);
    fc.assert(
      fc.property(principalArb, fc.array(idArb, { minLength: 1, maxLength: 8 }), (principal, docs) => {
        const snapshot = structuredClone(principal);
        for (const doc of docs) {
          const writeOk = run(pipeline, envelope('inbound', 'changes', doc, principal)).type === 'continue';
          assert.equal(writeOk, canWrite(principal, doc));
          assert.equal(writeOk, matchesNaive(principal.write, doc));
          const readMatched = matchesNaive([...principal.read, ...principal.write], doc);
          for (const m of [envelope('inbound', 'subscribe', doc, principal), envelope('outbound', 'changes', doc, principal)]) {
            const readOk = run(pipeline, m).type === 'continue';
            assert.equal(readOk, readMatched, `${m.phase} ${doc}`);
            assert.equal(readOk, canRead(principal, doc));
          }
        }
        assert.deepEqual({ ...principal }, snapshot, 'the principal is not mutated');
      }),
      { numRuns: 500 },
    );
  });
});

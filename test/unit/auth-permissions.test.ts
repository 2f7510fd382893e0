import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canRead, canWrite, compilePermissions } from '../../src/auth/permissions.ts';
import type { Principal } from '../../src/core/stage.ts';

const principal = (read: string[], write: string[] = []): Principal => Object.freeze({ subject: 's', tenant: 't', read, write });

// [read patterns, write patterns, doc, expected canRead, expected canWrite]
const TABLE: readonly (readonly [string[], string[], string, boolean, boolean])[] = [
  // exact
  [['doc-1'], [], 'doc-1', true, false],
  [['doc-1'], [], 'doc-10', false, false],
  [['doc-1'], [], 'doc-', false, false],
  [['doc-10'], [], 'doc-1', false, false],
  [['Doc-1'], [], 'doc-1', false, false],
  // prefix
  [['team-a/*'], [], 'team-a/notes', true, false],
  [['team-a/*'], [], 'team-a/', true, false],
  [['team-a/*'], [], 'team-a', false, false],
  [['team-a/*'], [], 'team-ab/x', false, false],
  [['doc-1*'], [], 'doc-10', true, false],
  [['doc-1*'], [], 'doc-1', true, false],
  [['doc-1*'], [], 'doc-2', false, false],
  // star alone
  [['*'], [], 'anything/at:all', true, false],
  [[], ['*'], 'anything', true, true],
  // write implies read
  [[], ['doc-1'], 'doc-1', true, true],
  [[], ['team-b/*'], 'team-b/x', true, true],
  [[], ['doc-1'], 'doc-10', false, false],
  // read does not imply write
  [['*'], ['team-a/*'], 'team-b/x', true, false],
  [['*'], ['team-a/*'], 'team-a/x', true, true],
  // nothing
  [[], [], 'doc-1', false, false],
  // a '*' that is not trailing is a literal character, never a wildcard
  [['a*b'], [], 'axxb', false, false],
  [['a*b'], [], 'a*b', true, false],
  // characters that would be special in a regex are literal
  [['a.c'], [], 'abc', false, false],
  [['a.*'], [], 'abc', false, false],
  [['a.*'], [], 'a.c', true, false],
  // overlapping prefixes and exact ids covered by a prefix
  [['a/b/*', 'a/*', 'a/b/c'], [], 'a/x', true, false],
  [['a/b/*', 'a/*', 'a/b/c'], [], 'b', false, false],
  [['x', 'x/*'], [], 'x', true, false],
];

describe('canRead / canWrite', () => {
  for (const [read, write, doc, r, w] of TABLE) {
    test(`read ${JSON.stringify(read)} write ${JSON.stringify(write)} on "${doc}" → read ${r}, write ${w}`, () => {
      const p = principal(read, write);
      assert.equal(canRead(p, doc), r);
      assert.equal(canWrite(p, doc), w);
    });
  }

  test('compiled once per principal object and reused', () => {
    const p = principal(['a*'], ['b']);
    const first = compilePermissions(p);
    assert.equal(compilePermissions(p), first);
    assert.notEqual(compilePermissions(principal(['a*'], ['b'])), first);
    assert.ok(Object.isFrozen(first));
  });

  test('redundant prefixes are dropped at compile time', () => {
    const c = compilePermissions(principal(['a/b/*', 'a/*', 'a/bc*', 'z*', 'a/x'], []));
    assert.deepEqual([...c.read.prefixes].sort(), ['a/', 'z']);
    assert.deepEqual([...c.read.exact], []);
  });
});

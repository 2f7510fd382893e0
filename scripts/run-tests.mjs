#!/usr/bin/env node
// Runs the test suite with node's own test runner (through tsx, for TypeScript).
// Usage: node scripts/run-tests.mjs [unit|property|integration|browser ...] [--only-file PATTERN]
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const groups = args.filter((a) => !a.startsWith('-'));
const root = new URL('../test/', import.meta.url).pathname;

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

let files = walk(root).sort();
if (groups.length > 0) files = files.filter((f) => groups.some((g) => f.includes(`/test/${g}/`) || f.includes(g)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  {
    stdio: 'inherit',
    env: process.env,
  },
);
process.exit(r.status ?? 1);

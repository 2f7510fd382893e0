import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { crc32, crc32Portable } from '../../src/telemetry/crc32.ts';

test('crc32 matches the standard check value', () => {
  const check = Buffer.from('123456789');
  assert.equal(crc32(check), 0xcbf43926);
  assert.equal(crc32Portable(check), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('the portable crc32 agrees with the native one, whole and incremental', () => {
  for (let i = 0; i < 50; i++) {
    const data = randomBytes(i * 37 + 1);
    const whole = crc32Portable(data);
    assert.equal(whole, crc32(data));
    const cut = Math.floor(data.length / 3);
    assert.equal(crc32Portable(data.subarray(cut), crc32Portable(data.subarray(0, cut))), whole);
    assert.equal(crc32(data.subarray(cut), crc32(data.subarray(0, cut))), whole);
  }
});

test('crc32 detects a single flipped bit', () => {
  const data = randomBytes(256);
  const before = crc32(data);
  data[100] = (data[100] ?? 0) ^ 0x10;
  assert.notEqual(crc32(data), before);
});

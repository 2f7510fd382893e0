import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { compressionSizeBaseline } from '../../src/ml/features/compression-size-baseline.ts';
import { brotliRatioHeuristic } from '../../src/ml/features/compression-size-heuristic.ts';
import {
  COMPRESSION_SIZE_FEATURE_NAMES,
  COMPRESSION_SIZE_FEATURES,
  compressionSizeFeatures,
  FEATURE_SCHEMA,
  MAX_SCAN_BYTES,
} from '../../src/ml/features/compression-size.ts';
import { compressedRatio } from '../../training/policies/compression/size-target.ts';
import { chunkOffsets } from '../../training/policies/compression/size-dataset.ts';

const at = (f: Float32Array, name: (typeof COMPRESSION_SIZE_FEATURE_NAMES)[number]): number =>
  f[COMPRESSION_SIZE_FEATURE_NAMES.indexOf(name)] as number;

describe('compression-size features', () => {
  test('schema constant and vector width agree', () => {
    assert.deepEqual(FEATURE_SCHEMA, { name: 'compression-size', version: 1 });
    assert.equal(COMPRESSION_SIZE_FEATURES, 12);
    assert.equal(new Set(COMPRESSION_SIZE_FEATURE_NAMES).size, COMPRESSION_SIZE_FEATURES);
    assert.equal(compressionSizeFeatures(new Uint8Array(100)).length, COMPRESSION_SIZE_FEATURES);
  });

  test('known values: a constant run, all 256 byte values, text', () => {
    const zeros = compressionSizeFeatures(new Uint8Array(1000));
    assert.equal(at(zeros, 'entropy'), 0);
    assert.equal(at(zeros, 'zeroRatio'), 1);
    assert.equal(at(zeros, 'printableRatio'), 0);
    assert.equal(at(zeros, 'runRatio'), Math.fround(0.999));
    assert.ok(at(zeros, 'matchCoverage') > 0.99, 'a run is one long match');
    assert.ok(Math.abs(at(zeros, 'log2Length') - Math.log2(1001)) < 1e-5);

    const all = compressionSizeFeatures(Uint8Array.from({ length: 256 }, (_, i) => i));
    assert.ok(Math.abs(at(all, 'entropy') - 8) < 1e-6);
    assert.equal(at(all, 'distinctRatio'), 1);
    assert.equal(at(all, 'highRatio'), 0.5);
    assert.equal(at(all, 'matchCoverage'), 0);

    const text = compressionSizeFeatures(new TextEncoder().encode('the cat sat on the mat; the cat sat on the hat\n'));
    assert.equal(at(text, 'printableRatio'), 1);
    assert.ok(at(text, 'matchCoverage') > 0.3, 'repeated phrases are found');
  });

  test('empty payload: zeros and a heuristic ratio of 1', () => {
    const f = compressionSizeFeatures(new Uint8Array(0));
    assert.deepEqual([...f.subarray(0, 11)], new Array(11).fill(0));
    assert.equal(compressionSizeBaseline(f), 1);
  });

  test('only the first MAX_SCAN_BYTES are scanned; the length still counts', () => {
    const head = randomBytes(MAX_SCAN_BYTES);
    const a = new Uint8Array(MAX_SCAN_BYTES * 2);
    const b = new Uint8Array(MAX_SCAN_BYTES * 2).fill(7);
    a.set(head);
    b.set(head);
    const fa = compressionSizeFeatures(a);
    const fb = compressionSizeFeatures(b);
    assert.deepEqual([...fa.subarray(1, 11)], [...fb.subarray(1, 11)]);
    assert.ok(at(fa, 'log2Length') > at(compressionSizeFeatures(head), 'log2Length'));
  });

  test('pure: same bytes give the same vector whatever came before; input not modified; values in range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 3000 }), (bytes, other) => {
        const copy = Uint8Array.from(bytes);
        const first = compressionSizeFeatures(bytes);
        compressionSizeFeatures(other);
        const again = compressionSizeFeatures(bytes);
        assert.deepEqual(bytes, copy);
        assert.deepEqual(again, first);
        for (const v of first) assert.ok(Number.isFinite(v));
        for (const name of [
          'distinctRatio',
          'printableRatio',
          'zeroRatio',
          'highRatio',
          'runRatio',
          'matchCoverage',
          'matchesPerByte',
        ] as const) {
          assert.ok(at(first, name) >= 0 && at(first, name) <= 1, `${name} = ${at(first, name)}`);
        }
        assert.ok(at(first, 'entropy') >= 0 && at(first, 'entropy') <= 8 + 1e-6);
        assert.ok(at(first, 'heuristicRatio') > 0 && at(first, 'heuristicRatio') <= 1 + 4 / Math.max(1, bytes.length) + 1e-6);
      }),
      { numRuns: 200 },
    );
  });

  test('the baseline reads the heuristic, and refuses vectors of another schema', () => {
    const f = compressionSizeFeatures(new TextEncoder().encode('hello hello hello hello hello'));
    const expected = brotliRatioHeuristic(29, at(f, 'entropy'), at(f, 'lzEstimate'));
    assert.ok(Math.abs(compressionSizeBaseline(f) - expected) < 1e-6);
    assert.throws(() => compressionSizeBaseline(new Float32Array(11)), RangeError);
  });

  test('the baseline tracks real brotli: small payloads grow, random data does not shrink, runs shrink', () => {
    const tiny = randomBytes(16);
    assert.ok(compressedRatio(tiny) > 1, 'brotli grows a 16-byte payload');
    assert.ok(compressionSizeBaseline(compressionSizeFeatures(tiny)) > 1);
    const noise = randomBytes(8192);
    assert.ok(Math.abs(compressionSizeBaseline(compressionSizeFeatures(noise)) - compressedRatio(noise)) < 0.02);
    const run = new Uint8Array(8192).fill(65);
    assert.ok(compressedRatio(run) < 0.01);
    assert.ok(compressionSizeBaseline(compressionSizeFeatures(run)) < 0.02);
  });
});

describe('chunkOffsets', () => {
  test('non-overlapping, inside the file, at most max', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.integer({ min: 1, max: 64 }),
        (len, size, max) => {
          const offs = chunkOffsets(len, size, max);
          assert.equal(offs.length, Math.min(max, Math.floor(len / size)));
          offs.forEach((o, i) => {
            assert.ok(o >= 0 && o + size <= len);
            if (i > 0) assert.ok(o >= (offs[i - 1] as number) + size);
          });
        },
      ),
    );
  });
});

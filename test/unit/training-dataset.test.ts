import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { SyncPilotError } from '../../src/core/errors.ts';
import { assertDataset, fingerprintDataset, selectRows, type Dataset } from '../../training/dataset/dataset.ts';
import { readCsvDataset, readDatasetFile, readJsonlDataset, writeJsonlDataset } from '../../training/dataset/readers.ts';

function dataset(rows: number, seed = 1): Dataset {
  const x = Float32Array.from({ length: rows * 2 }, (_, i) => Math.sin(i * 12.9898 + seed) * 10);
  const y = Float32Array.from({ length: rows }, (_, i) => i / 7);
  return {
    inputs: 2,
    outputs: 1,
    rows,
    x,
    y,
    featureNames: ['a', 'b'],
    targetNames: ['t'],
    groups: Array.from({ length: rows }, (_, i) => `g${i % 3}`),
  };
}

const isCode = (code: string) => (err: unknown) => err instanceof SyncPilotError && err.code === code;

describe('fingerprintDataset', () => {
  // The pinned value was computed independently (Python: sha256 of each row's float32 LE bytes, sorted hex,
  // then sha256 of the JSON header followed by those hex strings).
  test('pinned: the fingerprint of a fixed dataset does not change between releases', () => {
    const ds: Dataset = {
      inputs: 2,
      outputs: 1,
      rows: 2,
      x: Float32Array.of(1, 2, 3, 4),
      y: Float32Array.of(0.5, 1.5),
      featureNames: ['a', 'b'],
    };
    assert.match(fingerprintDataset(ds), /^[0-9a-f]{64}$/);
    assert.equal(fingerprintDataset(ds), 'cbff3eb0c3c9f07b603fe5a7848035a23e189354a0078f8a4eec61f951a1fb44');
  });

  test('independent of row order; changed by any value, name or group', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 0, max: 1000 }), (rows, salt) => {
        const ds = dataset(rows);
        const fp = fingerprintDataset(ds);
        const reversed = selectRows(
          ds,
          Array.from({ length: rows }, (_, i) => rows - 1 - i),
        );
        assert.equal(fingerprintDataset(reversed), fp);
        const k = salt % (rows * 2);
        const x = Float32Array.from(ds.x);
        x[k] = (x[k] as number) + 1;
        assert.notEqual(fingerprintDataset({ ...ds, x }), fp);
        const y = Float32Array.from(ds.y);
        y[salt % rows] = (y[salt % rows] as number) + 0.25;
        assert.notEqual(fingerprintDataset({ ...ds, y }), fp);
        const groups = [...(ds.groups ?? [])];
        groups[salt % rows] = 'other';
        assert.notEqual(fingerprintDataset({ ...ds, groups }), fp);
        assert.notEqual(fingerprintDataset({ ...ds, featureNames: ['a', 'c'] }), fp);
      }),
      { numRuns: 50 },
    );
  });
});

describe('assertDataset / selectRows', () => {
  test('refuses empty, misshapen or non-finite data with SP_ERR_DATASET_INVALID', () => {
    const ds = dataset(3);
    assert.doesNotThrow(() => assertDataset(ds));
    assert.throws(
      () => assertDataset({ ...ds, rows: 0, x: new Float32Array(0), y: new Float32Array(0), groups: [] }),
      isCode('SP_ERR_DATASET_INVALID'),
    );
    assert.throws(() => assertDataset({ ...ds, x: ds.x.subarray(1) }), isCode('SP_ERR_DATASET_INVALID'));
    assert.throws(() => assertDataset({ ...ds, featureNames: ['a'] }), isCode('SP_ERR_DATASET_INVALID'));
    assert.throws(() => assertDataset({ ...ds, groups: ['g'] }), isCode('SP_ERR_DATASET_INVALID'));
    const x = Float32Array.from(ds.x);
    x[3] = NaN;
    assert.throws(() => assertDataset({ ...ds, x }), /row 1 is not finite/);
  });

  test('selectRows copies the chosen rows, groups included', () => {
    const ds = dataset(5);
    const s = selectRows(ds, [4, 0]);
    assert.equal(s.rows, 2);
    assert.deepEqual([...s.x], [...ds.x.subarray(8, 10), ...ds.x.subarray(0, 2)]);
    assert.deepEqual([...s.y], [ds.y[4], ds.y[0]]);
    assert.deepEqual(s.groups, ['g1', 'g0']);
  });
});

describe('file readers', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sp-training-readers-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('CSV with quoting, extra columns, blank lines and CRLF', async () => {
    const path = join(dir, 'rows.csv');
    await writeFile(path, 'note,a,b,t,file\r\n"x, y",1,2,0.5,"f ""one"""\r\n\r\nz,3,4.5,1.5,f2\r\n');
    const ds = await readCsvDataset(path, { features: ['a', 'b'], targets: ['t'], groupBy: 'file' });
    assert.equal(ds.rows, 2);
    assert.deepEqual([...ds.x], [1, 2, 3, 4.5]);
    assert.deepEqual([...ds.y], [0.5, 1.5]);
    assert.deepEqual(ds.groups, ['f "one"', 'f2']);
  });

  test('CSV problems name the line: missing column, non-number, unterminated quote, no rows', async () => {
    const path = join(dir, 'bad.csv');
    await writeFile(path, 'a,t\n1,2\nx,3\n');
    await assert.rejects(readCsvDataset(path, { features: ['a'], targets: ['t'] }), /bad\.csv:3: column "a"/);
    await assert.rejects(readCsvDataset(path, { features: ['zz'], targets: ['t'] }), isCode('SP_ERR_DATASET_INVALID'));
    await writeFile(path, 'a,t\n"1,2\n');
    await assert.rejects(readCsvDataset(path, { features: ['a'], targets: ['t'] }), /unterminated/);
    await writeFile(path, 'a,t\n');
    await assert.rejects(readCsvDataset(path, { features: ['a'], targets: ['t'] }), /no data rows/);
    await assert.rejects(readCsvDataset(join(dir, 'missing.csv'), { features: ['a'], targets: ['t'] }), isCode('SP_ERR_DATASET_INVALID'));
  });

  test('JSONL: named fields, numeric groups, bad lines refused', async () => {
    const path = join(dir, 'rows.jsonl');
    await writeFile(path, '{"a":1,"b":2,"t":3,"g":7,"extra":"ok"}\n\n{"a":4,"b":5,"t":6,"g":"x"}\n');
    const ds = await readJsonlDataset(path, { features: ['a', 'b'], targets: ['t'], groupBy: 'g' });
    assert.deepEqual([...ds.x], [1, 2, 4, 5]);
    assert.deepEqual(ds.groups, ['7', 'x']);
    await writeFile(path, '{"a":1,"b":"2","t":3}\n');
    await assert.rejects(readJsonlDataset(path, { features: ['a', 'b'], targets: ['t'] }), /rows\.jsonl:1/);
    await writeFile(path, '{"a":1,\n');
    await assert.rejects(readJsonlDataset(path, { features: ['a'], targets: ['t'] }), isCode('SP_ERR_DATASET_INVALID'));
    await assert.rejects(readDatasetFile(join(dir, 'rows.parquet'), { features: ['a'], targets: ['t'] }), /unknown dataset format/);
  });

  test('writeJsonlDataset round-trips exactly (same fingerprint)', async () => {
    const ds = dataset(50);
    const path = join(dir, 'round.jsonl');
    await writeJsonlDataset(ds, path);
    const back = await readDatasetFile(path, { features: ['a', 'b'], targets: ['t'], groupBy: 'group' });
    assert.deepEqual(back.x, ds.x);
    assert.deepEqual(back.y, ds.y);
    assert.equal(fingerprintDataset(back), fingerprintDataset(ds));
  });
});

import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { z } from 'zod';
import { SyncPilotError } from '../../src/core/errors.ts';
import { assertDataset, type Dataset } from './dataset.ts';

/** Which named columns (CSV header names, JSONL keys) become features, targets and the group. */
export interface DatasetColumns {
  /** Feature columns, in vector order. */
  readonly features: readonly string[];
  /** Target columns, in output order. */
  readonly targets: readonly string[];
  /** A column whose value names the row's group (for grouped splits). */
  readonly groupBy?: string;
}

/**
 * Reads a CSV (`.csv`) or JSON-lines (`.jsonl`, `.ndjson`) dataset file, by extension.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` (unreadable, unknown extension, bad rows, no rows)
 */
export async function readDatasetFile(path: string, columns: DatasetColumns): Promise<Dataset> {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return readCsvDataset(path, columns);
  if (ext === '.jsonl' || ext === '.ndjson') return readJsonlDataset(path, columns);
  throw new SyncPilotError('SP_ERR_DATASET_INVALID', `${path}: unknown dataset format "${ext}" (expected .csv, .jsonl or .ndjson)`);
}

/**
 * Reads a CSV file with a header line; RFC 4180 quoting (`"a,b"`, `""`) is understood; blank lines
 * are skipped. Columns not named in `columns` are ignored. Feature and target cells must be finite
 * numbers.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` naming the line of the first problem
 */
export async function readCsvDataset(path: string, columns: DatasetColumns): Promise<Dataset> {
  const lines = (await readText(path)).split('\n');
  const header = splitCsvLine(lines[0] ?? '', path, 1);
  const index = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw invalid(`${path}: no column "${name}" in the header`);
    return i;
  };
  const fi = columns.features.map(index);
  const ti = columns.targets.map(index);
  const gi = columns.groupBy === undefined ? undefined : index(columns.groupBy);
  const builder = new RowBuilder(columns);
  for (let l = 1; l < lines.length; l++) {
    const line = lines[l] ?? '';
    if (line.trim() === '' || line.trim() === '\r') continue;
    const cells = splitCsvLine(line, path, l + 1);
    const num = (i: number, name: string): number => {
      const text = (cells[i] ?? '').trim();
      const v = text === '' ? NaN : Number(text);
      if (!Number.isFinite(v))
        throw invalid(`${path}:${l + 1}: column "${name}" is not a finite number: ${JSON.stringify(cells[i] ?? '')}`);
      return v;
    };
    builder.add(
      fi.map((i, k) => num(i, columns.features[k] ?? '')),
      ti.map((i, k) => num(i, columns.targets[k] ?? '')),
      gi === undefined ? undefined : (cells[gi] ?? ''),
    );
  }
  return builder.build(path);
}

/**
 * Reads a JSON-lines file: one object per non-blank line, features and targets as finite numbers
 * under their names, the group as a string or number. Other keys are ignored.
 * @throws SyncPilotError `SP_ERR_DATASET_INVALID` naming the line of the first problem
 */
export async function readJsonlDataset(path: string, columns: DatasetColumns): Promise<Dataset> {
  const lines = (await readText(path)).split('\n');
  const shape: Record<string, z.ZodType> = {};
  for (const name of [...columns.features, ...columns.targets]) shape[name] = z.number().finite();
  if (columns.groupBy !== undefined) shape[columns.groupBy] = z.union([z.string(), z.number()]);
  const rowSchema = z.object(shape);
  const builder = new RowBuilder(columns);
  for (let l = 0; l < lines.length; l++) {
    const line = lines[l] ?? '';
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new SyncPilotError('SP_ERR_DATASET_INVALID', `${path}:${l + 1}: not JSON`, { cause: err });
    }
    const r = rowSchema.safeParse(value);
    if (!r.success) throw invalid(`${path}:${l + 1}: ${z.prettifyError(r.error)}`);
    const row = r.data as Record<string, number | string>;
    builder.add(
      columns.features.map((n) => row[n] as number),
      columns.targets.map((n) => row[n] as number),
      columns.groupBy === undefined ? undefined : String(row[columns.groupBy]),
    );
  }
  return builder.build(path);
}

/**
 * Writes a dataset as JSON lines that {@link readJsonlDataset} reads back with the same columns
 * (features and targets under their names, the group under `group`), e.g. a dataset built from
 * telemetry for `trainPolicy(…, { data })`. Float32 values are written exactly.
 */
export async function writeJsonlDataset(ds: Dataset, path: string): Promise<void> {
  assertDataset(ds);
  const targets = ds.targetNames ?? Array.from({ length: ds.outputs }, (_, j) => `y${j}`);
  const lines: string[] = [];
  for (let r = 0; r < ds.rows; r++) {
    const row: Record<string, number | string> = {};
    ds.featureNames.forEach((n, j) => (row[n] = ds.x[r * ds.inputs + j] as number));
    targets.forEach((n, j) => (row[n] = ds.y[r * ds.outputs + j] as number));
    if (ds.groups !== undefined) row['group'] = ds.groups[r] ?? '';
    lines.push(JSON.stringify(row));
  }
  await writeFile(path, lines.join('\n') + '\n');
}

class RowBuilder {
  readonly #columns: DatasetColumns;
  readonly #x: number[] = [];
  readonly #y: number[] = [];
  readonly #groups: string[] = [];
  #rows = 0;

  constructor(columns: DatasetColumns) {
    if (columns.features.length === 0 || columns.targets.length === 0)
      throw invalid('a dataset needs at least one feature and one target column');
    this.#columns = columns;
  }

  add(x: readonly number[], y: readonly number[], group: string | undefined): void {
    this.#x.push(...x);
    this.#y.push(...y);
    if (group !== undefined) this.#groups.push(group);
    this.#rows++;
  }

  build(path: string): Dataset {
    if (this.#rows === 0) throw invalid(`${path}: no data rows`);
    const ds: Dataset = {
      inputs: this.#columns.features.length,
      outputs: this.#columns.targets.length,
      rows: this.#rows,
      x: Float32Array.from(this.#x),
      y: Float32Array.from(this.#y),
      featureNames: [...this.#columns.features],
      targetNames: [...this.#columns.targets],
      ...(this.#columns.groupBy === undefined ? {} : { groups: this.#groups }),
    };
    assertDataset(ds, path);
    return ds;
  }
}

/** Splits one CSV record (no embedded newlines) into cells, undoing RFC 4180 quoting. */
function splitCsvLine(line: string, path: string, lineNo: number): string[] {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  if (quoted) throw invalid(`${path}:${lineNo}: unterminated quoted cell`);
  cells.push(cell);
  return cells;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new SyncPilotError('SP_ERR_DATASET_INVALID', `cannot read dataset file ${path}`, { cause: err });
  }
}

function invalid(message: string): SyncPilotError {
  return new SyncPilotError('SP_ERR_DATASET_INVALID', message);
}

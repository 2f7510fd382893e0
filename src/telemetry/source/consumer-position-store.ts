import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { SyncPilotError } from '../../core/errors.ts';
import type { LogPosition } from '../embedded-log-reader.ts';

/** A consumer name: also a file name, so no separators or dots at the start. */
export const CONSUMER_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

const fileSchema = z.strictObject({
  version: z.literal(1),
  segment: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  committedAt: z.number().int().nonnegative(),
});

/**
 * The committed position of one named consumer of an embedded log, in
 * `<logDir>/consumers/<name>.json`. Each commit writes a temporary file, fsyncs it and renames it
 * over the old one, so a crash leaves either the old or the new position, never a torn file.
 */
export class ConsumerPositionStore {
  readonly #dir: string;
  readonly #file: string;
  #seq = 0;

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for a name that is not `[A-Za-z0-9._-]{1,128}` */
  constructor(logDir: string, name: string) {
    if (!CONSUMER_NAME.test(name)) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid consumer name ${JSON.stringify(name)}: use [A-Za-z0-9._-], 1-128 chars`);
    }
    this.#dir = join(logDir, 'consumers');
    this.#file = join(this.#dir, `${name}.json`);
  }

  /** The file holding the position. */
  get path(): string {
    return this.#file;
  }

  /**
   * The committed position, or undefined when this consumer never committed.
   * @throws SyncPilotError `SP_ERR_STORE_CORRUPT` when the file exists but is not a position
   * (rather than silently starting over and re-reading the whole log)
   */
  async load(): Promise<LogPosition | undefined> {
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new SyncPilotError('SP_ERR_TELEMETRY', `cannot read consumer position ${this.#file}: ${String(err)}`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `consumer position ${this.#file} is not JSON; delete it to start over`, {
        cause: err,
      });
    }
    const parsed = fileSchema.safeParse(value);
    if (!parsed.success) {
      throw new SyncPilotError('SP_ERR_STORE_CORRUPT', `consumer position ${this.#file} is malformed: ${z.prettifyError(parsed.error)}`);
    }
    return { segment: parsed.data.segment, offset: parsed.data.offset };
  }

  /** Durably replaces the committed position (temp file, fsync, rename). */
  async save(position: LogPosition): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const tmp = `${this.#file}.${process.pid}.${++this.#seq}.tmp`;
    const body = JSON.stringify({ version: 1, segment: position.segment, offset: position.offset, committedAt: Date.now() });
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.#file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new SyncPilotError('SP_ERR_TELEMETRY', `cannot commit consumer position ${this.#file}: ${String(err)}`, {
        cause: err,
        retryable: true,
      });
    }
  }
}

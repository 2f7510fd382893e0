import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { parseJob } from './job-schemas.ts';

/**
 * A job's durable notes, `<workDir>/jobs/<jobId>/<name>.json`, written atomically (temp file +
 * rename) so a worker killed mid-write leaves either the old note or the new one. A later
 * attempt of the same job (a retry, or another worker after a stall) reads them to skip the
 * steps that already happened.
 */
export class JobLedger {
  readonly dir: string;

  constructor(workDir: string, jobId: string) {
    this.dir = join(workDir, 'jobs', jobId);
  }

  /**
   * The note, or undefined when absent.
   * @throws SyncPilotError `SP_ERR_JOB_INVALID` when it exists but does not parse
   */
  async read<S extends z.ZodType>(name: string, schema: S): Promise<z.output<S> | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseJob(schema, JSON.parse(text) as unknown, `${this.dir}/${name}`);
  }

  async write(name: string, value: unknown): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`);
    await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { flush: true });
    await rename(tmp, join(this.dir, name));
  }
}

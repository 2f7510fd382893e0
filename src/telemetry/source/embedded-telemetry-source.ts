import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { loggerOption } from '../option-schemas.ts';
import { SyncPilotError, toSyncPilotError } from '../../core/errors.ts';
import { createLogger } from '../../core/logger.ts';
import type { Logger } from '../../core/logger.ts';
import { tailEmbeddedLog } from '../embedded-log-reader.ts';
import type { EmbeddedLogEntry, EmbeddedLogReader, LogPosition } from '../embedded-log-reader.ts';
import { familyOf } from '../events/validate.ts';
import { listSegments, SegmentScanner, segmentFileName } from '../log-format.ts';
import { ConsumerPositionStore } from './consumer-position-store.ts';
import { EventChecker } from './event-checker.ts';
import { resolveFamilies } from './families.ts';
import { handleWithRetry } from './retry-handler.ts';
import { RunGuard } from './run-guard.ts';
import type { SourcedEvent, TelemetrySource, TelemetrySourceRunOptions, TelemetrySourceStats } from './telemetry-source.ts';

/** Options of {@link EmbeddedTelemetrySource}. */
export interface EmbeddedTelemetrySourceOptions {
  /** The log directory (conventionally `<dataDir>/telemetry`, where `EmbeddedLogSink` writes). */
  readonly dir: string;
  /**
   * The consumer's name: its committed position is kept in `<dir>/consumers/<name>.json` and a
   * later source of the same name resumes from it. Without a name nothing is persisted (only
   * later runs of this same object resume). One live source per name.
   */
  readonly name?: string;
  /** Where a consumer with no committed position starts: the oldest event (`true`) or the end of the log (default). */
  readonly fromBeginning?: boolean;
  /** Most events per handler call (default 1000). */
  readonly maxBatchEvents?: number;
  /** How long a batch waits to fill once it holds an event (default 5 ms). */
  readonly lingerMs?: number;
  /** How often to look for appends once caught up (default 100 ms). */
  readonly pollIntervalMs?: number;
  /** Where invalid events, damage and handler failures are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
}

const schema = z.strictObject({
  dir: z.string().min(1),
  name: z.string().min(1).optional(),
  fromBeginning: z.boolean().default(false),
  maxBatchEvents: z.number().int().min(1).max(1_000_000).default(1000),
  lingerMs: z.number().int().min(0).max(60_000).default(5),
  pollIntervalMs: z.number().int().min(1).max(60_000).default(100),
  logger: loggerOption,
});

const LINGER_EXPIRED = Symbol('linger');

/**
 * A {@link TelemetrySource} over the embedded log: tails `dir` (polling, following segment
 * rotation) and hands batches of valid events to the handler; after the handler resolves, the
 * position just past the batch is committed (to `<dir>/consumers/<name>.json`, atomically, when
 * the source is named). Records that fail the schemas, and checksummed records that are not events
 * at all, are counted in `invalid`; damaged segments are skipped with a warning (see the reader).
 */
export class EmbeddedTelemetrySource implements TelemetrySource {
  readonly #o: z.output<typeof schema>;
  readonly #logger: Logger;
  readonly #store: ConsumerPositionStore | undefined;
  readonly #checker: EventChecker;
  readonly #guard = new RunGuard('EmbeddedTelemetrySource');
  /** The committed position of this object (also the persisted one when named); undefined before the first commit. */
  #position: LogPosition | undefined;
  #loaded = false;
  #received = 0;
  #committed = 0;

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options or consumer name */
  constructor(options: EmbeddedTelemetrySourceOptions) {
    const parsed = schema.safeParse(options);
    if (!parsed.success) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `invalid EmbeddedTelemetrySource options: ${z.prettifyError(parsed.error)}`);
    }
    this.#o = parsed.data;
    this.#logger = parsed.data.logger ?? createLogger('warn');
    this.#store = parsed.data.name === undefined ? undefined : new ConsumerPositionStore(parsed.data.dir, parsed.data.name);
    this.#checker = new EventChecker(this.#logger, `embedded:${parsed.data.dir}`);
  }

  /** The committed position (`segment:offset` of the next record to read), or undefined before any commit. */
  get position(): string | undefined {
    return this.#position === undefined ? undefined : `${this.#position.segment}:${this.#position.offset}`;
  }

  async run(handle: (batch: readonly SourcedEvent[]) => Promise<void>, options: TelemetrySourceRunOptions): Promise<void> {
    const families = resolveFamilies(options.families);
    const signal = this.#guard.begin(options.signal);
    try {
      const from = await this.#startPosition();
      if (signal.aborted) return;
      const reader = tailEmbeddedLog(this.#o.dir, {
        signal,
        pollIntervalMs: this.#o.pollIntervalMs,
        ...(from === undefined ? {} : { from }),
      });
      await this.#consume(reader, handle, families, signal);
    } catch (err) {
      throw toSyncPilotError(err, 'SP_ERR_TELEMETRY');
    } finally {
      this.#guard.end();
    }
  }

  stats(): TelemetrySourceStats {
    return { received: this.#received, invalid: this.#checker.invalid, duplicates: 0, committed: this.#committed };
  }

  async close(): Promise<void> {
    await this.#guard.close();
  }

  async #consume(
    reader: EmbeddedLogReader,
    handle: (batch: readonly SourcedEvent[]) => Promise<void>,
    families: ReadonlySet<string> | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const it = reader[Symbol.asyncIterator]();
    let pending = it.next();
    let warningsSeen = 0;
    try {
      for (;;) {
        const first = await pending;
        if (first.done === true) return;
        pending = it.next();
        const entries: EmbeddedLogEntry[] = [first.value];
        let ended = false;
        // Fill the batch with what is readable now; stop at the size limit or after lingerMs.
        let timer: NodeJS.Timeout | undefined;
        const linger = new Promise<typeof LINGER_EXPIRED>((resolve) => (timer = setTimeout(resolve, this.#o.lingerMs, LINGER_EXPIRED)));
        try {
          while (entries.length < this.#o.maxBatchEvents) {
            const r = await Promise.race([pending, linger]);
            if (r === LINGER_EXPIRED) break;
            if (r.done === true) {
              ended = true;
              break;
            }
            entries.push(r.value);
            pending = it.next();
          }
        } finally {
          clearTimeout(timer);
        }
        warningsSeen = this.#noteWarnings(reader, warningsSeen);
        const batch: SourcedEvent[] = [];
        for (const e of entries) {
          if (families !== undefined && !families.has(familyOf(e.event.type) ?? '')) continue;
          this.#received++;
          const position = `${e.position.segment}:${e.position.offset}`;
          const event = this.#checker.check(e.event, position);
          if (event !== undefined) batch.push({ event, position });
        }
        if (batch.length > 0 && !(await handleWithRetry(handle, batch, signal, this.#logger, 'embedded'))) return;
        const last = entries[entries.length - 1];
        if (last !== undefined) await this.#commit(last.next, batch.length);
        if (ended || signal.aborted) return;
      }
    } finally {
      // Ends the generator (closing its segment file) once any pending read settles.
      void pending.then(() => it.return?.()).catch(() => undefined);
    }
  }

  /** Counts records the reader skipped as not events, logs damage once per place. */
  #noteWarnings(reader: EmbeddedLogReader, seen: number): number {
    const { warnings } = reader.report();
    for (let i = seen; i < warnings.length; i++) {
      const w = warnings[i];
      if (w === undefined) continue;
      const where = `${w.position.segment}:${w.position.offset}`;
      if (w.kind === 'invalid-record') {
        this.#received++;
        this.#checker.fail('(not an event)', where, w.reason);
      } else
        this.#logger.warn('telemetry source skipped damaged log data', {
          code: 'SP_ERR_STORE_CORRUPT',
          kind: w.kind,
          position: where,
          reason: w.reason,
        });
    }
    return warnings.length;
  }

  async #commit(next: LogPosition, events: number): Promise<void> {
    await this.#store?.save(next);
    this.#position = next;
    this.#committed += events;
  }

  async #startPosition(): Promise<LogPosition | undefined> {
    if (!this.#loaded) {
      this.#position = await this.#store?.load();
      this.#loaded = true;
    }
    if (this.#position !== undefined) return this.#position;
    if (this.#o.fromBeginning) return undefined;
    // Start at the end: just past the last complete record of the newest segment.
    const end = await endOfLog(this.#o.dir);
    // Remember it so that a later run of this object (or a restart, once committed) does not skip ahead again.
    this.#position = end;
    return end;
  }
}

/** Just past the last complete record of the newest segment, or undefined for an empty log. */
async function endOfLog(dir: string): Promise<LogPosition | undefined> {
  const last = (await listSegments(dir)).at(-1);
  if (last === undefined) return undefined;
  let fh;
  try {
    fh = await open(join(dir, segmentFileName(last)), 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const scanner = new SegmentScanner(fh, (await fh.stat()).size, 0);
    let offset = 0;
    for (;;) {
      const step = await scanner.next();
      if (step.kind !== 'record') return { segment: last, offset };
      offset = step.next;
    }
  } finally {
    await fh.close();
  }
}

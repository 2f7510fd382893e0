import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../core/logger.ts';
import { loggerOption } from '../../telemetry/option-schemas.ts';
import { POLICIES, type Policy } from '../policy.ts';
import { writeFileAtomic } from './atomic-file.ts';
import type { PromotionNotice } from './promotion-bus.ts';
import { parseBusOptions, PromotionBusBase } from './promotion-bus-base.ts';

/** The file, in each policy's registry directory, that holds the policy's latest promotion notice. */
export const NOTICE_FILE = 'promotion.json';

/** Options of {@link FileWatchBus}. */
export interface FileWatchBusOptions {
  /** The registry root: notices live in `<root>/<policy>/promotion.json`. */
  readonly root: string;
  /**
   * How often the notice files are checked besides `fs.watch` (default 250 ms): the fallback
   * where change events are not delivered (some network and container filesystems).
   */
  readonly pollIntervalMs?: number;
  /** Use `fs.watch` (default true); `false` relies on polling alone. */
  readonly watch?: boolean;
  /** Where malformed notices and failing handlers are reported (default: JSON lines on stderr, level warn). */
  readonly logger?: Logger;
}

const optionsSchema = z.strictObject({
  root: z.string().min(1),
  pollIntervalMs: z.number().int().min(10).max(60_000).default(250),
  watch: z.boolean().default(true),
  logger: loggerOption,
});

interface Watched {
  readonly policy: Policy;
  readonly dir: string;
  readonly file: string;
  signature: string | null;
  content: string | null;
  watcher: FSWatcher | undefined;
  running: boolean;
  again: boolean;
}

/**
 * The embedded default {@link ObservablePromotionBus}, for every process on one machine (or a
 * shared filesystem): `publish` replaces the policy's notice file atomically (tmp + rename),
 * and subscribers notice the change through `fs.watch` on the policy directories, with a
 * polling fallback. The file holds the latest notice only, so notices of one policy published
 * faster than a subscriber reads them coalesce into the last one; since a notice carries the
 * whole serving state, the subscriber still converges. A new subscriber does not receive the
 * notice already in the file (like reading from the latest offset). Once something subscribed,
 * the bus keeps the process alive until {@link close}.
 */
export class FileWatchBus extends PromotionBusBase {
  readonly #o: z.output<typeof optionsSchema>;
  readonly #watched: Watched[];
  #timer: NodeJS.Timeout | undefined;

  /** @throws SyncPilotError `SP_ERR_CONFIG_INVALID` for bad options */
  constructor(options: FileWatchBusOptions) {
    const o = parseBusOptions(optionsSchema, options, 'FileWatchBus');
    super(`the registry directory ${o.root}`, `file:${o.root}`, o.logger);
    this.#o = o;
    this.#watched = POLICIES.map((policy) => {
      const dir = join(o.root, policy);
      return {
        policy,
        dir,
        file: join(dir, NOTICE_FILE),
        signature: null,
        content: null,
        watcher: undefined,
        running: false,
        again: false,
      };
    });
  }

  protected async send(notice: PromotionNotice, text: string): Promise<void> {
    const dir = join(this.#o.root, notice.policy);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, NOTICE_FILE), `${text}\n`);
  }

  protected async shutdown(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.ready().catch(() => undefined);
    for (const w of this.#watched) this.#unwatch(w);
  }

  protected async listen(): Promise<void> {
    for (const w of this.#watched) this.#watch(w);
    // The notices already there are the baseline, not news.
    await Promise.all(this.#watched.map((w) => this.#check(w, true)));
    if (this.closed) return;
    // Like a Redis or Kafka subscription's socket, a listening bus keeps the process alive until closed.
    this.#timer = setInterval(() => this.#poll(), this.#o.pollIntervalMs);
  }

  #poll(): void {
    for (const w of this.#watched) {
      // A policy directory created after we started (its first registration) gets its watcher now.
      if (w.watcher === undefined) this.#watch(w);
      void this.#check(w, false);
    }
  }

  #watch(w: Watched): void {
    if (!this.#o.watch || this.closed) return;
    try {
      const watcher = watch(w.dir, (_event, filename) => {
        if (filename === null || filename === NOTICE_FILE) void this.#check(w, false);
      });
      watcher.on('error', () => this.#unwatch(w));
      w.watcher = watcher;
    } catch {
      // No directory yet, or no inotify watches left: polling covers it.
    }
  }

  #unwatch(w: Watched): void {
    w.watcher?.close();
    w.watcher = undefined;
  }

  /** Reads the notice file if it changed and delivers new content; one check per policy at a time, re-run if asked meanwhile. */
  async #check(w: Watched, baseline: boolean): Promise<void> {
    if (w.running) {
      w.again = true;
      return;
    }
    w.running = true;
    let silent = baseline;
    try {
      do {
        w.again = false;
        const text = await this.#readIfChanged(w);
        if (text !== undefined && text !== w.content) {
          w.content = text;
          if (!silent && text !== null && !this.closed) this.dispatcher.deliver(text);
        }
        silent = false;
      } while (w.again && !this.closed);
    } finally {
      w.running = false;
    }
  }

  /** The file's text when its signature changed (`null`: it is gone), `undefined` when unchanged or unreadable. */
  async #readIfChanged(w: Watched): Promise<string | null | undefined> {
    try {
      const st = await stat(w.file);
      const signature = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
      if (signature === w.signature) return undefined;
      const text = await readFile(w.file, 'utf8');
      w.signature = signature;
      return text;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        w.signature = null;
        return null;
      }
      return undefined;
    }
  }
}

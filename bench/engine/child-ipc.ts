import { fork, type ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { fullGc } from './stats.ts';

/** Memory of a child process in bytes: `process.memoryUsage()` after a full GC, plus the peak RSS seen. */
export interface MemorySample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Highest RSS sampled every 50 ms since the last `resetPeak` (without GC: what the OS had to give). */
  readonly peakRss: number;
}

/** What `stats` returns: the child's own figures plus its event-loop delay since the last `resetPeak`. */
export interface ChildStats {
  readonly loopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly [key: string]: unknown;
}

/** Parent → child requests. */
type Request = { readonly id: number; readonly type: 'memory' | 'reset-peak' | 'stats' | 'close' };
/** Child → parent messages. */
type Reply =
  | { readonly type: 'ready'; readonly url: string }
  | { readonly type: 'reply'; readonly id: number; readonly value: unknown }
  | { readonly type: 'failed'; readonly message: string };

const PEAK_SAMPLE_MS = 50;

/**
 * Child side: announces `url`, then answers the parent's requests (memory after GC, peak RSS,
 * `stats()` with the event-loop delay, close) until told to close, then exits.
 */
export function serveParent(url: string, handlers: { stats?: () => object; close: () => Promise<void> }): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('this script runs as a forked child of bench/engine/run.ts');
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), PEAK_SAMPLE_MS);
  sampler.unref();
  // The server's own event-loop delay: synchronous work (SQLite commits, checkpoints, GC) shows up here.
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  process.on('message', (raw: Request) => {
    void (async () => {
      let value: unknown;
      switch (raw.type) {
        case 'memory': {
          await fullGc();
          const m = process.memoryUsage();
          peakRss = Math.max(peakRss, m.rss);
          value = {
            rss: m.rss,
            heapUsed: m.heapUsed,
            heapTotal: m.heapTotal,
            external: m.external,
            arrayBuffers: m.arrayBuffers,
            peakRss,
          } satisfies MemorySample;
          break;
        }
        case 'reset-peak':
          peakRss = process.memoryUsage.rss();
          loop.reset();
          break;
        case 'stats': {
          const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
          const loopDelayMs = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) };
          value = { ...(handlers.stats?.() ?? {}), loopDelayMs } satisfies ChildStats;
          break;
        }
        case 'close':
          clearInterval(sampler);
          await handlers.close();
          send({ type: 'reply', id: raw.id, value: null } satisfies Reply);
          process.disconnect();
          return;
      }
      send({ type: 'reply', id: raw.id, value } satisfies Reply);
    })();
  });
  send({ type: 'ready', url } satisfies Reply);
}

/** Child side: reports a start-up failure to the parent and exits. */
export function failToParent(err: unknown): never {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.send?.({ type: 'failed', message } satisfies Reply);
  process.exit(1);
}

/** Parent side of a benchmark child process (a server or a client fleet). */
export class ChildHandle {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (value: unknown) => void>();
  #next = 0;

  private constructor(child: ChildProcess, url: string) {
    this.#child = child;
    this.url = url;
    child.on('message', (m: Reply) => {
      if (m.type !== 'reply') return;
      this.#waiting.get(m.id)?.(m.value);
      this.#waiting.delete(m.id);
    });
  }

  /**
   * Forks `script` (a file of this folder) with tsx and --expose-gc, and resolves once it announced
   * its URL. Rejects with the child's error when it fails to start.
   */
  static async start(script: string, args: readonly string[]): Promise<ChildHandle> {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const child = fork(path, [...args], {
      // BENCH_CHILD_NODE_OPTIONS adds flags for profiling the children (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
      execArgv: ['--import', 'tsx', '--expose-gc', ...(process.env['BENCH_CHILD_NODE_OPTIONS']?.split(' ').filter(Boolean) ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`${script} exited (${String(code)}) before it was ready`));
      child.once('exit', onExit);
      child.on('message', (m: Reply) => {
        if (m.type === 'ready') {
          child.off('exit', onExit);
          resolve(m.url);
        } else if (m.type === 'failed') {
          child.off('exit', onExit);
          reject(new Error(`${script} failed to start: ${m.message}`));
        }
      });
    });
    return new ChildHandle(child, url);
  }

  #request(type: Request['type']): Promise<unknown> {
    const id = ++this.#next;
    return new Promise((resolve, reject) => {
      if (!this.#child.connected) {
        reject(new Error('the child process is gone'));
        return;
      }
      this.#waiting.set(id, resolve);
      this.#child.send({ id, type } satisfies Request);
    });
  }

  /** The child's memory after a full GC, with the peak RSS since the last reset. */
  async memory(): Promise<MemorySample> {
    return (await this.#request('memory')) as MemorySample;
  }

  async resetPeak(): Promise<void> {
    await this.#request('reset-peak');
  }

  /** The child's figures, with its event-loop delay since the last `resetPeak`. */
  async stats(): Promise<ChildStats> {
    return (await this.#request('stats')) as ChildStats;
  }

  /** Asks the child to close cleanly; kills it if it has not exited within 10 s. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#request('close').catch(() => undefined);
    await exited;
    clearTimeout(timer);
  }
}

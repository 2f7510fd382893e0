import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Runs SQLite WAL checkpoints on a worker thread with its own connection, so that the sync
 * server's event loop never waits for a checkpoint's page copies and fsync (with SQLite's
 * automatic checkpoint those run inside some unlucky commit, seen as multi-millisecond stalls in
 * the engine benchmark). PASSIVE checkpoints never block the writer. The writer connection keeps a
 * large automatic checkpoint threshold as a safety net in case this thread cannot keep up.
 */
export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  #closed = false;

  private constructor(worker: Worker) {
    this.#worker = worker;
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    // A checkpointer must never keep the process alive or take it down.
    worker.unref();
    worker.on('error', () => undefined);
  }

  /** Starts checkpointing the database file at `path` every `intervalMs`. */
  static start(path: string, intervalMs = 250): WalCheckpointer {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    // An eval'd CommonJS worker needs no TypeScript loader; the driver is passed by absolute path.
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const Database = require(workerData.driver);
      const db = new Database(workerData.path, { timeout: 1000 });
      const timer = setInterval(() => {
        try { db.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: try again next time */ }
      }, workerData.intervalMs);
      parentPort.on('message', () => { clearInterval(timer); try { db.close(); } catch {} parentPort.close(); });
    `;
    return new WalCheckpointer(new Worker(source, { eval: true, workerData: { driver, path, intervalMs } }));
  }

  /** Stops the thread; the promise resolves once it has closed its connection and exited. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      // Held open until it exits, so that whoever awaits the exit is not left with an empty event loop.
      this.#worker.ref();
      this.#worker.postMessage('close');
    }
    return this.#exited;
  }
}

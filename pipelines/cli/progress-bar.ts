import type { TrainProgress } from '../jobs/pipeline-deps.ts';

const WIDTH = 24;

/**
 * A one-line training progress bar on a terminal stream (redrawn in place with `\r`), or nothing
 * when the stream is not a terminal. `done` erases it so the report that follows starts clean.
 */
export class TrainProgressBar {
  readonly #out: NodeJS.WriteStream;
  readonly #label: string;
  readonly #enabled: boolean;
  #drawn = false;

  constructor(out: NodeJS.WriteStream, label: string, enabled = out.isTTY) {
    this.#out = out;
    this.#label = label;
    this.#enabled = enabled;
  }

  /** Shown before the first epoch, while the data is read and featurised. */
  start(): void {
    this.#draw(`${this.#label}  preparing data…`);
  }

  update(p: TrainProgress): void {
    const filled = Math.round((WIDTH * Math.min(p.epoch, p.epochs)) / Math.max(1, p.epochs));
    const bar = `${'█'.repeat(filled)}${'░'.repeat(WIDTH - filled)}`;
    const val = p.valLoss === undefined ? '' : `  val ${p.valLoss.toPrecision(3)}`;
    this.#draw(`${this.#label}  [${bar}] ${p.epoch}/${p.epochs}  loss ${p.loss.toPrecision(3)}${val}`);
  }

  done(): void {
    if (this.#drawn) this.#out.write('\r\x1b[K');
    this.#drawn = false;
  }

  #draw(line: string): void {
    if (!this.#enabled) return;
    const cols = this.#out.columns > 0 ? this.#out.columns - 1 : 100;
    this.#out.write(`\r\x1b[K${line.slice(0, cols)}`);
    this.#drawn = true;
  }
}

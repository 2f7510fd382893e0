import type { ModelCard } from '../src/ml/model-card.ts';
import type { TelemetryData } from './policies/compression/telemetry-dataset.ts';
import type { EpochProgress } from './trainer/train-dense.ts';

/** Options of `trainPolicy`. */
export interface TrainPolicyOptions {
  /**
   * Training data: for `compression`, a directory of sample files (default: the Canterbury corpus
   * at `<repo>/../shared/data/corpora/canterbury`) or a `.csv` / `.jsonl` dataset file.
   */
  readonly data?: string;
  /** The model directory to create (must not exist, or be empty); written atomically. */
  readonly outDir: string;
  /** Seeds the split, the initialisers and the shuffles; default 1. */
  readonly seed?: number;
  /** Most epochs (early stopping may end sooner); default the policy's. */
  readonly epochs?: number;
  readonly onProgress?: (p: EpochProgress) => void;
  /**
   * Rows made from telemetry labels (the pipeline's train job writes them), trained on beside
   * `data` in groups of their own, and counted in the card. Default none.
   */
  readonly telemetry?: TelemetryData;
}

/** What `trainPolicy` gives back: the exported model and its held-out figures. */
export interface TrainResult {
  readonly card: ModelCard;
  /** The model directory (`card.json` + `model.onnx`), ready for `ModelRegistry.register`. */
  readonly dir: string;
  /** The model on the held-out test split (the card's `metrics.test`). */
  readonly metrics: Record<string, number>;
  /** The policy's baseline heuristic on the same split (the card's `metrics.baseline`). */
  readonly baseline: Record<string, number>;
  /** Wall-clock milliseconds of each phase. */
  readonly timings: { readonly datasetMs: number; readonly trainMs: number; readonly exportMs: number; readonly totalMs: number };
}

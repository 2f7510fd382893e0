import type { LayersModel } from '@tensorflow/tfjs';
import { SyncPilotError } from '../../src/core/errors.ts';
import { networkInputs, networkOutputs, type DenseNetwork } from '../../src/ml/dense-network.ts';
import { parseModelCard, type ModelCard } from '../../src/ml/model-card.ts';
import { CARD_FILE, sha256Hex } from '../../src/ml/model-files.ts';
import { decodeOnnxModel } from '../../src/ml/onnx/decode-onnx.ts';
import { encodeOnnxModel } from '../../src/ml/onnx/encode-onnx.ts';
import { measureParity, PARITY_TOLERANCE, parityInputs } from './parity.ts';
import { writeModelDir } from './write-model-dir.ts';

/** The model file's name in an exported directory. */
export const MODEL_FILE = 'model.onnx';

/**
 * The card fields the trainer supplies; the exporter fills in `schema`, `file`, `io` and
 * `parity`, and defaults `version` to 0 (the registry assigns it) and `createdAt` to now.
 */
export type ExportCardFields = Omit<ModelCard, 'schema' | 'file' | 'io' | 'parity' | 'version' | 'createdAt'> & {
  readonly version?: number;
  readonly createdAt?: string;
  /** Graph input / output names; default `features` / `output`. */
  readonly io?: { readonly inputName?: string; readonly outputName?: string };
};

/** Arguments of {@link exportModel}. */
export interface ExportModelArgs {
  readonly network: DenseNetwork;
  /** The trained TF.js model `network` came from; when given, parity is measured and enforced. */
  readonly tfModel?: LayersModel;
  /** The directory to create (must not exist, or be empty). */
  readonly outDir: string;
  readonly card: ExportCardFields;
  /** Rows for the parity check; default 1000. Ignored when `parityInputs` is given. */
  readonly paritySamples?: number;
  /** Real feature rows (raw, packed row-major) to check parity on instead of seeded random ones. */
  readonly parityInputs?: Float32Array;
  /** Seed of the random parity rows; default 1. */
  readonly paritySeed?: number;
  /** Largest accepted |TF.js − onnxruntime|; default 1e-4. */
  readonly parityTolerance?: number;
  /** For `createdAt`; default `Date.now`. */
  readonly clock?: () => number;
}

/**
 * Exports a trained network as a model directory: `model.onnx` (see `encodeOnnxModel`) and
 * `card.json` (validated; file SHA-256 and size, io names and widths, parity filled in), written
 * atomically. The encoded bytes are decoded back before anything is written, and when `tfModel`
 * is given the same rows go through TF.js and onnxruntime-node (imported lazily) and must agree
 * within the tolerance — otherwise nothing is written.
 * @throws SyncPilotError `SP_ERR_MODEL_MISMATCH` when parity fails or the network is inconsistent;
 * `SP_ERR_MODEL_CORRUPT` for non-finite weights; `SP_ERR_MODEL_CARD_INVALID` when the card does
 * not validate; `SP_ERR_CONFIG_INVALID` when `outDir` exists and is not empty, or for bad io names
 */
export async function exportModel(args: ExportModelArgs): Promise<{ card: ModelCard; dir: string }> {
  const { network } = args;
  const { io, version, createdAt, ...fields } = args.card;
  const inputName = io?.inputName ?? 'features';
  const outputName = io?.outputName ?? 'output';
  const bytes = encodeOnnxModel(network, {
    inputName,
    outputName,
    producer: 'syncpilot',
    docString: `${fields.policy}/${fields.name}: ${fields.featureSchema.name} v${fields.featureSchema.version}`,
  });
  // Our own decoder is what the JS runtime uses: an export it cannot read back must not ship.
  decodeOnnxModel(bytes);

  let parity: ModelCard['parity'];
  if (args.tfModel !== undefined) {
    const rows = args.parityInputs === undefined ? (args.paritySamples ?? 1000) : args.parityInputs.length / networkInputs(network);
    if (!Number.isSafeInteger(rows) || rows < 1) {
      throw new SyncPilotError('SP_ERR_CONFIG_INVALID', `parity needs a whole, positive number of rows, got ${rows}`);
    }
    const inputs = args.parityInputs ?? parityInputs(network, rows, args.paritySeed ?? 1);
    parity = await measureParity({ tfModel: args.tfModel, network, onnx: bytes, inputName, outputName, inputs, rows });
    const tolerance = args.parityTolerance ?? PARITY_TOLERANCE;
    if (!(parity.maxAbsDiff <= tolerance)) {
      throw new SyncPilotError(
        'SP_ERR_MODEL_MISMATCH',
        `${fields.policy}/${fields.name}: TF.js and onnxruntime differ by up to ${parity.maxAbsDiff} on ${rows} rows (tolerance ${tolerance}); nothing written`,
        { details: { maxAbsDiff: parity.maxAbsDiff, samples: rows, tolerance } },
      );
    }
  }

  const card = parseModelCard({
    schema: 'syncpilot.model-card.v1',
    ...fields,
    version: version ?? 0,
    createdAt: createdAt ?? new Date((args.clock ?? Date.now)()).toISOString(),
    file: { name: MODEL_FILE, format: 'onnx', sha256: sha256Hex(bytes), bytes: bytes.byteLength },
    io: { inputName, outputName, inputs: networkInputs(network), outputs: networkOutputs(network) },
    ...(parity === undefined ? {} : { parity }),
  });
  const dir = await writeModelDir(args.outDir, [
    { name: MODEL_FILE, bytes },
    { name: CARD_FILE, bytes: new TextEncoder().encode(`${JSON.stringify(card, null, 2)}\n`) },
  ]);
  return { card, dir };
}

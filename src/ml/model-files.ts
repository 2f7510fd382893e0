import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { SyncPilotError } from '../core/errors.ts';
import { parseModelCard, type ModelCard } from './model-card.ts';

/** The card file's name inside a model directory. */
export const CARD_FILE = 'card.json';

/** A model directory's card and model bytes, checked against each other. */
export interface ModelFiles {
  readonly dir: string;
  readonly card: ModelCard;
  readonly bytes: Uint8Array;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Reads `card.json` and the model file it names from `dir`, and verifies the file's size and
 * SHA-256 against the card before anything decodes it.
 * @throws SyncPilotError `SP_ERR_MODEL_NOT_FOUND` (no card or model file),
 * `SP_ERR_MODEL_CARD_INVALID`, `SP_ERR_MODEL_CORRUPT` (truncated, or checksum differs)
 */
export async function readModelFiles(dir: string): Promise<ModelFiles> {
  const cardText = await readOrNotFound(join(dir, CARD_FILE));
  const card = parseModelCard(cardText.toString('utf8'));
  if (basename(card.file.name) !== card.file.name) {
    throw new SyncPilotError('SP_ERR_MODEL_CARD_INVALID', `model card names a file outside its directory: ${card.file.name}`);
  }
  const bytes = await readOrNotFound(join(dir, card.file.name));
  verifyModelBytes(bytes, card);
  return { dir, card, bytes };
}

/**
 * @throws SyncPilotError `SP_ERR_MODEL_CORRUPT` when size or SHA-256 differ from the card
 */
export function verifyModelBytes(bytes: Uint8Array, card: ModelCard): void {
  if (bytes.byteLength !== card.file.bytes) {
    throw new SyncPilotError(
      'SP_ERR_MODEL_CORRUPT',
      `${card.policy}/${card.name} v${card.version}: model file has ${bytes.byteLength} bytes, card says ${card.file.bytes} (truncated or replaced)`,
    );
  }
  const actual = sha256Hex(bytes);
  if (actual !== card.file.sha256) {
    throw new SyncPilotError(
      'SP_ERR_MODEL_CORRUPT',
      `${card.policy}/${card.name} v${card.version}: model file SHA-256 ${actual} differs from the card's ${card.file.sha256}`,
    );
  }
}

async function readOrNotFound(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new SyncPilotError('SP_ERR_MODEL_NOT_FOUND', `missing ${path}`, { cause: err });
    }
    throw new SyncPilotError('SP_ERR_MODEL_CORRUPT', `cannot read ${path}`, { cause: err });
  }
}

import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** A place in a spool: a segment (its first sequence number) and a byte offset in it. */
export interface SpoolPosition {
  readonly segment: number;
  readonly offset: number;
}

/** The file holding the replay position: every record before it is acknowledged by the broker. */
export const POSITION_FILE_NAME = 'REPLAY';

const positionSchema = z.strictObject({
  v: z.literal(1),
  segment: z.number().int().min(1),
  offset: z.number().int().min(0),
});

/** `a` before `b`: negative; same place: 0. Positions compare by segment, then offset. */
export function comparePositions(a: SpoolPosition, b: SpoolPosition): number {
  return a.segment - b.segment || a.offset - b.offset;
}

/**
 * Reads the persisted replay position. A missing file is `undefined` (nothing acknowledged yet);
 * so is a damaged one — replaying from the start only re-sends (at-least-once), while trusting a
 * garbled position could skip unsent events.
 */
export async function readSpoolPosition(dir: string): Promise<{ position: SpoolPosition | undefined; damaged: boolean }> {
  let text: string;
  try {
    text = await readFile(join(dir, POSITION_FILE_NAME), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { position: undefined, damaged: false };
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { position: undefined, damaged: true };
  }
  const parsed = positionSchema.safeParse(value);
  if (!parsed.success) return { position: undefined, damaged: true };
  return { position: { segment: parsed.data.segment, offset: parsed.data.offset }, damaged: false };
}

/**
 * Replaces the replay position atomically (write a temporary file, rename over). Not fsync'd: a
 * position lost to a power cut falls back to an older one, which re-sends a little more.
 */
export async function writeSpoolPosition(dir: string, position: SpoolPosition): Promise<void> {
  const tmp = join(dir, `${POSITION_FILE_NAME}.tmp`);
  await writeFile(tmp, JSON.stringify({ v: 1, segment: position.segment, offset: position.offset }));
  await rename(tmp, join(dir, POSITION_FILE_NAME));
}

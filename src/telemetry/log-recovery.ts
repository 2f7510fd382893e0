import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/logger.ts';
import { listSegments, SegmentScanner, segmentFileName } from './log-format.ts';

/** Where a writer reopening a log directory resumes. */
export interface LogTailState {
  /** First sequence number of the segment to append to; undefined when a new one must be started. */
  readonly appendSegment: number | undefined;
  /** Bytes already in `appendSegment` (after any truncation). */
  readonly appendSize: number;
  /** Sequence number the next record written gets. */
  readonly nextSeq: number;
  /** Bytes of a torn tail cut off the last segment (0 if none). */
  readonly truncatedBytes: number;
  /** A last segment left alone because of mid-segment damage (appends go to a new segment). */
  readonly abandonedSegment: number | undefined;
}

/**
 * Scans the last segment of `dir` and makes it safe to append to: a torn tail (an append cut
 * short by a crash) is truncated away and fsync'd. Mid-segment damage is not truncated — the bytes
 * after it may be real records — so appends go to a new segment instead; readers skip the
 * damaged rest with a warning either way. Sequence numbers may then skip, which only affects
 * segment names.
 */
export async function recoverLogTail(dir: string, logger: Logger): Promise<LogTailState> {
  const segments = await listSegments(dir);
  const last = segments.at(-1);
  if (last === undefined) {
    return { appendSegment: undefined, appendSize: 0, nextSeq: 1, truncatedBytes: 0, abandonedSegment: undefined };
  }
  const path = join(dir, segmentFileName(last));
  const fh = await open(path, 'r+');
  try {
    const size = (await fh.stat()).size;
    const scanner = new SegmentScanner(fh, size, 0);
    let count = 0;
    for (;;) {
      const step = await scanner.next();
      switch (step.kind) {
        case 'record':
          count++;
          continue;
        case 'end':
          return { appendSegment: last, appendSize: size, nextSeq: last + count, truncatedBytes: 0, abandonedSegment: undefined };
        case 'torn':
          await fh.truncate(step.offset);
          await fh.sync();
          logger.warn('telemetry log: truncated a torn tail left by an interrupted append', {
            segment: segmentFileName(last),
            offset: step.offset,
            bytes: step.bytes,
            reason: step.reason,
          });
          return {
            appendSegment: last,
            appendSize: step.offset,
            nextSeq: last + count,
            truncatedBytes: step.bytes,
            abandonedSegment: undefined,
          };
        case 'corrupt':
          logger.warn('telemetry log: last segment is damaged mid-segment; appending to a new segment', {
            segment: segmentFileName(last),
            offset: step.offset,
            reason: step.reason,
          });
          return {
            appendSegment: undefined,
            appendSize: 0,
            nextSeq: last + Math.max(count, 1),
            truncatedBytes: 0,
            abandonedSegment: last,
          };
      }
    }
  } finally {
    await fh.close();
  }
}

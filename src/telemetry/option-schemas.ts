import { z } from 'zod';
import type { Logger } from '../core/logger.ts';

/** A `Logger` passed in options (checked by shape: it is an object with `warn` and `error`). */
export const loggerOption = z.custom<Logger>((v) => typeof v === 'object' && v !== null && 'warn' in v && 'error' in v).optional();

/** The size at which a log or spool segment rotates: 256 B .. 1 GiB, default 16 MiB. */
export const segmentBytesOption = z
  .number()
  .int()
  .min(256)
  .max(1024 * 1024 * 1024)
  .default(16 * 1024 * 1024);

import { DEFAULT_BROTLI_QUALITY } from '../../../src/engine/protocol/compression.ts';
import { COMPRESSION_SIZE_FEATURE_NAMES, COMPRESSION_SIZE_FEATURES, FEATURE_SCHEMA } from '../../../src/ml/features/compression-size.ts';
import type { SyncPilotEvent } from '../../../src/telemetry/events/schemas.ts';
import type { TelemetryRow } from '../../dataset/telemetry-reader.ts';
import { DEFAULT_SIZE_TARGET, SIZE_TARGET_NAME, type SizeTarget } from './size-target.ts';

/**
 * Why a label event made no training row, in the order the checks run:
 * - `decision`: not a `compress` decision (raw / batch outcomes say nothing about a codec's size);
 * - `codec`, `level`: compressed with another codec or level than the model predicts;
 * - `featureSchema`: no feature vector, or one of another feature function or version;
 * - `featureCount`: the vector's length is not the schema's;
 * - `payload`: the vector's length feature does not describe a payload of `rawBytes` bytes;
 * - `size`: `rawBytes` or `encodedBytes` is 0 (no ratio).
 */
export const LABEL_SKIP_REASONS = ['decision', 'codec', 'level', 'featureSchema', 'featureCount', 'payload', 'size'] as const;
export type LabelSkipReason = (typeof LABEL_SKIP_REASONS)[number];

/** A label event's row, or why it has none. */
export type LabelRowResult = { readonly row: TelemetryRow } | { readonly skip: LabelSkipReason };

/**
 * How a policy's label events become training rows: the families to read, the dataset's column
 * names, and the mapping. The pipeline reads telemetry with it and writes the rows as a dataset
 * file with these columns (plus `group`); the trainer reads that file back with the same names.
 */
export interface LabelRowMapper {
  readonly families: readonly string[];
  readonly featureNames: readonly string[];
  readonly targetNames: readonly string[];
  /** Pure; never throws for an event it does not use. */
  map(event: SyncPilotEvent): LabelRowResult;
}

/** Prefix of every telemetry row's group, so no group can equal a corpus file's name. */
export const TELEMETRY_GROUP_PREFIX = 'telemetry:';

/** `log2Length` is float32 of log2(n + 1): equal to this within float32 rounding for the same n. */
const LENGTH_TOLERANCE = 1e-4;

/**
 * Maps a `syncpilot.compression.v1` event to a size-regressor row: `x` = its `features` (under
 * {@link FEATURE_SCHEMA}, exactly {@link COMPRESSION_SIZE_FEATURES} of them), `y` =
 * `encodedBytes / rawBytes`, the model's target (see `size-target.ts`). Only `compress` outcomes
 * with the target's codec and level count: an event without `level` used the engine's default for
 * its codec. The group is the event's document, else its peer (`telemetry:<tenant>/doc:<id>`):
 * messages of one document are alike, so a grouped split keeps them on one side.
 */
export function compressionLabelRow(event: SyncPilotEvent, target: SizeTarget = DEFAULT_SIZE_TARGET): LabelRowResult {
  if (event.type !== 'syncpilot.compression.v1' || event.data.decision !== 'compress') return { skip: 'decision' };
  const d = event.data;
  if (d.codec !== target.codec) return { skip: 'codec' };
  if (effectiveLevel(d.codec, d.level) !== effectiveLevel(target.codec, target.level)) return { skip: 'level' };
  const schema = d.featureSchema;
  if (d.features === undefined || schema?.name !== FEATURE_SCHEMA.name || schema.version !== FEATURE_SCHEMA.version) {
    return { skip: 'featureSchema' };
  }
  if (d.features.length !== COMPRESSION_SIZE_FEATURES) return { skip: 'featureCount' };
  if (d.rawBytes === 0 || d.encodedBytes === 0) return { skip: 'size' };
  if (Math.abs((d.features[0] ?? NaN) - Math.log2(d.rawBytes + 1)) > LENGTH_TOLERANCE) return { skip: 'payload' };
  const group = d.doc === undefined ? `peer:${d.peer}` : `doc:${d.doc}`;
  return { row: { x: d.features, y: [d.encodedBytes / d.rawBytes], group: `${TELEMETRY_GROUP_PREFIX}${event.tenant}/${group}` } };
}

/** The compression policy's {@link LabelRowMapper}: `compression` events → size-regressor rows. */
export const COMPRESSION_LABEL_ROWS: LabelRowMapper = {
  families: ['compression'],
  featureNames: COMPRESSION_SIZE_FEATURE_NAMES,
  targetNames: [SIZE_TARGET_NAME],
  map: (event) => compressionLabelRow(event),
};

/** The level `compressPayload` really uses: brotli's default is the engine's quality; zlib's -1 (its default) is 6. */
function effectiveLevel(codec: string, level: number | undefined): number {
  if (codec === 'brotli') return level ?? DEFAULT_BROTLI_QUALITY;
  return level === undefined || level === -1 ? 6 : level;
}

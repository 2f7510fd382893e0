/**
 * Dataset readers: numeric CSV / JSON-lines files, and telemetry through a `TelemetrySource`.
 */
export { readCsvDataset, readDatasetFile, readJsonlDataset, writeJsonlDataset } from './file-readers.ts';
export type { DatasetColumns } from './file-readers.ts';
export { readTelemetryDataset } from './telemetry-reader.ts';
export type { TelemetryDatasetOptions, TelemetryDatasetResult, TelemetryRow } from './telemetry-reader.ts';

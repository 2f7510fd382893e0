/** The telemetry sinks and their tools. The core knows only the `TelemetrySink` interface. */
export { EmbeddedLogSink } from './embedded-log-sink.ts';
export type { EmbeddedLogSinkOptions, EmbeddedLogSinkStats } from './embedded-log-sink.ts';
export { EmbeddedLogReader, readEmbeddedLog, tailEmbeddedLog } from './embedded-log-reader.ts';
export type {
  EmbeddedLogEntry,
  EmbeddedLogReport,
  LogPosition,
  LogWarning,
  ReadEmbeddedLogOptions,
  TailEmbeddedLogOptions,
} from './embedded-log-reader.ts';
export { segmentFileName, listSegments, MAX_RECORD_PAYLOAD_BYTES } from './log-format.ts';

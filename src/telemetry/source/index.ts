/**
 * Telemetry sources: events read back from Kafka topics or the embedded log, for pipelines and
 * `syncpilot telemetry tail`. Importing this loads no kafkajs: `KafkaTelemetrySource.run` does.
 */
export type { SourcedEvent, TelemetrySource, TelemetrySourceRunOptions, TelemetrySourceStats } from './telemetry-source.ts';
export { KafkaTelemetrySource } from './kafka-telemetry-source.ts';
export type { KafkaTelemetrySourceOptions } from './kafka-telemetry-source.ts';
export { EmbeddedTelemetrySource } from './embedded-telemetry-source.ts';
export type { EmbeddedTelemetrySourceOptions } from './embedded-telemetry-source.ts';
export { ConsumerPositionStore } from './consumer-position-store.ts';
export { Deduper, dedupe } from './deduper.ts';
export type { DeduperOptions } from './deduper.ts';
export { KNOWN_FAMILIES, resolveFamilies, topicMatcher } from './families.ts';

/** The Kafka telemetry sink. Importing this loads no kafkajs: `KafkaSink.open` does, lazily. */
export { KafkaSink } from './kafka-sink.ts';
export type { KafkaSinkOptions, KafkaSinkStats } from './kafka-sink-options.ts';
export { KafkaJsTransport } from './kafkajs-transport.ts';
export type { KafkaJsTransportOptions } from './kafkajs-transport.ts';
export type { KafkaTransport, OutboundRecord } from './transport.ts';
export { KAFKAJS_INSTALL_HINT, loadKafkaJs } from './load-kafkajs.ts';
export { decodeTelemetryMessage, encodeEventBatch, EVENT_BATCH_V1, TELEMETRY_FORMAT_HEADER } from './event-batch-format.ts';
export type { DecodedEntry, DecodedMessage } from './event-batch-format.ts';

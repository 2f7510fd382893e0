/**
 * syncpilot's public API. The client alone (for browsers) is `syncpilot/client`.
 */
export { ERROR_CODES, SyncPilotError, isErrorCode, toSyncPilotError, type ErrorCode } from './core/errors.ts';
export { parseServerConfig, serverConfigSchema, type ServerConfig, type ServerConfigInput, type AuthConfig } from './core/config.ts';
export {
  Pipeline,
  type PipelineOptions,
  type PipelineOutcome,
  type HoldStore,
  type HeldMessage,
  type StageStats,
} from './core/pipeline.ts';
export type {
  Authenticator,
  Envelope,
  MessageKind,
  Phase,
  Principal,
  Reply,
  Stage,
  StageContext,
  StageKind,
  StageResult,
} from './core/stage.ts';
export { NullTelemetrySink, newEventId, type TelemetryEvent, type TelemetrySink, type TelemetryStats } from './core/telemetry.ts';
export { createLogger, silentLogger, type Logger, type LogLevel } from './core/logger.ts';
export { systemClock, type Clock } from './core/clock.ts';
export { actorId, docId, peerId, isValidId, type ActorId, type DocId, type PeerId } from './core/ids.ts';
export { CrdtDoc, type Transaction } from './engine/crdt/crdt-doc.ts';
export type { Change, Op, ObjId, Scalar, VersionVector, ConflictNotice, MapValue, ApplyResult } from './engine/crdt/types.ts';
export { SyncServer, type SyncServerOptions, type ServerStats } from './engine/server/sync-server.ts';
export type { EngineEnvelope } from './engine/server/envelope.ts';
export { SqliteDocStore } from './engine/store/sqlite-store.ts';
export { MemoryDocStore } from './engine/store/memory-store.ts';
export type { DocStore, ChangeCodec, Snapshot } from './engine/store/types.ts';
export { binaryChangeCodec } from './engine/protocol/change-codec.ts';
export { SyncClient, ClientDoc, type SyncClientOptions } from './engine/client/index.ts';
export { EmbeddedLogSink } from './telemetry/embedded-log-sink.ts';
export { createAuthzStage, createJwtVerifier, createVerifier, createAllowAllVerifier, canRead, canWrite } from './auth/index.ts';
export { startEmbeddedStack, type EmbeddedStack, type StackContext, type StackOptions, type StageFactory } from './cli/embedded-stack.ts';
export { ModelServing, type ModelServingOptions, type PolicyServing } from './cli/model-serving.ts';
export { parseModelServingConfig, type ModelServingConfig } from './cli/model-serving-config.ts';
export { POLICIES, isPolicy, type Policy } from './ml/policy.ts';
export type { DenseNetwork, DenseLayer, Activation } from './ml/dense-network.ts';
export { modelCardSchema, parseModelCard, type ModelCard } from './ml/model-card.ts';
export { readModelFiles, verifyModelBytes, type ModelFiles } from './ml/model-files.ts';
export type { ModelRuntime, LoadedModel, RuntimeName } from './ml/model-runtime.ts';
export { createOnnxRuntime, type OnnxRuntimeOptions } from './ml/runtime/onnx-runtime.ts';
export { createJsRuntime, loadNetwork } from './ml/runtime/js-runtime.ts';
export { createAutoRuntime, type AutoRuntimeOptions } from './ml/runtime/auto-runtime.ts';
export { loadVerifiedModel, type ModelExpectations } from './ml/runtime/load-verified-model.ts';
export { Predictor, type PredictorOptions, type Prediction, type ModelTag } from './ml/predictor.ts';
export { ModelHost, type ModelHostOptions, type HostedPredictorOptions } from './ml/model-host.ts';
export {
  ModelRegistry,
  defaultRegistryRoot,
  checkPromotionGate,
  FileWatchBus,
  RedisPromotionBus,
  KafkaPromotionBus,
  type PromotionBus,
  type PromotionNotice,
  type PromotionResult,
  type PolicyState,
  type RegistryReader,
} from './ml/registry/index.ts';

export { ModelRegistry, defaultRegistryRoot, type ModelRegistryOptions } from './model-registry.ts';
export type { PolicySummary, PromotionResult, RegistryReader } from './registry-reader.ts';
export type { HistoryAction, HistoryEntry, PolicyState } from './registry-state.ts';
export { checkPromotionGate, type GateOutcome } from './promotion-gate.ts';
export {
  promotionNoticeSchema,
  type ObservablePromotionBus,
  type PromotionBus,
  type PromotionBusStats,
  type PromotionHandler,
  type PromotionNotice,
} from './promotion-bus.ts';
export { FileWatchBus, NOTICE_FILE, type FileWatchBusOptions } from './file-watch-bus.ts';
export { RedisPromotionBus, type RedisPromotionBusOptions } from './redis-bus.ts';
export { KafkaPromotionBus, type KafkaPromotionBusOptions } from './kafka-bus.ts';

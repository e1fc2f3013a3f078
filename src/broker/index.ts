// The broker's public surface: all that api/ and the composition root may
// import from broker/ (scripts/check-cycles.mjs enforces it). What is not
// exported here is the broker's own business and may change freely.
export {
  Broker,
  type BrokerLogger,
  type BrokerOptions,
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  type PushBatchResult,
  type PushInput,
  type PushResult,
  type QueueStatView,
  type StoredMessage,
  type TopicStatView,
  type TraceEvent,
  type DeliveryTarget,
} from "./broker.js";
export { TraceKind, type ConsumerKind } from "./trace.js";
export { systemClock, type Clock } from "./clock.js";
export * from "./errors.js";
export type { MessageState, MessageView, PeekState, PurgeCounts, PurgeTarget } from "./message-ops.js";
export type { RouteMode } from "./routing.js";
export { NO_STORAGE_STATS, type StorageStats } from "./storage.js";
export type { TopicConfig } from "./topic-config.js";

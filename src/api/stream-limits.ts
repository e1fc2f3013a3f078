// The limits and defaults every stream shares, whatever the protocol (gRPC
// or HTTP). The node's options among them (send buffer, credit, batch bytes,
// channels) are rows of src/config-table.ts; what is here is fixed.
import type { NodeConfig } from "../config.js";

/**
 * Credit of a Consume stream whose request leaves max_in_flight at 0: how
 * many messages may be in flight to it at once. The SDK sends 100 too.
 */
export const DEFAULT_MAX_IN_FLIGHT = 100;

/** Cap on the bytes of bodies per delivered batch when max_batch_bytes is 0. */
export const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;

/** Room left in a gRPC message for the fields around the bodies of a delivered batch. */
export const BATCH_FRAMING_BYTES = 64 * 1024;

/** Pushes awaiting durability on one PushStream before the node stops reading it (back-pressure). */
export const PUSH_STREAM_WINDOW = 4096;

/** Pushes one PushStream request may carry (PushStreamRequest.pushes); the SDK sends at most this many. */
export const MAX_PUSHES_PER_REQUEST = 1024;

/** Interval of the comment lines that keep an idle Server-Sent Events stream alive through proxies. */
export const SSE_HEARTBEAT_MS = 15_000;

/** Counts a request refused or cut by a limit, by the limit's option (gmq_limit_rejections_total{limit}). */
export type LimitRejected = (limit: keyof NodeConfig) => void;

/** The node's options the streams enforce, and where a rejection is counted. */
export interface StreamLimits
  extends Pick<NodeConfig, "maxStreamBufferBytes" | "maxConsumeInFlight" | "maxConsumeBatchBytes" | "maxSubscribeChannels" | "maxGrpcMessageBytes"> {
  rejected: LimitRejected;
}

/** The limits as configured, for tests and in-process servers that take the defaults. */
export function streamLimitsOf(config: StreamLimits | Omit<StreamLimits, "rejected">, rejected: LimitRejected = () => {}): StreamLimits {
  const { maxStreamBufferBytes, maxConsumeInFlight, maxConsumeBatchBytes, maxSubscribeChannels, maxGrpcMessageBytes } = config;
  return { maxStreamBufferBytes, maxConsumeInFlight, maxConsumeBatchBytes, maxSubscribeChannels, maxGrpcMessageBytes, rejected };
}

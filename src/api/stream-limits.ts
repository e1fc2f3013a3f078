// The limits and defaults every stream shares, whatever the protocol (gRPC
// or HTTP). Kept in one module so they cannot drift apart between adapters,
// and so they can move into the node's config table as options.

/**
 * Credit of a Consume stream whose request leaves max_in_flight at 0: how
 * many messages may be in flight to it at once. The SDK sends 100 too.
 */
export const DEFAULT_MAX_IN_FLIGHT = 100;

/** Cap on the bytes of bodies per delivered batch when max_batch_bytes is 0. */
export const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;

/**
 * Bytes of messages a subscriber may have waiting to be sent (the client
 * reads slower than messages are published). Past it the subscription ends
 * with RESOURCE_EXHAUSTED (SUBSCRIBER_TOO_SLOW) rather than growing the node's memory.
 */
export const MAX_SUBSCRIBER_BUFFER_BYTES = 8 * 1024 * 1024;

/** Pushes awaiting durability on one PushStream before the node stops reading it (back-pressure). */
export const PUSH_STREAM_WINDOW = 4096;

/** Interval of the comment lines that keep an idle Server-Sent Events stream alive through proxies. */
export const SSE_HEARTBEAT_MS = 15_000;

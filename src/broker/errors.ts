// The one error type of gmq. Every BrokerError has exactly one reason from a
// closed set; the reason decides the code (a closed set that mirrors the gRPC
// status codes we send). api/status.ts turns them into gRPC, HTTP and the
// original API's replies, one exhaustive function each; the reasons are also
// declared in the proto (gmq.v1.ErrorReason) and listed in the README.
// `message` is written for the caller; `cause` is for our logs only and is
// never sent to a client.

export const ErrorCode = {
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  NOT_FOUND: "NOT_FOUND",
  FAILED_PRECONDITION: "FAILED_PRECONDITION",
  RESOURCE_EXHAUSTED: "RESOURCE_EXHAUSTED",
  UNAVAILABLE: "UNAVAILABLE",
  CANCELLED: "CANCELLED",
  UNIMPLEMENTED: "UNIMPLEMENTED",
  UNAUTHENTICATED: "UNAUTHENTICATED",
  PERMISSION_DENIED: "PERMISSION_DENIED",
  INTERNAL: "INTERNAL",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Why a call failed, with the code it fails with. Clients branch on these
 * (e.g. QUEUE_EMPTY vs QUEUE_NOT_FOUND, both NOT_FOUND).
 */
export const REASON_CODES = {
  /** A field or parameter has a value out of range or malformed (names, keys, delays, limits, regex); the message names it. */
  INVALID_FIELD: ErrorCode.INVALID_ARGUMENT,
  /** The request cannot be read: not JSON, unknown field, wrong JSON type, bad percent-encoding, stream messages out of order. */
  MALFORMED_REQUEST: ErrorCode.INVALID_ARGUMENT,
  /** Subscribe: the request names more channels than --max-subscribe-channels. */
  TOO_MANY_CHANNELS: ErrorCode.INVALID_ARGUMENT,
  /** HTTP only: the path exists but not for this method (HTTP 405 with an Allow header; metadata "allow"). */
  METHOD_NOT_ALLOWED: ErrorCode.INVALID_ARGUMENT,
  /** HTTP only: a request body (outside the original API's routes) is not declared JSON (HTTP 415). */
  UNSUPPORTED_CONTENT_TYPE: ErrorCode.INVALID_ARGUMENT,
  /** Push, PushBatch, PushStream, Config: a priority or default_priority is outside 0..9; nothing was stored or changed. */
  PRIORITY_OUT_OF_RANGE: ErrorCode.INVALID_ARGUMENT,
  /** The topic does not exist on this node. */
  TOPIC_NOT_FOUND: ErrorCode.NOT_FOUND,
  /** The queue does not exist on this node (never declared, or deleted). */
  QUEUE_NOT_FOUND: ErrorCode.NOT_FOUND,
  /** Pop: no message of the queue became ready within wait_ms. */
  QUEUE_EMPTY: ErrorCode.NOT_FOUND,
  /** PopDead: the queue has no dead letters. */
  NO_DEAD_LETTERS: ErrorCode.NOT_FOUND,
  /** Ack, Nack, Touch: the id is not in flight in the queue (unknown, already settled, or its TTR passed). */
  NOT_IN_FLIGHT: ErrorCode.NOT_FOUND,
  /** HTTP only: no route for this path. */
  PATH_NOT_FOUND: ErrorCode.NOT_FOUND,
  /** GetMessage, Delete, Reschedule: no message with this id in the queue (never there, or removed), or none that can be changed (Delete, Reschedule: already settled). */
  MESSAGE_NOT_FOUND: ErrorCode.NOT_FOUND,
  /** GetMessage: the message was settled and its segment reclaimed: nothing of it is left on disk. */
  MESSAGE_RECLAIMED: ErrorCode.NOT_FOUND,
  /** TraceMessage: no event of the id is recorded (never pushed to this node while tracing was on, or reclaimed by the trace retention). */
  TRACE_NOT_FOUND: ErrorCode.NOT_FOUND,
  /** Push: no queue of the topic matches the route key; nothing was stored. */
  NO_ROUTE: ErrorCode.FAILED_PRECONDITION,
  /** Delete, Reschedule: the message is in flight (delivered, not acked); ack or nack it instead. */
  MESSAGE_IN_FLIGHT: ErrorCode.FAILED_PRECONDITION,
  /** TraceMessage: the topic's tracing is off (TopicConfig.trace) and nothing was recorded for the id. */
  TRACE_OFF: ErrorCode.FAILED_PRECONDITION,
  /** A message body is over the node's --max-body-bytes; nothing was stored. */
  BODY_TOO_LARGE: ErrorCode.RESOURCE_EXHAUSTED,
  /** HTTP only: the request body is over --max-http-body-bytes (HTTP 413). */
  REQUEST_TOO_LARGE: ErrorCode.RESOURCE_EXHAUSTED,
  /** gRPC only: the call's request metadata is over 16 KiB (name + value + 32 bytes per entry). */
  METADATA_TOO_LARGE: ErrorCode.RESOURCE_EXHAUSTED,
  /** The node's disk is full; retry later. */
  DISK_FULL: ErrorCode.RESOURCE_EXHAUSTED,
  /** Push, PushBatch: the messages times the queues they reach are over --max-push-fanout-bytes; nothing was stored. */
  FANOUT_TOO_LARGE: ErrorCode.RESOURCE_EXHAUSTED,
  /** A subscriber fell too far behind (more than --max-stream-buffer-bytes unread) and was disconnected. */
  SUBSCRIBER_TOO_SLOW: ErrorCode.RESOURCE_EXHAUSTED,
  /** A Consume stream's client fell too far behind (more than --max-stream-buffer-bytes unread); the stream ended and its unacked messages returned to the queue. */
  CONSUMER_TOO_SLOW: ErrorCode.RESOURCE_EXHAUSTED,
  /** /debug/pprof/profile: a CPU profile is already being taken. */
  PROFILE_IN_PROGRESS: ErrorCode.RESOURCE_EXHAUSTED,
  /** The node is shutting down; retry on another node. */
  SHUTTING_DOWN: ErrorCode.UNAVAILABLE,
  /** The node's storage failed (I/O error, damaged files); retry later. */
  STORAGE_FAILED: ErrorCode.UNAVAILABLE,
  /** The node has just started and is still recovering its data dir (/readyz answers 503 meanwhile); retry shortly. */
  RECOVERING: ErrorCode.UNAVAILABLE,
  /** ListNodes: the node is in a cluster and etcd did not list its nodes; retry later. */
  CLUSTER_UNAVAILABLE: ErrorCode.UNAVAILABLE,
  /** A call was cancelled by its caller: a waiting call (a long-polling pop), or an HTTP request whose client went away before sending its whole body. */
  CALL_CANCELLED: ErrorCode.CANCELLED,
  /** The RPC has no handler on this node (an older node than the proto). */
  RPC_NOT_IMPLEMENTED: ErrorCode.UNIMPLEMENTED,
  /** The node requires a token and none was sent. */
  TOKEN_REQUIRED: ErrorCode.UNAUTHENTICATED,
  /** The token sent is not one of the node's. */
  TOKEN_UNKNOWN: ErrorCode.UNAUTHENTICATED,
  /** The token may not do this on this topic, channel or node. */
  NOT_GRANTED: ErrorCode.PERMISSION_DENIED,
  /** HTTP only: the Host header names a host this node does not serve (DNS rebinding); see --http-allowed-hosts. */
  HOST_NOT_ALLOWED: ErrorCode.PERMISSION_DENIED,
  /** HTTP only: a browser request from another site, its Origin not listed in --http-cors-origins (or without Origin, marked Sec-Fetch-Site same-site or cross-site). */
  CROSS_SITE_REFUSED: ErrorCode.PERMISSION_DENIED,
  /** A fault in the node; the cause is in the node's log. */
  INTERNAL_ERROR: ErrorCode.INTERNAL,
} as const satisfies Record<string, ErrorCode>;

export type ErrorReason = keyof typeof REASON_CODES;

export const ErrorReason = Object.fromEntries(Object.keys(REASON_CODES).map((r) => [r, r])) as { readonly [R in ErrorReason]: R };

/** Every reason, in the order declared. */
export const ERROR_REASONS = Object.keys(REASON_CODES) as ErrorReason[];

export class BrokerError extends Error {
  readonly code: ErrorCode;
  /** Sent with the reason (google.rpc.ErrorInfo.metadata); short identifiers only, never internal detail. */
  readonly metadata: Readonly<Record<string, string>>;

  constructor(
    readonly reason: ErrorReason,
    message: string,
    options?: { cause?: unknown; metadata?: Record<string, string> },
  ) {
    super(message, options);
    this.name = "BrokerError";
    this.code = REASON_CODES[reason];
    this.metadata = options?.metadata ?? {};
  }
}

/** INVALID_FIELD: a value out of range or malformed. */
export function invalid(message: string): BrokerError {
  return new BrokerError(ErrorReason.INVALID_FIELD, message);
}

/** MALFORMED_REQUEST: the request itself cannot be read. */
export function malformed(message: string): BrokerError {
  return new BrokerError(ErrorReason.MALFORMED_REQUEST, message);
}

// Conversions between broker values and the proto's messages, shared by the
// gRPC server and the HTTP gateway.
import {
  invalid,
  type MessageView,
  type PeekState as BrokerPeekState,
  type PurgeTarget as BrokerPurgeTarget,
  type RouteMode as BrokerRouteMode,
  type TopicConfig as BrokerTopicConfig,
  type StoredMessage,
  type TopicStatView,
  type TraceEvent as BrokerTraceEvent,
} from "../broker/index.js";
import {
  MessageState,
  PeekState,
  PurgeTarget,
  RouteMode,
  TraceConsumerKind,
  type Message,
  type MessageInfo,
  type TopicConfig,
  type TopicStat,
  type TraceEvent,
  type TraceEventKind,
} from "../gen/gmq/v1/broker.js";

export function toProtoMessage(topic: string, bindKey: string, d: StoredMessage): Message {
  return {
    id: d.id,
    topic,
    bindKey,
    routeKey: d.routeKey,
    body: d.body,
    retry: d.retry,
    createdAtMs: BigInt(d.createdAtMs),
    deadlineMs: BigInt(d.deadlineMs),
    expiresAtMs: BigInt(d.expiresAtMs),
    priority: d.priority ?? 0,
  };
}

export function toProtoRouteMode(mode: BrokerRouteMode): RouteMode {
  switch (mode) {
    case "full":
      return RouteMode.ROUTE_MODE_FULL;
    case "regex":
      return RouteMode.ROUTE_MODE_REGEX;
    case "wildcard":
      return RouteMode.ROUTE_MODE_WILDCARD;
  }
}

/** undefined for UNSPECIFIED (keep the current mode). */
export function fromProtoRouteMode(mode: RouteMode): BrokerRouteMode | undefined {
  switch (mode) {
    case RouteMode.ROUTE_MODE_UNSPECIFIED:
      return undefined;
    case RouteMode.ROUTE_MODE_FULL:
      return "full";
    case RouteMode.ROUTE_MODE_REGEX:
      return "regex";
    case RouteMode.ROUTE_MODE_WILDCARD:
      return "wildcard";
    default:
      throw invalid(`route_mode ${String(mode)} is unknown; use ROUTE_MODE_FULL, ROUTE_MODE_REGEX or ROUTE_MODE_WILDCARD`);
  }
}

export function toProtoConfig(c: BrokerTopicConfig): TopicConfig {
  return {
    autoAck: c.autoAck,
    routeMode: toProtoRouteMode(c.routeMode),
    msgTtr: c.msgTtrS,
    msgRetry: c.msgRetry,
    retryBackoffMs: c.retryBackoffMs,
    retryBackoffMaxMs: c.retryBackoffMaxMs,
    msgTtlMs: BigInt(c.msgTtlMs),
    dedupWindowMs: BigInt(c.dedupWindowMs),
    defaultPriority: c.defaultPriority,
    trace: c.trace,
    traceRetentionMs: BigInt(c.traceRetentionMs),
    traceRetentionBytes: BigInt(c.traceRetentionBytes),
  };
}

const CONSUMER_KINDS = {
  "": TraceConsumerKind.TRACE_CONSUMER_KIND_UNSPECIFIED,
  pop: TraceConsumerKind.TRACE_CONSUMER_KIND_POP,
  stream: TraceConsumerKind.TRACE_CONSUMER_KIND_STREAM,
} as const;

/** The broker's TraceKind values are the proto's TraceEventKind numbers. */
export function toProtoTraceEvent(e: BrokerTraceEvent): TraceEvent {
  return {
    kind: e.kind as number as TraceEventKind,
    atMs: BigInt(e.atMs),
    bindKey: e.bindKey,
    retry: e.retry,
    untilMs: BigInt(e.untilMs),
    nodeId: e.nodeId,
    routeKey: e.routeKey,
    queues: e.queues,
    duplicate: e.duplicate,
    consumer: CONSUMER_KINDS[e.consumer],
    peer: e.peer,
    tokenName: e.tokenName,
  };
}

export function toProtoTopicStat(s: TopicStatView): TopicStat {
  return {
    topic: s.topic,
    config: toProtoConfig(s.config),
    pushed: BigInt(s.pushed),
    popped: BigInt(s.popped),
    acked: BigInt(s.acked),
    dead: BigInt(s.dead),
    delayed: BigInt(s.delayed),
    inFlight: BigInt(s.inFlight),
    backlog: BigInt(s.backlog),
    expired: BigInt(s.expired),
    createdAtMs: BigInt(s.createdAtMs),
    queues: s.queues.map((q) => ({
      bindKey: q.bindKey,
      name: q.name,
      ready: BigInt(q.ready),
      inFlight: BigInt(q.inFlight),
      delayed: BigInt(q.delayed),
      dead: BigInt(q.dead),
      pushed: BigInt(q.pushed),
      popped: BigInt(q.popped),
      acked: BigInt(q.acked),
      redelivered: BigInt(q.redelivered),
      expired: BigInt(q.expired),
      bytesOnDisk: BigInt(q.bytesOnDisk),
      consumers: [],
      priorities: q.priorities.map((l) => ({ priority: l.priority, ready: BigInt(l.ready), inFlight: BigInt(l.inFlight), delayed: BigInt(l.delayed) })),
    })),
  };
}

/** A uint64 field carrying milliseconds, as a safe number. */
const MAX_MS = BigInt(Number.MAX_SAFE_INTEGER);

export function msOf(value: bigint, field: string): number {
  if (value > MAX_MS) throw invalid(`${field} is too large`);
  return Number(value);
}

const MESSAGE_STATES: Record<MessageView["state"], MessageState> = {
  ready: MessageState.MESSAGE_STATE_READY,
  delayed: MessageState.MESSAGE_STATE_DELAYED,
  inFlight: MessageState.MESSAGE_STATE_IN_FLIGHT,
  dead: MessageState.MESSAGE_STATE_DEAD,
  acked: MessageState.MESSAGE_STATE_ACKED,
  expired: MessageState.MESSAGE_STATE_EXPIRED,
};

export function toProtoMessageInfo(v: MessageView): MessageInfo {
  return {
    bindKey: v.bindKey,
    state: MESSAGE_STATES[v.state],
    id: v.id,
    routeKey: v.routeKey,
    createdAtMs: BigInt(v.createdAtMs),
    retry: v.retry,
    dueAtMs: BigInt(v.dueAtMs),
    deadlineMs: BigInt(v.deadlineMs),
    expiresAtMs: BigInt(v.expiresAtMs),
    bodyBytes: v.bodyBytes,
    body: v.body ?? Buffer.alloc(0),
  };
}

export function fromProtoPeekState(s: PeekState): BrokerPeekState {
  switch (s) {
    case PeekState.PEEK_STATE_UNSPECIFIED:
    case PeekState.PEEK_STATE_READY:
      return "ready";
    case PeekState.PEEK_STATE_DELAYED:
      return "delayed";
    case PeekState.PEEK_STATE_DEAD:
      return "dead";
    default:
      throw invalid(`state must be READY, DELAYED or DEAD, got ${String(s)}`);
  }
}

export function fromProtoPurgeTarget(t: PurgeTarget): BrokerPurgeTarget {
  switch (t) {
    case PurgeTarget.PURGE_TARGET_READY:
      return "ready";
    case PurgeTarget.PURGE_TARGET_DELAYED:
      return "delayed";
    case PurgeTarget.PURGE_TARGET_DEAD:
      return "dead";
    case PurgeTarget.PURGE_TARGET_ALL:
      return "all";
    default:
      throw invalid("what must be READY, DELAYED, DEAD or ALL");
  }
}

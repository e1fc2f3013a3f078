// Conversions between broker values and the proto's messages, shared by the
// gRPC server and the HTTP gateway.
import {
  invalid,
  type RouteMode as BrokerRouteMode,
  type TopicConfig as BrokerTopicConfig,
  type StoredMessage,
  type TopicStatView,
  type TraceEvent as BrokerTraceEvent,
} from "../broker/index.js";
import { ConsumerKind, RouteMode, type Message, type TopicConfig, type TopicStat, type TraceEvent, type TraceEventKind } from "../gen/gmq/v1/broker.js";

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
    trace: c.trace,
    traceRetentionMs: BigInt(c.traceRetentionMs),
    traceRetentionBytes: BigInt(c.traceRetentionBytes),
  };
}

const CONSUMER_KINDS = { "": ConsumerKind.CONSUMER_KIND_UNSPECIFIED, pop: ConsumerKind.CONSUMER_KIND_POP, stream: ConsumerKind.CONSUMER_KIND_STREAM } as const;

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
    })),
  };
}

/** A uint64 field carrying milliseconds, as a safe number. */
export function msOf(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${field} is too large`);
  return Number(value);
}

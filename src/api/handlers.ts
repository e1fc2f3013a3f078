// One in-process implementation of every unary RPC, taking and returning the
// proto's messages. The gRPC server and the HTTP gateway both serve these,
// so the two protocols cannot drift apart.
import { invalid, type Broker } from "../broker/index.js";
import type { NodeConfig } from "../config.js";
import type * as pb from "../gen/gmq/v1/broker.js";
import type { ConsumerBoard } from "./consumers.js";
import type { StatsHistory } from "./history.js";
import { getHistory, listNodes, type ClusterDirectory } from "./node-views.js";
import { BATCH_FRAMING_BYTES, type LimitRejected } from "./stream-limits.js";
import {
  fromProtoPeekState,
  fromProtoPurgeTarget,
  fromProtoRouteMode,
  msOf,
  toProtoConfig,
  toProtoMessage,
  toProtoMessageInfo,
  toProtoTopicStat,
  toProtoTraceEvent,
} from "./messages.js";

export interface CallContext {
  /** Aborted when the caller goes away (used by long polls). */
  signal?: AbortSignal;
  /** The caller's address (consumers list of a long poll, lifecycle trace of a Pop); given to the RPCs in NEEDS_CALLER. */
  peer?: string;
  /** The caller's authorization header (ListNodes asks the other nodes with it); given to the RPCs in NEEDS_CALLER. */
  authorization?: string;
  /** The caller's token name when the node has auth on (lifecycle trace of a Pop); given to the RPCs in NEEDS_CALLER. */
  tokenName?: string | undefined;
}

/** The RPCs whose handlers read the caller's peer, authorization and token name from their context. */
export const NEEDS_CALLER: ReadonlySet<string> = new Set(["Pop", "ListNodes"]);

/** What the node-wide views read besides the broker; each is optional (tests, a node without history). */
export interface HandlerViews {
  consumers?: ConsumerBoard;
  history?: StatsHistory;
  cluster?: ClusterDirectory;
}

export type Unary<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;

/** Request and reply of every unary RPC, keyed by the RPC's name as written in the proto. */
export interface UnaryRpcs {
  Config: [pb.ConfigRequest, pb.ConfigResponse];
  DeclareQueue: [pb.DeclareQueueRequest, pb.DeclareQueueResponse];
  DeleteQueue: [pb.DeleteQueueRequest, pb.DeleteQueueResponse];
  ListTopics: [pb.ListTopicsRequest, pb.ListTopicsResponse];
  ListQueues: [pb.ListQueuesRequest, pb.ListQueuesResponse];
  GetTopicStat: [pb.GetTopicStatRequest, pb.GetTopicStatResponse];
  Push: [pb.PushRequest, pb.PushResponse];
  PushBatch: [pb.PushBatchRequest, pb.PushBatchResponse];
  Pop: [pb.PopRequest, pb.PopResponse];
  Ack: [pb.AckRequest, pb.AckResponse];
  Nack: [pb.NackRequest, pb.NackResponse];
  Touch: [pb.TouchRequest, pb.TouchResponse];
  PopDead: [pb.PopDeadRequest, pb.PopDeadResponse];
  ListDead: [pb.ListDeadRequest, pb.ListDeadResponse];
  Redrive: [pb.RedriveRequest, pb.RedriveResponse];
  Publish: [pb.PublishRequest, pb.PublishResponse];
  Ping: [pb.PingRequest, pb.PingResponse];
  DeleteTopic: [pb.DeleteTopicRequest, pb.DeleteTopicResponse];
  GetHistory: [pb.GetHistoryRequest, pb.GetHistoryResponse];
  ListNodes: [pb.ListNodesRequest, pb.ListNodesResponse];
  GetMessage: [pb.GetMessageRequest, pb.GetMessageResponse];
  Peek: [pb.PeekRequest, pb.PeekResponse];
  Delete: [pb.DeleteRequest, pb.DeleteResponse];
  Reschedule: [pb.RescheduleRequest, pb.RescheduleResponse];
  PurgeQueue: [pb.PurgeQueueRequest, pb.PurgeQueueResponse];
  TraceMessage: [pb.TraceMessageRequest, pb.TraceMessageResponse];
}

/** The node's limits these handlers enforce (rows of the config table), and where a clamp is counted. */
export type HandlerLimits = Pick<NodeConfig, "maxPopWaitMs" | "maxListDead" | "maxBodyBytes" | "maxGrpcMessageBytes"> & { rejected?: LimitRejected };

/** Bytes a listed message may take in a reply beyond its body (ids, names, times, framing). */
const LISTED_MESSAGE_OVERHEAD_BYTES = 4 * 1024;

export type RpcName = keyof UnaryRpcs;
export type RequestOf<K extends RpcName> = UnaryRpcs[K][0];
export type ReplyOf<K extends RpcName> = UnaryRpcs[K][1];

/** One handler per unary RPC. */
export type UnaryHandlers = { [K in RpcName]: Unary<RequestOf<K>, ReplyOf<K>> };

export function createUnaryHandlers(broker: Broker, limits: HandlerLimits, views: HandlerViews = {}): UnaryHandlers {
  const { maxPopWaitMs, maxListDead } = limits;
  const { consumers } = views;
  const cluster: ClusterDirectory = views.cluster ?? {
    self: () => {
      const info = broker.info();
      return { nodeId: info.nodeId, weight: 1, grpcAddr: "", httpAddr: "", version: info.version, startedAtMs: info.startedAtMs };
    },
    list: () => undefined,
    scheme: "http",
  };
  // A reply is capped by bytes before it is built: a list never holds more
  // messages than fit one gRPC message were every body of the largest size.
  // (The same bound keeps HTTP's JSON text far under V8's string limit.)
  const listByBytes = Math.max(1, Math.floor((limits.maxGrpcMessageBytes - BATCH_FRAMING_BYTES) / (limits.maxBodyBytes + LISTED_MESSAGE_OVERHEAD_BYTES)));
  return {
    async Config(req) {
      const routeMode = fromProtoRouteMode(req.routeMode);
      const config = broker.configure(req.topic, {
        ...(req.autoAck !== undefined && { autoAck: req.autoAck }),
        ...(routeMode !== undefined && { routeMode }),
        ...(req.msgTtr !== 0 && { msgTtrS: req.msgTtr }),
        ...(req.msgRetry !== undefined && { msgRetry: req.msgRetry }),
        ...(req.retryBackoffMs !== undefined && { retryBackoffMs: req.retryBackoffMs }),
        ...(req.retryBackoffMaxMs !== undefined && { retryBackoffMaxMs: req.retryBackoffMaxMs }),
        ...(req.msgTtlMs !== undefined && { msgTtlMs: msOf(req.msgTtlMs, "msg_ttl_ms") }),
        ...(req.dedupWindowMs !== undefined && { dedupWindowMs: msOf(req.dedupWindowMs, "dedup_window_ms") }),
        ...(req.defaultPriority !== undefined && { defaultPriority: req.defaultPriority }),
        ...(req.trace !== undefined && { trace: req.trace }),
        ...(req.traceRetentionMs !== undefined && { traceRetentionMs: msOf(req.traceRetentionMs, "trace_retention_ms") }),
        ...(req.traceRetentionBytes !== undefined && { traceRetentionBytes: msOf(req.traceRetentionBytes, "trace_retention_bytes") }),
      });
      return { config: toProtoConfig(config) };
    },
    async DeclareQueue(req) {
      return broker.declareQueue(req.topic, req.bindKey);
    },
    async DeleteQueue(req) {
      broker.deleteQueue(req.topic, req.bindKey);
      return {};
    },
    async ListTopics() {
      return { topics: broker.listTopics().map((t) => ({ topic: t.topic, config: toProtoConfig(t.config) })) };
    },
    async ListQueues(req) {
      return { bindKeys: broker.listQueues(req.topic) };
    },
    async GetTopicStat(req) {
      const stat = toProtoTopicStat(broker.topicStat(req.topic));
      if (consumers) for (const q of stat.queues) q.consumers = consumers.of(req.topic, q.bindKey);
      return { stat };
    },
    async Push(req) {
      const r = await broker.push(
        req.topic,
        req.routeKey,
        req.body,
        msOf(req.delayMs, "delay_ms"),
        msOf(req.ttlMs, "ttl_ms"),
        req.idempotencyKey,
        req.priority,
      );
      return { id: r.id, queues: r.queues, duplicate: r.duplicate };
    },
    async PushBatch(req) {
      const inputs = req.messages.map((m) => ({
        routeKey: m.routeKey,
        body: m.body,
        delayMs: msOf(m.delayMs, "delay_ms"),
        ttlMs: msOf(m.ttlMs, "ttl_ms"),
        idempotencyKey: m.idempotencyKey,
        priority: m.priority,
      }));
      return broker.pushBatch(req.topic, inputs);
    },
    async Pop(req, ctx) {
      if (req.waitMs > maxPopWaitMs) throw invalid(`wait_ms must be at most ${maxPopWaitMs}`);
      // A long poll is listed among the queue's consumers while it waits.
      const detach =
        consumers && req.waitMs > 0
          ? consumers.attach(req.topic, req.bindKey, { kind: "long-poll", peer: ctx.peer ?? "", sinceMs: consumers.now(), credit: () => 1, inFlight: () => 0 })
          : undefined;
      try {
        const m = await broker.pop(req.topic, req.bindKey, req.waitMs, ctx.signal, { consumer: "pop", peer: ctx.peer ?? "", tokenName: ctx.tokenName ?? "" });
        return { message: toProtoMessage(req.topic, req.bindKey, m) };
      } finally {
        detach?.();
      }
    },
    async Ack(req) {
      await broker.ack(req.topic, req.bindKey, req.id);
      return {};
    },
    async Nack(req) {
      await broker.nack(req.topic, req.bindKey, req.id, msOf(req.delayMs, "delay_ms"));
      return {};
    },
    async Touch(req) {
      const deadline = await broker.touch(req.topic, req.bindKey, req.id, msOf(req.ttrMs, "ttr_ms"));
      return { deadlineMs: BigInt(deadline) };
    },
    async PopDead(req) {
      return { message: toProtoMessage(req.topic, req.bindKey, await broker.popDead(req.topic, req.bindKey)) };
    },
    async ListDead(req) {
      if (req.limit > maxListDead) throw invalid(`limit must be at most ${maxListDead}`);
      const asked = req.limit === 0 ? Math.min(100, maxListDead) : req.limit;
      if (asked > listByBytes) limits.rejected?.("maxGrpcMessageBytes");
      const list = broker.listDead(req.topic, req.bindKey, Math.min(asked, listByBytes));
      return { messages: list.map((m) => toProtoMessage(req.topic, req.bindKey, m)) };
    },
    async Redrive(req) {
      return { moved: BigInt(await broker.redrive(req.topic, req.bindKey, req.limit)) };
    },
    async Publish(req) {
      return { receivers: broker.publish(req.channel, req.body) };
    },
    async TraceMessage(req) {
      return { id: req.id, events: broker.traceMessage(req.topic, req.id).map(toProtoTraceEvent) };
    },
    async Ping() {
      const info = broker.info();
      return { nodeId: info.nodeId, version: info.version, startedAtMs: BigInt(info.startedAtMs) };
    },
    async DeleteTopic(req) {
      return { bindKeys: broker.deleteTopic(req.topic) };
    },
    async GetHistory(req) {
      return getHistory(req, broker, views.history, limits.maxGrpcMessageBytes - BATCH_FRAMING_BYTES);
    },
    async ListNodes(req, ctx) {
      return listNodes(req, ctx, broker, cluster, consumers);
    },
    async GetMessage(req) {
      return { copies: broker.getMessage(req.topic, req.bindKey, req.id, req.includeBody).map(toProtoMessageInfo) };
    },
    async Peek(req) {
      if (req.limit > maxListDead) throw invalid(`limit must be at most ${maxListDead}`);
      const asked = req.limit === 0 ? Math.min(100, maxListDead) : req.limit;
      if (req.includeBody && asked > listByBytes) limits.rejected?.("maxGrpcMessageBytes");
      const limit = req.includeBody ? Math.min(asked, listByBytes) : asked;
      const list = broker.peek(req.topic, req.bindKey, fromProtoPeekState(req.state), limit, req.afterId, req.includeBody);
      return { messages: list.map(toProtoMessageInfo) };
    },
    async Delete(req) {
      await broker.deleteMessage(req.topic, req.bindKey, req.id);
      return {};
    },
    async Reschedule(req) {
      const at = req.deliverAtMs !== 0n;
      const delay = req.delayMs !== 0n;
      if (at === delay) throw invalid("give exactly one of deliver_at_ms and delay_ms");
      if (req.delayMs < 0n) throw invalid("delay_ms must not be negative");
      const due = at ? { atMs: msOf(req.deliverAtMs, "deliver_at_ms") } : { delayMs: msOf(req.delayMs, "delay_ms") };
      return { dueAtMs: BigInt(await broker.reschedule(req.topic, req.bindKey, req.id, due)) };
    },
    async PurgeQueue(req) {
      const c = await broker.purgeQueue(req.topic, req.bindKey, fromProtoPurgeTarget(req.what));
      return { purged: BigInt(c.ready + c.delayed + c.dead), ready: BigInt(c.ready), delayed: BigInt(c.delayed), dead: BigInt(c.dead) };
    },
  };
}

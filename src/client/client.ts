// GmqClient: the SDK's entry point. Producer calls go to one node chosen by
// the balancer (with failover); admin calls that shape queues (config,
// declare, delete) go to every node and are replayed on nodes that join, so
// every node can take pushes for them; reads (stats, lists, dead letters)
// gather from every node.
import type { ChannelOptions } from "@grpc/grpc-js";
import {
  ConfigRequest,
  PeekState,
  PurgeTarget,
  RouteMode,
  type Message,
  type MessageInfo,
  type PingResponse,
  type TopicConfig,
  type TopicStat,
  type TraceEvent,
} from "../gen/gmq/v1/broker.js";
import { createBalancer, type Strategy } from "./balancer.js";
import { bearerToken, channelCredentials, type NodeConnection, type TlsOptions } from "./connection.js";
import { Consumer, type ConsumeOptions, type Delivery, type Handler } from "./consumer.js";
import { defaultEtcdPrefix, EtcdDiscovery, StaticDiscovery, type Discovery } from "./discovery.js";
import { Code, GmqError, Reason } from "./errors.js";
import type { NodeInfo } from "./node-info.js";
import { NodePool } from "./pool.js";
import { retryableElsewhere, withFailover, type FailoverOptions, type FirstAttempt } from "./producer.js";
import { Subscription, type Publication } from "./subscription.js";
import { BufferPool } from "./buffer-pool.js";
import { decodePushBatchResponse, encodePushBatch, msNumber, type StreamPush } from "./wire.js";

/** How to find nodes and how to talk to them. Give `etcd` or `addresses`. */
export interface ClientOptions {
  /** Discover nodes from etcd and follow them joining and leaving. */
  etcd?: { endpoints: string[]; prefix?: string };
  /** A fixed list of node gRPC addresses ("host:port", optionally "host:port@weight"). */
  addresses?: string[];
  /** How producer calls pick a node. Default "weighted". */
  strategy?: Strategy;
  /** Push over each node's PushStream (default true) rather than unary Push calls. */
  pushStream?: boolean;
  /** Deadline of unary calls in ms (default 10000). */
  callTimeoutMs?: number;
  /** How long a call waits for a node to be known at all (default 5000 ms). */
  waitForNodesMs?: number;
  /** Nodes a producer call tries before failing (default 3). */
  maxAttempts?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: ChannelOptions;
  /** Connect with TLS (and mutual TLS when `cert` and `key` are given); plaintext when unset. */
  tls?: TlsOptions;
  /** Bearer token for nodes started with --auth-file, sent with every call. */
  token?: string;
}

/** A message body: bytes or a string (sent as UTF-8). */
export type Body = Buffer | Uint8Array | string;

export interface PushOptions {
  /** Selects the queues; empty means the topic's "default" queue. */
  routeKey?: string;
  /** Milliseconds before the message becomes ready. */
  delayMs?: number;
  /**
   * Time to live in ms from the push (0 or unset: the topic's msgTtlMs; max
   * 366 days). A message not delivered in time is discarded, never delivered
   * (counted in the queue's `expired`); the delay does not extend it. A
   * delivered message may still be acked after it expires.
   */
  ttlMs?: number;
  /**
   * Makes the push safe to retry (at most 256 bytes; unset or "": none). The
   * node remembers the key for the topic's dedupWindowMs (2 minutes by
   * default): a push with a key it has seen stores nothing and resolves with
   * the first message's id and `duplicate: true`. The key also picks the
   * node (a hash over the live nodes), and a push whose outcome is unknown
   * (connection dropped, deadline) is retried on that node. Keys are
   * remembered per node: when that node cannot be reached the push goes to
   * another, which does not know the key.
   */
  idempotencyKey?: string;
  /**
   * Delivery priority: an integer 0..9, higher delivered first; FIFO among
   * messages of one priority. The message keeps it through delays, nacks,
   * redeliveries, dead letters and redrive. Unset: the topic's defaultPriority.
   * Out of range: the node refuses the push (Reason.PRIORITY_OUT_OF_RANGE).
   */
  priority?: Priority;
}

/** A message's delivery priority, 0 (lowest, the default) to 9 (highest). */
export type Priority = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

const msField = (ms: number | undefined): bigint => BigInt(msNumber(ms));
const NO_OPTIONS: PushOptions = {};
/** pushBatch's request buffers, shared by every client of the process (a buffer is back once its call is answered). */
const requestBuffers = new BufferPool();
const NO_EXCLUSIONS: ReadonlySet<string> = new Set();
const PUSH_BATCH = "/gmq.v1.BrokerService/PushBatch";

export interface PushResult {
  /** The message id (unique across the cluster); the original's when `duplicate`. */
  id: bigint;
  /** Key of the node that stored it. */
  node: string;
  /** True when the idempotency key was seen within its window: nothing new was stored. */
  duplicate: boolean;
}

/** A topic configuration change; unset fields keep their value. */
export interface TopicConfigChange {
  autoAck?: boolean;
  routeMode?: RouteMode | "full" | "regex" | "wildcard";
  /** Seconds (1..86400). */
  msgTtr?: number;
  msgRetry?: number;
  /**
   * Retry backoff base, ms (0..86400000; 0 turns it off): the n-th redelivery
   * after a TTR waits min(base * 2^(n-1), retryBackoffMaxMs), and a nack
   * without a delay waits what the message's next redelivery would.
   */
  retryBackoffMs?: number;
  /** Cap on one backoff wait, ms (0: no cap but 24 h; else at least retryBackoffMs). */
  retryBackoffMaxMs?: number;
  /** Time to live, ms, of messages pushed without their own ttlMs (0: they never expire). */
  msgTtlMs?: number;
  /** How long, ms, a node remembers an idempotency key (0..86400000; 0 turns duplicate detection off). */
  dedupWindowMs?: number;
  /** Priority (0..9) of messages pushed without their own. */
  defaultPriority?: Priority;
  /** Record every message's lifecycle trace (see {@link GmqClient.trace}). */
  trace?: boolean;
  /** Trace events older than this many ms are reclaimed (0: no time bound). */
  traceRetentionMs?: number;
  /** A topic's trace is kept under about this many bytes per node (0: no size bound; not both 0). */
  traceRetentionBytes?: number;
}

/** One event of a message's lifecycle trace, with the node that recorded it. */
export type TracedEvent = TraceEvent & { node: string };

/** Something to ack, nack or touch: a Delivery, or its coordinates. */
export interface MessageRef {
  topic: string;
  bindKey: string;
  id: bigint;
  /** The node it came from; when unknown every node is asked. */
  node?: string;
}

/** One node's answer in a cluster-wide read. */
export interface PerNode<T> {
  node: string;
  value?: T;
  error?: GmqError;
}

const toBuffer = (b: Body): Buffer => (typeof b === "string" ? Buffer.from(b) : Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function routeModeOf(m: TopicConfigChange["routeMode"]): RouteMode {
  switch (m) {
    case undefined:
      return RouteMode.ROUTE_MODE_UNSPECIFIED;
    case "full":
      return RouteMode.ROUTE_MODE_FULL;
    case "regex":
      return RouteMode.ROUTE_MODE_REGEX;
    case "wildcard":
      return RouteMode.ROUTE_MODE_WILDCARD;
    default:
      return m;
  }
}

/**
 * A connection to a gmq cluster (or a single node).
 *
 * @example
 * ```ts
 * import { GmqClient } from "@gmq/client";
 * const client = await GmqClient.connect({ etcd: { endpoints: ["127.0.0.1:2379"] } });
 * await client.declareQueue("orders", "paid");
 * const { id } = await client.push("orders", JSON.stringify({ n: 1 }), { routeKey: "paid" });
 * const consumer = client.consume("orders", "paid", async (msg) => {
 *   console.log(msg.id, msg.body.toString()); // resolve = ack, throw = nack
 * }, { maxInFlight: 100 });
 * // ...
 * await consumer.close();
 * await client.close();
 * ```
 */
export class GmqClient {
  private readonly failover: FailoverOptions;
  private readonly usePushStream: boolean;
  /** Topic configs and queue declarations replayed on nodes that join. */
  private readonly shape = new Map<string, (conn: NodeConnection) => Promise<unknown>>();
  private readonly unlistenShape: () => void;
  private closed = false;

  private constructor(
    private readonly pool: NodePool,
    opts: ClientOptions,
  ) {
    this.failover = { maxAttempts: opts.maxAttempts ?? 3, waitForNodesMs: opts.waitForNodesMs ?? 5000 };
    this.usePushStream = opts.pushStream ?? true;
    let initial = true;
    this.unlistenShape = pool.listen({
      join: (conn) => {
        if (initial) return;
        for (const apply of this.shape.values()) apply(conn).catch(() => undefined);
      },
      leave: () => undefined,
    });
    initial = false;
  }

  /**
   * Connects to a cluster through etcd, or to a fixed list of nodes.
   * With etcd it rejects when etcd cannot be read; nodes themselves are
   * connected lazily.
   */
  static async connect(opts: ClientOptions): Promise<GmqClient> {
    let discovery: Discovery;
    if (opts.etcd && opts.etcd.endpoints.length > 0) {
      discovery = await EtcdDiscovery.start(opts.etcd.endpoints, opts.etcd.prefix ?? defaultEtcdPrefix);
    } else if (opts.addresses && opts.addresses.length > 0) {
      discovery = new StaticDiscovery(opts.addresses);
    } else {
      throw new GmqError(Code.INVALID_ARGUMENT, "give etcd endpoints or node addresses");
    }
    const channelOptions = { ...opts.channelOptions, ...(opts.token && { interceptors: [bearerToken(opts.token)] }) };
    const pool = new NodePool(discovery, createBalancer(opts.strategy ?? "weighted"), channelOptions, opts.callTimeoutMs ?? 10_000, channelCredentials(opts.tls));
    return new GmqClient(pool, opts);
  }

  /** The nodes known now (from etcd, or the fixed list). */
  nodes(): NodeInfo[] {
    return this.pool.all().map((c) => c.node);
  }

  // ---- producer calls: one node, chosen by the balancer ----

  /**
   * Pushes one message; resolves once the node has stored it durably.
   * @example `await client.push("orders", "hello", { routeKey: "paid", delayMs: 5000, ttlMs: 60_000 })`
   * @example `const { id, duplicate } = await client.push("orders", body, { idempotencyKey: "order-42" })`
   * @example `await client.push("orders", "urgent", { priority: 9 })`
   */
  push(topic: string, body: Body, opts: PushOptions = NO_OPTIONS): Promise<PushResult> {
    let buf: Buffer;
    let delayMs: number;
    let ttlMs: number;
    try {
      buf = toBuffer(body);
      delayMs = msNumber(opts.delayMs);
      ttlMs = msNumber(opts.ttlMs);
    } catch (err) {
      return Promise.reject(err);
    }
    const routeKey = opts.routeKey ?? "";
    const idempotencyKey = opts.idempotencyKey ?? "";
    const priority = opts.priority;
    if (idempotencyKey === "" && this.usePushStream) {
      // The path of each push: the balancer's node, straight to its stream,
      // and the push's own promise is the caller's. withFailover's waits,
      // sets and closures are for when that fails (retryAfterFirst).
      const conn = this.pool.pick(NO_EXCLUSIONS);
      if (conn?.isUp()) return conn.pushStream().push(topic, routeKey, buf, delayMs, ttlMs, idempotencyKey, priority, this.retryAfterFirst);
    }
    return this.pushWithFailover(topic, routeKey, buf, delayMs, ttlMs, idempotencyKey, priority);
  }

  /** A push that failed on the node the fast path chose: retried as withFailover would have, that node counted as tried. */
  private readonly retryAfterFirst = (p: StreamPush, err: GmqError, node: string): Promise<PushResult> => {
    if (!retryableElsewhere(err)) return Promise.reject(err);
    this.pool.get(node)?.markDown();
    return this.pushWithFailover(p.topic, p.routeKey, p.body, p.delayMs, p.ttlMs, p.idempotencyKey, p.priority, { tried: node, err });
  };

  private async pushWithFailover(
    topic: string,
    routeKey: string,
    buf: Buffer,
    delayMs: number,
    ttlMs: number,
    idempotencyKey: string,
    priority: Priority | number | undefined,
    first?: FirstAttempt,
  ): Promise<PushResult> {
    const attempt = (c: NodeConnection): Promise<{ id: bigint; duplicate: boolean }> =>
      this.usePushStream
        ? c.pushStream().push(topic, routeKey, buf, delayMs, ttlMs, idempotencyKey, priority)
        : c.unary(c.rpc.push, { topic, routeKey, body: buf, delayMs: BigInt(delayMs), ttlMs: BigInt(ttlMs), idempotencyKey, priority });
    const { result, conn } = await withFailover(this.pool, this.failover, attempt, idempotencyKey, first);
    return { id: result.id, node: conn.key, duplicate: result.duplicate };
  }

  /**
   * Pushes many messages to one topic in one call (all stored, or none).
   * Messages with an idempotency key seen before (or earlier in the batch)
   * are not stored: their ids are the originals', counted in `duplicates`.
   * When every message has a key, the first one picks the node and the
   * batch is retried like a keyed push.
   */
  async pushBatch(
    topic: string,
    messages: Array<{ body: Body } & PushOptions>,
  ): Promise<{ ids: bigint[]; node: string; duplicates: number }> {
    // Encoded once, straight into one buffer (wire.ts); every attempt sends the same bytes.
    const first = messages[0]?.idempotencyKey ?? "";
    const routeBy = first !== "" && messages.every((m) => m.idempotencyKey !== undefined && m.idempotencyKey !== "") ? first : "";
    const encoded = encodePushBatch(topic, messages, requestBuffers.take);
    const { result, conn } = await withFailover(this.pool, this.failover, (c) => c.unaryEncoded(PUSH_BATCH, encoded, decodePushBatchResponse), routeBy);
    // Answered: grpc-js framed its own copy of the bytes before sending them, so they may be written over.
    requestBuffers.give(encoded);
    return { ids: result.ids, node: conn.key, duplicates: result.duplicates };
  }

  /** Publishes to a pub/sub channel; resolves with how many subscribers of that node received it. */
  async publish(channel: string, body: Body): Promise<{ receivers: number; node: string }> {
    const { result, conn } = await withFailover(this.pool, this.failover, (c) => c.unary(c.rpc.publish, { channel, body: toBuffer(body) }));
    return { receivers: result.receivers, node: conn.key };
  }

  // ---- consumers ----

  /**
   * Consumes a queue from every node (and from nodes that join later). The
   * handler's success acks the message to the node it came from; a throw nacks it.
   */
  consume(topic: string, bindKey: string, handler: Handler, opts: ConsumeOptions = {}): Consumer {
    return new Consumer(this.pool, topic, bindKey, handler, opts);
  }

  /** Subscribes to pub/sub channels on every node. Call close() on the result to stop. */
  subscribe(channels: string[], handler: (p: Publication) => void, onError?: (err: GmqError, node: string) => void): Subscription {
    return new Subscription(this.pool, channels, handler, onError);
  }

  /**
   * Takes one ready message from the queue on any node; undefined when none
   * is ready within `waitMs` (default 0). Rejects with the node's error when
   * no node has the queue (`Reason.QUEUE_NOT_FOUND` or `Reason.TOPIC_NOT_FOUND`,
   * e.g. a misspelled name): "nothing" means only that the queue is empty.
   */
  async pop(topic: string, bindKey: string, opts: { waitMs?: number } = {}): Promise<Delivery | undefined> {
    await this.pool.waitForNode(this.failover.waitForNodesMs);
    const deadline = Date.now() + (opts.waitMs ?? 0);
    for (;;) {
      const conns = this.pool.all().sort(() => Math.random() - 0.5);
      const last = conns.length - 1;
      let unavailable: GmqError | undefined;
      let missing: GmqError | undefined;
      let answered = false;
      for (const [i, c] of conns.entries()) {
        // Long-poll only on the last node of a round, briefly, so other nodes are checked again soon.
        const waitMs = i === last ? Math.max(0, Math.min(1000, deadline - Date.now())) : 0;
        try {
          const r = await c.unary(c.rpc.pop, { topic, bindKey, waitMs }, waitMs);
          if (r.message) return { ...r.message, node: c.key };
          answered = true;
        } catch (e) {
          const err = e as GmqError;
          if (err.reason === Reason.QUEUE_EMPTY) answered = true;
          else if (err.reason === Reason.QUEUE_NOT_FOUND || err.reason === Reason.TOPIC_NOT_FOUND) missing = err; // another node may have it
          else if (err.code === Code.UNAVAILABLE) unavailable = err;
          else throw err;
        }
      }
      if (!answered) {
        if (unavailable) throw unavailable;
        if (missing) throw missing;
      }
      if (Date.now() >= deadline) return undefined;
    }
  }

  /** Acks a message to the node it came from (or to whichever node knows it). */
  async ack(m: MessageRef): Promise<void> {
    await this.onOwner(m, (c) => c.unary(c.rpc.ack, { topic: m.topic, bindKey: m.bindKey, id: m.id }));
  }

  /** Gives a message back: ready again now, or after `delayMs`. */
  async nack(m: MessageRef, delayMs = 0): Promise<void> {
    await this.onOwner(m, (c) => c.unary(c.rpc.nack, { topic: m.topic, bindKey: m.bindKey, id: m.id, delayMs: BigInt(delayMs) }));
  }

  /** Extends a message's deadline; resolves with the new deadline (ms since the epoch). */
  async touch(m: MessageRef, ttrMs = 0): Promise<bigint> {
    const r = await this.onOwner(m, (c) => c.unary(c.rpc.touch, { topic: m.topic, bindKey: m.bindKey, id: m.id, ttrMs: BigInt(ttrMs) }));
    return r.deadlineMs;
  }

  /** Runs `fn` on the message's node, or on each node until one does not answer NOT_FOUND. */
  private async onOwner<T>(m: MessageRef, fn: (c: NodeConnection) => Promise<T>): Promise<T> {
    const owner = m.node !== undefined ? this.pool.get(m.node) : undefined;
    if (owner) return fn(owner);
    if (m.node !== undefined) throw new GmqError(Code.UNAVAILABLE, `node ${m.node} is not in the cluster any more`);
    await this.pool.waitForNode(this.failover.waitForNodesMs);
    let last: GmqError | undefined;
    for (const c of this.pool.all()) {
      try {
        return await fn(c);
      } catch (e) {
        last = e as GmqError;
        if (last.code !== Code.NOT_FOUND) throw last;
      }
    }
    throw last ?? new GmqError(Code.NOT_FOUND, `message ${m.id} not found`);
  }

  // ---- dead letters ----

  /**
   * Takes (and removes) the oldest dead letter of the queue, from any node;
   * undefined when the queue has none. Rejects when no node has the queue.
   */
  async popDead(topic: string, bindKey: string): Promise<Delivery | undefined> {
    await this.pool.waitForNode(this.failover.waitForNodesMs);
    let missing: GmqError | undefined;
    let answered = false;
    for (const c of this.pool.all()) {
      try {
        const r = await c.unary(c.rpc.popDead, { topic, bindKey });
        if (r.message) return { ...r.message, node: c.key };
      } catch (e) {
        const err = e as GmqError;
        if (err.reason === Reason.NO_DEAD_LETTERS) answered = true;
        else if (err.reason === Reason.QUEUE_NOT_FOUND || err.reason === Reason.TOPIC_NOT_FOUND) missing = err;
        else throw err;
      }
    }
    if (!answered && missing) throw missing;
    return undefined;
  }

  /** Lists dead letters of the queue on every node (up to `limit` per node). */
  async listDead(topic: string, bindKey: string, limit = 100): Promise<Delivery[]> {
    const per = await this.everyNode((c) => c.unary(c.rpc.listDead, { topic, bindKey, limit }));
    return per.flatMap((p) => (p.value?.messages ?? []).map((m: Message) => ({ ...m, node: p.node })));
  }

  /** Moves dead letters back into the queue on every node; resolves with how many moved. */
  async redrive(topic: string, bindKey: string, limit = 0): Promise<number> {
    const per = await this.everyNode((c) => c.unary(c.rpc.redrive, { topic, bindKey, limit }), true);
    return per.reduce((n, p) => n + Number(p.value?.moved ?? 0n), 0);
  }

  // ---- single messages: lookup, peek, delete, reschedule, purge ----

  /**
   * Finds a message by id on every node: each queue of the topic holding a
   * copy (or only bindKey's), with its state there. Rejects with the node's
   * NOT_FOUND (reason MESSAGE_NOT_FOUND or MESSAGE_RECLAIMED) when no node has it.
   */
  async getMessage(topic: string, id: bigint | string, opts: { bindKey?: string; includeBody?: boolean } = {}): Promise<(MessageInfo & { node: string })[]> {
    const req = { topic, bindKey: opts.bindKey ?? "", id: BigInt(id), includeBody: opts.includeBody ?? false };
    const per = await this.everyNode((c) => c.unary(c.rpc.getMessage, req));
    const found = per.flatMap((p) => (p.value?.copies ?? []).map((m) => ({ ...m, node: p.node })));
    if (found.length > 0) return found;
    throw notFoundOf(per) ?? new GmqError(Code.NOT_FOUND, `message ${id} not found`);
  }

  /**
   * Pages through a queue's ready, delayed or dead messages on every node
   * without delivering them (up to `limit` per node; pass the last id of a
   * node's page as afterId for its next page).
   */
  async peek(
    topic: string,
    bindKey: string,
    opts: { state?: "ready" | "delayed" | "dead"; limit?: number; afterId?: bigint | string; includeBody?: boolean } = {},
  ): Promise<(MessageInfo & { node: string })[]> {
    const state = { ready: PeekState.PEEK_STATE_READY, delayed: PeekState.PEEK_STATE_DELAYED, dead: PeekState.PEEK_STATE_DEAD }[opts.state ?? "ready"];
    const req = { topic, bindKey, state, limit: opts.limit ?? 100, afterId: BigInt(opts.afterId ?? 0), includeBody: opts.includeBody ?? false };
    const per = await this.everyNode((c) => c.unary(c.rpc.peek, req), true);
    return per.flatMap((p) => (p.value?.messages ?? []).map((m) => ({ ...m, node: p.node })));
  }

  /** Removes a ready, delayed or dead message for good (on whichever node holds it). Needs the admin grant. */
  async deleteMessage(topic: string, bindKey: string, id: bigint | string): Promise<void> {
    await this.onOwner({ topic, bindKey, id: BigInt(id) }, (c) => c.unary(c.rpc.delete, { topic, bindKey, id: BigInt(id) }));
  }

  /** Moves a ready or delayed message to a new due time: { atMs } or { delayMs }. Resolves with the due time. Needs admin. */
  async reschedule(topic: string, bindKey: string, id: bigint | string, due: { atMs: number } | { delayMs: number }): Promise<number> {
    const req = { topic, bindKey, id: BigInt(id), deliverAtMs: BigInt("atMs" in due ? due.atMs : 0), delayMs: BigInt("delayMs" in due ? due.delayMs : 0) };
    const r = await this.onOwner({ topic, bindKey, id: BigInt(id) }, (c) => c.unary(c.rpc.reschedule, req));
    return Number(r.dueAtMs);
  }

  /** Removes a queue's ready, delayed or dead messages (or all) on every node; resolves with the counts summed. Needs admin. */
  async purge(topic: string, bindKey: string, what: "ready" | "delayed" | "dead" | "all"): Promise<{ purged: number; ready: number; delayed: number; dead: number }> {
    const target = { ready: PurgeTarget.PURGE_TARGET_READY, delayed: PurgeTarget.PURGE_TARGET_DELAYED, dead: PurgeTarget.PURGE_TARGET_DEAD, all: PurgeTarget.PURGE_TARGET_ALL }[what];
    const per = await this.everyNode((c) => c.unary(c.rpc.purgeQueue, { topic, bindKey, what: target }), true);
    const sum = { purged: 0, ready: 0, delayed: 0, dead: 0 };
    for (const p of per) for (const k of ["purged", "ready", "delayed", "dead"] as const) sum[k] += Number(p.value?.[k] ?? 0n);
    return sum;
  }

  /**
   * The lifecycle trace of message `id` of a topic (see TraceMessage in the
   * proto): the events every node recorded for it, oldest first. Rejects
   * with the nodes' reason (TRACE_OFF, TRACE_NOT_FOUND, TOPIC_NOT_FOUND) when
   * none has any.
   */
  async trace(topic: string, id: bigint): Promise<TracedEvent[]> {
    const per = await this.everyNode((c) => c.unary(c.rpc.traceMessage, { topic, id }));
    const events = per.flatMap((p) => (p.value?.events ?? []).map((e) => ({ ...e, node: p.node })));
    if (events.length === 0) {
      // The most telling refusal: tracing off or nothing recorded, before "no such topic here".
      const rank = (e: GmqError): number => (e.reason === Reason.TRACE_OFF ? 0 : e.reason === Reason.TRACE_NOT_FOUND ? 1 : 2);
      const errors = per.flatMap((p) => (p.error ? [p.error] : [])).sort((a, b) => rank(a) - rank(b));
      if (errors[0]) throw errors[0];
    }
    // Stable: events of one node keep their recorded order.
    return events.sort((a, b) => (a.atMs < b.atMs ? -1 : a.atMs > b.atMs ? 1 : 0));
  }

  // ---- admin: applied on every node, and on nodes that join later ----

  /** Sets a topic's configuration on every node; resolves with the resulting config. */
  async config(topic: string, change: TopicConfigChange): Promise<TopicConfig | undefined> {
    const req = ConfigRequest.fromPartial({
      topic,
      autoAck: change.autoAck,
      routeMode: routeModeOf(change.routeMode),
      msgTtr: change.msgTtr ?? 0,
      msgRetry: change.msgRetry,
      retryBackoffMs: change.retryBackoffMs,
      retryBackoffMaxMs: change.retryBackoffMaxMs,
      msgTtlMs: change.msgTtlMs === undefined ? undefined : msField(change.msgTtlMs),
      dedupWindowMs: change.dedupWindowMs === undefined ? undefined : msField(change.dedupWindowMs),
      defaultPriority: change.defaultPriority,
      trace: change.trace,
      traceRetentionMs: change.traceRetentionMs === undefined ? undefined : msField(change.traceRetentionMs),
      traceRetentionBytes: change.traceRetentionBytes === undefined ? undefined : msField(change.traceRetentionBytes),
    });
    const apply = (c: NodeConnection) => c.unary(c.rpc.config, req);
    this.shape.set(`config\0${topic}`, apply);
    const per = await this.everyNode(apply, true);
    return per.find((p) => p.value)?.value?.config;
  }

  /** Declares a queue on every node (idempotent); true when some node created it. */
  async declareQueue(topic: string, bindKey: string): Promise<boolean> {
    const apply = (c: NodeConnection) => c.unary(c.rpc.declareQueue, { topic, bindKey });
    this.shape.set(`queue\0${topic}\0${bindKey}`, apply);
    const per = await this.everyNode(apply, true);
    return per.some((p) => p.value?.created);
  }

  /** Deletes a queue (with its messages and dead letters) on every node. */
  async deleteQueue(topic: string, bindKey: string): Promise<void> {
    this.shape.delete(`queue\0${topic}\0${bindKey}`);
    await this.everyNode((c) => c.unary(c.rpc.deleteQueue, { topic, bindKey }), true);
  }

  /**
   * Deletes a topic on every node with all its queues, their messages and
   * dead letters, and its configuration; resolves with the deleted queues'
   * bind keys (over all nodes, sorted). Nodes without the topic are skipped;
   * rejects with `TOPIC_NOT_FOUND` when no node had it. Open consumers of
   * its queues end (`QUEUE_NOT_FOUND`). The client stops replaying the
   * topic's config and declarations on nodes that join.
   */
  async deleteTopic(topic: string): Promise<string[]> {
    for (const key of [...this.shape.keys()]) if (key === `config\0${topic}` || key.startsWith(`queue\0${topic}\0`)) this.shape.delete(key);
    const per = await this.everyNode((c) => c.unary(c.rpc.deleteTopic, { topic }));
    const failed = per.find((p) => p.error && p.error.reason !== Reason.TOPIC_NOT_FOUND);
    if (failed?.error) throw failed.error;
    const deleted = per.filter((p) => p.value);
    if (deleted.length === 0) throw per.find((p) => p.error)?.error ?? new GmqError(Code.NOT_FOUND, `topic ${topic} does not exist`);
    return [...new Set(deleted.flatMap((p) => p.value?.bindKeys ?? []))].sort();
  }

  /** Topics known on any node, with their configuration. */
  async listTopics(): Promise<{ topic: string; config: TopicConfig | undefined }[]> {
    const per = await this.everyNode((c) => c.unary(c.rpc.listTopics, {}));
    const byName = new Map<string, TopicConfig | undefined>();
    for (const p of per) for (const t of p.value?.topics ?? []) if (!byName.has(t.topic)) byName.set(t.topic, t.config);
    return [...byName].sort(([a], [b]) => a.localeCompare(b)).map(([topic, config]) => ({ topic, config }));
  }

  /** Bind keys of a topic's queues over all nodes. */
  async listQueues(topic: string): Promise<string[]> {
    const per = await this.everyNode((c) => c.unary(c.rpc.listQueues, { topic }));
    return [...new Set(per.flatMap((p) => p.value?.bindKeys ?? []))].sort();
  }

  /** A topic's counters on each node (a node without the topic answers NOT_FOUND in `error`). */
  async stats(topic: string): Promise<PerNode<TopicStat>[]> {
    const per = await this.everyNode((c) => c.unary(c.rpc.getTopicStat, { topic }));
    return per.map((p) => ({ node: p.node, value: p.value?.stat, error: p.error }));
  }

  /** Pings every node. */
  async ping(): Promise<PerNode<PingResponse>[]> {
    return this.everyNode((c) => c.unary(c.rpc.ping, {}));
  }

  /**
   * Runs `fn` on every node. With `strict`, the first failure is thrown
   * (after all calls settle); otherwise failures are reported per node.
   */
  private async everyNode<T>(fn: (c: NodeConnection) => Promise<T>, strict = false): Promise<PerNode<T>[]> {
    await this.pool.waitForNode(this.failover.waitForNodesMs);
    const conns = this.pool.all();
    const settled = await Promise.allSettled(conns.map(fn));
    const out = settled.map((s, i): PerNode<T> => {
      const node = conns[i]!.key;
      return s.status === "fulfilled" ? { node, value: s.value } : { node, error: s.reason as GmqError };
    });
    if (strict) {
      const failed = out.find((p) => p.error);
      if (failed?.error) throw failed.error;
    }
    return out;
  }

  /** Lets pending pushes settle, closes every connection and stops watching etcd. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unlistenShape();
    await this.pool.close();
  }
}

/** The most telling NOT_FOUND among the nodes' answers (a reclaimed message over an unknown one); other failures first. */
function notFoundOf(per: PerNode<unknown>[]): GmqError | undefined {
  const errors = per.map((p) => p.error).filter((e): e is GmqError => e !== undefined);
  return errors.find((e) => e.code !== Code.NOT_FOUND) ?? errors.find((e) => e.reason === Reason.MESSAGE_RECLAIMED) ?? errors[0];
}

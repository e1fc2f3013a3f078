// The dispatcher: owns topics, routes pushes to queues, and is the one entry
// point the API layer calls. It does no I/O of its own: storage is injected.
import { systemClock, type Clock } from "./clock.js";
import { checkIdempotencyKey } from "./dedup.js";
import { BrokerError, ErrorReason, invalid } from "./errors.js";
import { guardStorage } from "./guarded-storage.js";
import { checkBindKey, checkRouteKey, checkTopic, DEFAULT_BIND_KEY, queueName } from "./names.js";
import * as ops from "./message-ops.js";
import { PubSub, type ChannelListener } from "./pubsub.js";
import { Queue, type ConsumeOptions, type Consumer, type Delivery } from "./queue.js";
import { checkRouteKeyForMode } from "./routing.js";
import { Snowflake, timeOf } from "./snowflake.js";
import type { NewMessage, PriorityLevelStats, QueueLog, Storage, StoredMessage } from "./storage.js";
import { Topic } from "./topic.js";
import { type DeliveryTarget, NO_SUBJECT, type TraceEvent, TraceKind, type TraceSubject, traceSubject } from "./trace.js";
import {
  applyConfigPatch,
  checkPriority,
  decodeTopicMeta,
  DEFAULT_TOPIC_CONFIG,
  encodeTopicMeta,
  MAX_TTL_MS,
  type TopicConfig,
} from "./topic-config.js";

export type { Delivery, Consumer, ConsumeOptions, DeliveryTarget, StoredMessage, TopicConfig, TraceEvent };

export interface BrokerLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface BrokerOptions {
  storage: Storage;
  nodeId: number;
  version: string;
  maxBodyBytes: number;
  /** Most bytes one push or batch may write over all the queues it reaches (bodies x queues); default unbounded. */
  maxPushFanoutBytes?: number;
  /** Called with the option's name when a request is refused by a limit (for metrics). */
  limitRejected?: (limit: "maxPushFanoutBytes" | "maxBodyBytes") => void;
  logger: BrokerLogger;
  /** Time for ids, deadlines, delays, expiry, the duplicate window and the queues' timers; default systemClock. Pass the storage's clock. */
  clock?: Clock;
}

export interface PushInput {
  routeKey: string;
  body: Uint8Array;
  delayMs: number;
  /** Time to live from now; 0 or absent: the topic's msg_ttl_ms. */
  ttlMs?: number;
  /** See Broker.push; absent or "": none. */
  idempotencyKey?: string;
  /** 0..9, higher delivered first; absent: the topic's defaultPriority. */
  priority?: number;
}

export interface PushResult {
  /** The new message's id, or the original's for a duplicate. */
  id: bigint;
  /** Queues that received a copy (0 for a duplicate). */
  queues: number;
  /** The idempotency key was pushed within the topic's window: nothing was stored. */
  duplicate: boolean;
}

export interface PushBatchResult {
  /** One id per input, in order; a duplicate's is the original message's. */
  ids: bigint[];
  /** How many inputs were duplicates (not stored). */
  duplicates: number;
}

export interface QueueStatView {
  bindKey: string;
  name: string;
  ready: number;
  inFlight: number;
  delayed: number;
  dead: number;
  pushed: number;
  popped: number;
  acked: number;
  redelivered: number;
  /** Discarded because they expired, since the node started. */
  expired: number;
  bytesOnDisk: number;
  /** Per priority level in use, highest first; empty while every message of the queue has priority 0. */
  priorities: PriorityLevelStats[];
}

export interface TopicStatView {
  topic: string;
  config: TopicConfig;
  pushed: number;
  popped: number;
  acked: number;
  dead: number;
  delayed: number;
  inFlight: number;
  backlog: number;
  expired: number;
  createdAtMs: number;
  queues: QueueStatView[];
}

export const MAX_DELAY_MS = 366 * 24 * 3600 * 1000;
export { MAX_TTL_MS };
export const MAX_BATCH = 10_000;
/** Most events one TraceMessage returns (a message redelivered 1000 times has about 3000). */
export const MAX_TRACE_EVENTS = 10_000;
/** How far before its id's time an event of a message is looked for (ids of another node's clock). */
const TRACE_CLOCK_SLACK_MS = 60_000;
const TOPIC_META_PREFIX = "topic.";

/** Expiry counts from the push, not from the end of a delay: a message delayed past it is never delivered. */
function newMessage(
  id: bigint,
  nowMs: number,
  routeKey: string,
  body: Uint8Array,
  delayMs: number,
  ttlMs: number,
  idempotencyKey: string,
  priority: number,
): NewMessage {
  return {
    priority,
    id,
    routeKey,
    body,
    createdAtMs: nowMs,
    deliverAtMs: delayMs > 0 ? nowMs + delayMs : 0,
    retry: 0,
    expiresAtMs: ttlMs > 0 ? nowMs + ttlMs : 0,
    idempotencyKey,
  };
}

export class Broker {
  private readonly topics = new Map<string, Topic>();
  private readonly pubsub = new PubSub();
  private readonly ids: Snowflake;
  private readonly storage: Storage;
  private readonly log: BrokerLogger;
  private readonly clock: Clock;
  readonly startedAtMs: number;
  private ready = false;

  private constructor(private readonly options: BrokerOptions) {
    this.log = options.logger;
    // Every storage call goes through the guard: store failures reach callers as BrokerErrors with a reason.
    this.storage = guardStorage(options.storage, options.logger);
    this.clock = options.clock ?? systemClock;
    this.ids = new Snowflake(options.nodeId);
    this.startedAtMs = this.clock.now();
  }

  /** Loads every topic and queue from storage and fires what fell due while the node was down. */
  static open(options: BrokerOptions): Broker {
    const broker = new Broker(options);
    broker.load();
    broker.ready = true;
    return broker;
  }

  private load(): void {
    for (const name of this.storage.metaNames()) {
      if (!name.startsWith(TOPIC_META_PREFIX)) continue;
      const topicName = name.slice(TOPIC_META_PREFIX.length);
      const data = this.storage.readMeta(name);
      if (!data) continue;
      let meta;
      try {
        meta = decodeTopicMeta(data, this.clock.now());
      } catch (err) {
        this.log.warn({ err, meta: name }, "topic metadata unreadable; using defaults");
        meta = { config: { ...DEFAULT_TOPIC_CONFIG }, createdAtMs: this.clock.now(), bindKeys: [] };
      }
      const topic = new Topic(topicName, meta.config, meta.createdAtMs);
      this.topics.set(topicName, topic);
      this.syncTrace(topic);
      for (const bindKey of meta.bindKeys) this.attachQueue(topic, bindKey, true);
    }
    // Queues whose files exist but whose declaration did not reach the metadata.
    for (const ref of this.storage.queues()) {
      let topic = this.topics.get(ref.topic);
      if (!topic) {
        topic = new Topic(ref.topic, { ...DEFAULT_TOPIC_CONFIG }, this.clock.now());
        this.topics.set(ref.topic, topic);
      }
      if (!topic.queues.has(ref.bindKey)) {
        this.attachQueue(topic, ref.bindKey, true);
        this.saveTopic(topic);
      }
    }
    for (const topic of this.topics.values()) this.loadKeys(topic);
    for (const topic of this.topics.values()) for (const q of topic.queues.values()) q.processDue();
  }

  /**
   * Rebuilds a topic's duplicate window from the keys stored with its
   * messages. Each queue log reads only the segments written within the
   * window; keys of messages whose segments were reclaimed are gone.
   */
  private loadKeys(topic: Topic): void {
    const windowMs = topic.config.dedupWindowMs;
    if (windowMs === 0) return;
    const now = this.clock.now();
    const found: { key: string; id: bigint; atMs: number }[] = [];
    for (const q of topic.queues.values()) {
      try {
        q.log.recentKeys(now - windowMs, (id, key, atMs) => found.push({ key, id, atMs }));
      } catch (err) {
        this.log.warn({ err, queue: q.name }, "cannot read idempotency keys back; duplicates of its recent pushes will not be detected");
      }
    }
    // Push order; a key reused after its window keeps its latest id.
    found.sort((a, b) => a.atMs - b.atMs);
    for (const f of found) topic.dedup.remember(f.key, f.id, f.atMs);
    topic.dedup.sweep(now, windowMs);
  }

  isReady(): boolean {
    return this.ready;
  }

  info(): { nodeId: number; version: string; startedAtMs: number } {
    return { nodeId: this.options.nodeId, version: this.options.version, startedAtMs: this.startedAtMs };
  }

  // ---- topics and queues ----

  configure(topicName: string, patch: Partial<TopicConfig>): TopicConfig {
    const topic = this.topicOrCreate(topicName);
    topic.setConfig(applyConfigPatch(topic.config, patch));
    this.syncTrace(topic);
    this.saveTopic(topic);
    return { ...topic.config };
  }

  declareQueue(topicName: string, bindKey: string): { name: string; created: boolean } {
    checkBindKey(bindKey);
    const topic = this.topicOrCreate(topicName);
    if (topic.queues.has(bindKey)) return { name: queueName(topicName, bindKey), created: false };
    this.attachQueue(topic, bindKey);
    this.saveTopic(topic);
    return { name: queueName(topicName, bindKey), created: true };
  }

  deleteQueue(topicName: string, bindKey: string): void {
    const topic = this.topicOrThrow(topicName);
    const queue = this.queueOf(topic, bindKey);
    queue.close(new BrokerError(ErrorReason.QUEUE_NOT_FOUND, `queue ${queue.name} was deleted`));
    topic.removeQueue(bindKey);
    this.saveTopic(topic);
    this.storage.dropQueue(topicName, bindKey);
  }

  /**
   * Deletes a topic with all its queues and messages (DeleteTopic, the
   * original's exitTopic); returns the deleted queues' bind keys, sorted.
   * Consumers are not waited for: each queue closes like deleteQueue's.
   */
  deleteTopic(topicName: string): string[] {
    const topic = this.topicOrThrow(topicName);
    const bindKeys = topic.bindKeys();
    for (const bindKey of bindKeys) this.deleteQueue(topicName, bindKey);
    this.topics.delete(topicName);
    topic.trace = undefined;
    this.storage.dropTrace(topicName);
    this.storage.deleteMeta(TOPIC_META_PREFIX + topicName);
    return bindKeys;
  }

  listTopics(): { topic: string; config: TopicConfig }[] {
    return [...this.topics.values()]
      .map((t) => ({ topic: t.name, config: { ...t.config } }))
      .sort((a, b) => a.topic.localeCompare(b.topic));
  }

  listQueues(topicName: string): string[] {
    return this.topicOrThrow(topicName).bindKeys();
  }

  topicStat(topicName: string): TopicStatView {
    return this.statOf(this.topicOrThrow(topicName));
  }

  /** Names of the topics, in no particular order (cheap: no stats are built). */
  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  /** A topic's stats, or undefined when there is no such topic. */
  topicStatIfAny(topicName: string): TopicStatView | undefined {
    const topic = this.topics.get(topicName);
    return topic === undefined ? undefined : this.statOf(topic);
  }

  allTopicStats(): TopicStatView[] {
    return [...this.topics.values()].map((t) => this.statOf(t)).sort((a, b) => a.topic.localeCompare(b.topic));
  }

  // ---- producing ----

  /**
   * ttlMs: time to live from now (0: the topic's msg_ttl_ms; that 0 too: never expires).
   * idempotencyKey ("" for none): when the same key was pushed to this topic
   * on this node within the topic's dedupWindowMs (counted from that push),
   * nothing is stored and the original id comes back with duplicate = true,
   * whatever the body, route key, delay or ttl; the answer still waits for
   * the original to be durable. A push that fails does not keep its key.
   * priority: 0..9, higher delivered first; undefined: the topic's defaultPriority.
   */
  async push(
    topicName: string,
    routeKey: string,
    body: Uint8Array,
    delayMs: number,
    ttlMs = 0,
    idempotencyKey = "",
    priority?: number,
  ): Promise<PushResult> {
    const r = await this.store(topicName, [{ routeKey, body, delayMs, ttlMs, idempotencyKey, priority }]);
    return { id: r.ids[0]!, queues: r.lastQueues, duplicate: r.duplicates === 1 };
  }

  /**
   * Pushes many messages to one topic. All are validated and routed before
   * any is stored, so a bad message or a route key with no queue fails the
   * whole batch; messages are appended per queue in one call each.
   * Duplicates (see push), including a key repeated within the batch, take
   * their original's id and are neither checked nor stored.
   */
  async pushBatch(topicName: string, inputs: readonly PushInput[]): Promise<PushBatchResult> {
    if (inputs.length === 0) throw invalid("messages must not be empty");
    if (inputs.length > MAX_BATCH) throw invalid(`a batch holds at most ${MAX_BATCH} messages, got ${inputs.length}`);
    const { ids, duplicates } = await this.store(topicName, inputs);
    return { ids, duplicates };
  }

  /** What push and pushBatch share; lastQueues: how many queues the last stored message reached. */
  private async store(topicName: string, inputs: readonly PushInput[]): Promise<PushBatchResult & { lastQueues: number }> {
    for (const input of inputs) checkIdempotencyKey(input.idempotencyKey ?? "");
    const topic = this.topicForPush(topicName, inputs);
    const now = this.clock.now();
    const perQueue = new Map<Queue, NewMessage[]>();
    const ids: bigint[] = new Array(inputs.length);
    let timed = false;
    const defaultTtlMs = topic.config.msgTtlMs;
    const defaultPriority = topic.config.defaultPriority;
    const windowMs = topic.config.dedupWindowMs;
    // Every push sweeps (not only keyed ones), so keys of a burst do not outlive their window for long.
    if (topic.dedup.size > 0) topic.dedup.sweep(now, windowMs);
    /** Keys of this call's new messages, to remember once they are stored. */
    let fresh: Map<string, bigint> | undefined;
    let duplicates = 0;
    let lastQueues = 0;
    /** Messages to trace once they are stored. */
    /** Messages to trace once they are stored, and the queues each reached (at the input's index; duplicates leave holes). */
    const tracedMessages: NewMessage[] | undefined = topic.trace !== undefined ? new Array(inputs.length) : undefined;
    const tracedRoutes: Queue[][] | undefined = tracedMessages && new Array(inputs.length);
    // Bounds the disk and loop time one request can take (the copies are written below, over several turns when large).
    let fanoutBytes = 0;
    const maxFanoutBytes = this.options.maxPushFanoutBytes ?? Number.POSITIVE_INFINITY;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i] as PushInput;
      const key = windowMs > 0 ? (input.idempotencyKey ?? "") : "";
      if (key !== "") {
        const original = fresh?.get(key) ?? topic.dedup.lookup(key, now, windowMs);
        if (original !== undefined) {
          ids[i] = original;
          duplicates++;
          topic.trace?.append(TraceKind.Pushed, now, original, traceSubject({ nodeId: this.options.nodeId, routeKey: input.routeKey, duplicate: true }), 0, 0);
          continue;
        }
      }
      const ttlMs = input.ttlMs ?? 0;
      // Topic.match caches REGEX and WILDCARD routes, so routing each message is cheap.
      const queues = this.routeOne(topic, input.routeKey, input.body, input.delayMs, ttlMs, input.priority);
      lastQueues = queues.length;
      fanoutBytes += input.body.length * queues.length;
      if (fanoutBytes > maxFanoutBytes) {
        this.options.limitRejected?.("maxPushFanoutBytes");
        throw new BrokerError(
          ErrorReason.FANOUT_TOO_LARGE,
          `the push would write more than ${maxFanoutBytes} bytes over the queues it reaches (--max-push-fanout-bytes): split it or route it to fewer queues`,
        );
      }
      const id = this.ids.next(now);
      ids[i] = id;
      const ttl = ttlMs > 0 ? ttlMs : defaultTtlMs;
      if (input.delayMs > 0 || ttl > 0) timed = true;
      const message = newMessage(id, now, input.routeKey, input.body, input.delayMs, ttl, key, input.priority ?? defaultPriority);
      if (key !== "") (fresh ??= new Map()).set(key, id);
      if (tracedMessages !== undefined) {
        tracedMessages[i] = message;
        tracedRoutes![i] = queues;
      }
      for (const q of queues) {
        let list = perQueue.get(q);
        if (!list) perQueue.set(q, (list = []));
        list.push(message);
      }
    }
    // Remembered before the copies are stored, so a retry racing them is a duplicate too.
    if (fresh) for (const [key, id] of fresh) topic.dedup.remember(key, id, now);
    try {
      // At once when small; spread over loop turns when large, after the topic's earlier pushes.
      // A duplicate waits there too, and for the commit: its original is then durable.
      const spread = topic.appends.append(perQueue, fanoutBytes, tracedMessages && (() => this.tracePushes(topic, tracedMessages, tracedRoutes!, now)));
      if (spread) await spread;
      topic.pushed += inputs.length - duplicates;
      await this.storage.commit();
    } catch (err) {
      if (fresh) for (const [key, id] of fresh) topic.dedup.forget(key, id);
      throw err;
    }
    for (const q of perQueue.keys()) q.afterAppend(timed);
    return { ids, duplicates, lastQueues };
  }

  private tracePushes(topic: Topic, messages: readonly (NewMessage | undefined)[], routes: readonly Queue[][], nowMs: number): void {
    const trace = topic.trace!;
    const nodeId = this.options.nodeId;
    // One subject per route: the log stores a run of pushes to the same queues as one record.
    let about: TraceSubject | undefined;
    let aboutQueues: Queue[] | undefined;
    let delayed = false;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (m === undefined) continue;
      const queues = routes[i]!;
      if (about === undefined || m.routeKey !== about.routeKey || !sameQueues(queues, aboutQueues!)) {
        about = traceSubject({ nodeId, routeKey: m.routeKey, queues: queues.map((q) => q.bindKey) });
        aboutQueues = queues;
      }
      trace.append(TraceKind.Pushed, nowMs, m.id, about, 0, 0);
      if (m.deliverAtMs > nowMs) delayed = true;
    }
    // After the pushes rather than between them, so the delays form runs too (a message's Delayed still follows its Pushed).
    if (delayed) for (const m of messages) if (m !== undefined && m.deliverAtMs > nowMs) trace.append(TraceKind.Delayed, nowMs, m.id, NO_SUBJECT, 0, m.deliverAtMs);
  }


  // ---- tracing ----

  /**
   * The recorded events of message `id` of a topic and of its copies in
   * every queue, oldest first (at most MAX_TRACE_EVENTS). Events stay
   * readable after tracing is turned off, until retention reclaims them.
   */
  traceMessage(topicName: string, id: bigint): TraceEvent[] {
    const topic = this.topicOrThrow(topicName);
    const trace = topic.trace ?? this.storage.openTrace(topic.name, traceRetentionOf(topic.config));
    const events = trace.read(id, timeOf(id) - TRACE_CLOCK_SLACK_MS, MAX_TRACE_EVENTS);
    if (events.length > 0) return events;
    if (!topic.config.trace) {
      throw new BrokerError(ErrorReason.TRACE_OFF, `tracing is off for topic ${topic.name} and nothing is recorded for message ${id}; turn it on with Config trace=true`);
    }
    throw new BrokerError(
      ErrorReason.TRACE_NOT_FOUND,
      `no trace of message ${id} in topic ${topic.name}: not pushed to this node while tracing was on, or reclaimed by the trace retention`,
    );
  }

  /** Opens the topic's trace when its tracing is on (and applies its retention), or stops recording when off. */
  private syncTrace(topic: Topic): void {
    if (!topic.config.trace) {
      topic.trace = undefined;
      return;
    }
    const retention = traceRetentionOf(topic.config);
    if (topic.trace === undefined) topic.trace = this.storage.openTrace(topic.name, retention);
    else topic.trace.setRetention(retention);
  }

  // ---- consuming ----

  async pop(topicName: string, bindKey: string, waitMs: number, signal?: AbortSignal, target?: DeliveryTarget): Promise<Delivery> {
    const queue = this.queue(topicName, bindKey);
    const m = await queue.pop(waitMs, signal, target);
    if (!m) throw new BrokerError(ErrorReason.QUEUE_EMPTY, `queue ${queue.name} has no ready message`);
    return m;
  }

  consume(
    topicName: string,
    bindKey: string,
    options: ConsumeOptions,
    deliver: (batch: Delivery[]) => void,
    onEnd: (err?: BrokerError) => void,
  ): Consumer {
    if (!Number.isInteger(options.maxInFlight) || options.maxInFlight < 0) throw invalid("max_in_flight must be a non-negative integer");
    return this.queue(topicName, bindKey).consume(options, deliver, onEnd);
  }

  /** Settles an in-flight message; resolves once the settlement is durable, like a push. */
  async ack(topicName: string, bindKey: string, id: bigint): Promise<void> {
    this.queue(topicName, bindKey).ack(id);
    await this.storage.commit();
  }

  async nack(topicName: string, bindKey: string, id: bigint, delayMs: number): Promise<void> {
    this.checkDelay(delayMs);
    this.queue(topicName, bindKey).nack(id, delayMs);
    await this.storage.commit();
  }

  async touch(topicName: string, bindKey: string, id: bigint, ttrMs: number): Promise<number> {
    if (ttrMs < 0 || ttrMs > MAX_DELAY_MS) throw invalid(`ttr_ms must be 0..${MAX_DELAY_MS}`);
    const deadline = this.queue(topicName, bindKey).touch(id, ttrMs);
    await this.storage.commit();
    return deadline;
  }

  /** Takes the oldest dead letter; resolves once its removal is durable, like an ack (a power loss then cannot bring it back). */
  async popDead(topicName: string, bindKey: string): Promise<StoredMessage> {
    const queue = this.queue(topicName, bindKey);
    const m = queue.popDead();
    if (!m) throw new BrokerError(ErrorReason.NO_DEAD_LETTERS, `queue ${queue.name} has no dead letters`);
    await this.storage.commit();
    return m;
  }

  listDead(topicName: string, bindKey: string, limit: number): StoredMessage[] {
    return this.queue(topicName, bindKey).listDead(limit);
  }

  async redrive(topicName: string, bindKey: string, limit: number): Promise<number> {
    const queue = this.queue(topicName, bindKey);
    const moved = queue.redrive(limit > 0 ? limit : Number.MAX_SAFE_INTEGER);
    await this.storage.commit();
    return moved;
  }

  // ---- single messages: lookup, peek, delete, reschedule, purge (message-ops.ts) ----

  /** Every queue of the topic holding the message (or the one named), with its state there. */
  getMessage(topicName: string, bindKey: string, id: bigint, withBody: boolean): ops.MessageView[] {
    const topic = this.topicOrThrow(topicName);
    const queues = bindKey === "" ? [...topic.queues.values()] : [this.queueOf(topic, bindKey)];
    const seen = { reclaimed: false };
    const out: ops.MessageView[] = [];
    for (const q of queues) {
      const v = ops.findIn(q, id, withBody, seen);
      if (v !== undefined) out.push(v);
    }
    if (out.length === 0) throw ops.notFound(bindKey === "" ? `any queue of topic ${topicName}` : `queue ${queueName(topicName, bindKey)}`, id, seen.reclaimed);
    return out;
  }

  peek(topicName: string, bindKey: string, state: ops.PeekState, limit: number, afterId: bigint, withBody: boolean): ops.MessageView[] {
    return ops.peek(this.queue(topicName, bindKey), state, limit, afterId, withBody);
  }

  /** Removes a ready, delayed or dead message for good; resolves once that is durable. */
  async deleteMessage(topicName: string, bindKey: string, id: bigint): Promise<void> {
    ops.deleteMessage(this.queue(topicName, bindKey), id);
    await this.storage.commit();
  }

  /** Moves a ready or delayed message to be due at atMs, or delayMs from now (within MAX_DELAY_MS of now); returns the due time. */
  async reschedule(topicName: string, bindKey: string, id: bigint, due: { atMs: number } | { delayMs: number }): Promise<number> {
    const queue = this.queue(topicName, bindKey);
    const now = this.clock.now();
    const atMs = "atMs" in due ? due.atMs : now + due.delayMs;
    if (!Number.isFinite(atMs) || Math.abs(atMs - now) > MAX_DELAY_MS) throw invalid(`the new due time must be within ${MAX_DELAY_MS} ms of now`);
    ops.reschedule(queue, id, atMs);
    await this.storage.commit();
    return atMs;
  }

  async purgeQueue(topicName: string, bindKey: string, what: ops.PurgeTarget): Promise<ops.PurgeCounts> {
    const counts = ops.purge(this.queue(topicName, bindKey), what);
    await this.storage.commit();
    return counts;
  }

  // ---- pub/sub ----

  publish(channel: string, body: Uint8Array): number {
    checkTopic(channel, "channel");
    this.checkBody(body);
    return this.pubsub.publish(channel, Buffer.from(body.buffer, body.byteOffset, body.byteLength), this.clock.now());
  }

  subscribe(channels: readonly string[], listener: ChannelListener): () => void {
    if (channels.length === 0) throw invalid("channels must name at least one channel");
    for (const ch of channels) checkTopic(ch, "channel");
    return this.pubsub.subscribe([...new Set(channels)], listener);
  }

  // ---- lifecycle ----

  /** Stops delivering, ends every waiter and consumer, and flushes storage. */
  async close(): Promise<void> {
    if (!this.ready) return;
    this.ready = false;
    // Pushes being appended over several turns finish first: each is then stored whole.
    for (const topic of this.topics.values()) await topic.appends.idle();
    const err = new BrokerError(ErrorReason.SHUTTING_DOWN, "the node is shutting down");
    for (const topic of this.topics.values()) for (const q of topic.queues.values()) q.close(err);
    await this.storage.close();
  }

  // ---- internals ----

  private routeOne(topic: Topic, routeKey: string, body: Uint8Array, delayMs: number, ttlMs: number, priority: number | undefined): Queue[] {
    this.checkPush(topic.config, routeKey, body, delayMs, ttlMs, priority);
    if (routeKey === "" && !topic.queues.has(DEFAULT_BIND_KEY)) {
      this.attachQueue(topic, DEFAULT_BIND_KEY);
      this.saveTopic(topic);
    }
    const queues = topic.match(routeKey);
    if (queues.length === 0) throw noQueueMatches(topic.name, routeKey, topic.config.routeMode);
    return queues;
  }

  /** What a pushed message must satisfy whatever the topic's queues. */
  private checkPush(config: TopicConfig, routeKey: string, body: Uint8Array, delayMs: number, ttlMs: number, priority: number | undefined): void {
    this.checkMessage(body, delayMs);
    if (priority !== undefined) checkPriority(priority);
    if (!Number.isFinite(ttlMs) || ttlMs < 0 || ttlMs > MAX_TTL_MS) throw invalid(`ttl must be 0..${MAX_TTL_MS} ms, got ${ttlMs}`);
    checkRouteKey(routeKey);
    if (routeKey !== "") checkRouteKeyForMode(config.routeMode, routeKey);
  }

  /**
   * The topic a push goes to. A push that fails leaves no trace, so a topic
   * that does not exist yet is created only when every message would be
   * stored: a new topic has no queue but the default one a push to "" makes.
   */
  private topicForPush(name: string, inputs: readonly PushInput[]): Topic {
    const topic = this.topics.get(name);
    if (topic) return topic;
    checkTopic(name);
    const config = DEFAULT_TOPIC_CONFIG;
    for (const input of inputs) {
      this.checkPush(config, input.routeKey, input.body, input.delayMs, input.ttlMs ?? 0, input.priority);
      if (input.routeKey !== "") throw noQueueMatches(name, input.routeKey, config.routeMode);
    }
    return this.topicOrCreate(name);
  }

  private checkMessage(body: Uint8Array, delayMs: number): void {
    this.checkBody(body);
    this.checkDelay(delayMs);
  }

  private checkBody(body: Uint8Array): void {
    if (body.byteLength > this.options.maxBodyBytes) {
      this.options.limitRejected?.("maxBodyBytes");
      throw new BrokerError(
        ErrorReason.BODY_TOO_LARGE,
        `body is ${body.byteLength} bytes; the node accepts at most ${this.options.maxBodyBytes}`,
      );
    }
  }

  private checkDelay(delayMs: number): void {
    if (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS) {
      throw invalid(`delay must be 0..${MAX_DELAY_MS} ms, got ${delayMs}`);
    }
  }

  private topicOrCreate(name: string): Topic {
    let topic = this.topics.get(name);
    if (topic) return topic;
    checkTopic(name);
    topic = new Topic(name, { ...DEFAULT_TOPIC_CONFIG }, this.clock.now());
    this.topics.set(name, topic);
    this.saveTopic(topic);
    return topic;
  }

  private topicOrThrow(name: string): Topic {
    const topic = this.topics.get(name);
    if (topic) return topic;
    checkTopic(name);
    throw new BrokerError(ErrorReason.TOPIC_NOT_FOUND, `topic ${name} does not exist`);
  }

  private queueOf(topic: Topic, bindKey: string): Queue {
    const q = topic.queues.get(bindKey);
    if (q) return q;
    checkBindKey(bindKey);
    throw new BrokerError(ErrorReason.QUEUE_NOT_FOUND, `queue ${queueName(topic.name, bindKey)} does not exist; declare it first`);
  }

  private queue(topicName: string, bindKey: string): Queue {
    return this.queueOf(this.topicOrThrow(topicName), bindKey);
  }

  /** `withDead` opens the dead-letter log now (at load, to count what is there); otherwise it opens when a first message dies. */
  private attachQueue(topic: Topic, bindKey: string, withDead = false): Queue {
    const log = this.storage.openQueue(topic.name, bindKey, "main");
    let dead: QueueLog | undefined;
    const queue = new Queue(topic.name, bindKey, log, () => topic.config, {
      clock: this.clock,
      warn: (obj, msg) => this.log.warn(obj, msg),
      openDead: () => (dead ??= this.storage.openQueue(topic.name, bindKey, "dead")),
      dead: () => dead,
      trace: () => topic.trace,
    });
    if (withDead) dead = this.storage.openQueue(topic.name, bindKey, "dead");
    topic.addQueue(queue);
    return queue;
  }

  private saveTopic(topic: Topic): void {
    const meta = { config: topic.config, createdAtMs: topic.createdAtMs, bindKeys: topic.bindKeys() };
    this.storage.writeMeta(TOPIC_META_PREFIX + topic.name, encodeTopicMeta(meta));
  }

  private statOf(topic: Topic): TopicStatView {
    const queues: QueueStatView[] = [];
    const sum = { popped: 0, acked: 0, dead: 0, delayed: 0, inFlight: 0, backlog: 0, expired: 0 };
    for (const q of topic.queues.values()) {
      const s = q.log.stats();
      const dead = q.deadStats();
      const view: QueueStatView = {
        bindKey: q.bindKey,
        name: q.name,
        ready: s.ready,
        inFlight: s.inFlight,
        delayed: s.delayed,
        dead: dead.ready,
        pushed: q.counters.pushed,
        popped: q.counters.popped,
        acked: q.counters.acked,
        redelivered: q.counters.redelivered,
        expired: s.expired,
        bytesOnDisk: s.bytesOnDisk + dead.bytesOnDisk,
        priorities: s.priorities ?? [],
      };
      queues.push(view);
      sum.popped += view.popped;
      sum.acked += view.acked;
      sum.dead += view.dead;
      sum.delayed += view.delayed;
      sum.inFlight += view.inFlight;
      sum.backlog += view.ready;
      sum.expired += view.expired;
    }
    queues.sort((a, b) => a.bindKey.localeCompare(b.bindKey));
    return { topic: topic.name, config: { ...topic.config }, pushed: topic.pushed, createdAtMs: topic.createdAtMs, queues, ...sum };
  }
}

function traceRetentionOf(config: TopicConfig): { maxAgeMs: number; maxBytes: number } {
  return { maxAgeMs: config.traceRetentionMs, maxBytes: config.traceRetentionBytes };
}

function noQueueMatches(topic: string, routeKey: string, routeMode: string): BrokerError {
  return new BrokerError(
    ErrorReason.NO_ROUTE,
    `no queue of topic ${topic} matches route key ${JSON.stringify(routeKey)} (mode ${routeMode}); declare one first`,
  );
}

/** Whether two routes reached the same queues (routes are cached, so mostly the same array). */
function sameQueues(a: readonly Queue[], b: readonly Queue[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// One queue: its log, its dead letters, and the consumers waiting on it.
// Deliveries are pulled from the log only when someone can take them
// (a long-polling pop or a consumer with credit), in batches, so nothing
// is held in memory beyond what is in flight.
import { MAX_TIMER_MS, type Clock, type Timer } from "./clock.js";
import { BrokerError, ErrorReason } from "./errors.js";
import { queueName } from "./names.js";
import type { NewMessage, QueueLog, StoredMessage, TraceLog } from "./storage.js";
import { retryBackoffMs, type TopicConfig } from "./topic-config.js";
import { type DeliveryTarget, TraceKind, type TraceSubject, traceSubject, UNKNOWN_TARGET } from "./trace.js";

/** A message as handed to a consumer (a pop or a consume stream): the stored message, owned by the caller. */
export interface Delivery extends StoredMessage {
  /**
   * The queue settled it as it handed it out (an auto-ack topic): nothing is
   * in flight, so there is nothing to ack, nack or touch (deadlineMs is 0).
   */
  settledAtDelivery: boolean;
}

export interface QueueEnv {
  /** Reads the time and runs the queue's timers (due work, pop waits). */
  clock: Clock;
  /** Stores failures and the like that have no caller to report to. */
  warn(obj: object, msg: string): void;
  /** Opens (creating) the dead-letter log, when a first message dies. */
  openDead(): QueueLog;
  /** The dead-letter log if it is open. */
  dead(): QueueLog | undefined;
  /** The topic's trace while its tracing is on. */
  trace(): TraceLog | undefined;
}

export interface QueueCounters {
  pushed: number;
  popped: number;
  acked: number;
  redelivered: number;
  deadLettered: number;
}

export interface ConsumeOptions {
  /** Initial credit: messages that may be in flight to this consumer at once. */
  maxInFlight: number;
  /** Cap on body bytes per delivered batch. */
  maxBatchBytes: number;
  /** Most messages in flight to this consumer at once, whatever credit is granted (default: unbounded). */
  maxCredit?: number;
  /** Who the consumer is, for the lifecycle trace. */
  target?: DeliveryTarget;
}

/** Largest batch handed to one consumer per turn, so several consumers share fairly. */
const MAX_TURN = 1000;
/** How soon due work is tried again after the store failed it. */
const DUE_RETRY_MS = 1000;

interface Waiter {
  target: DeliveryTarget;
  resolve(d: Delivery | undefined): void;
  reject(err: Error): void;
}

export class Consumer {
  readonly maxBatchBytes: number;
  readonly target: DeliveryTarget;
  private credit: number;
  private readonly maxCredit: number;
  /** Ids delivered to this consumer and not yet settled through it; released when it closes. */
  private readonly held = new Set<bigint>();
  private closed = false;

  constructor(
    private readonly queue: Queue,
    options: ConsumeOptions,
    private readonly deliver: (batch: Delivery[]) => void,
    private readonly onEnd: (err?: BrokerError) => void,
  ) {
    this.maxCredit = options.maxCredit ?? Number.MAX_SAFE_INTEGER;
    this.credit = Math.min(options.maxInFlight, this.maxCredit);
    this.maxBatchBytes = options.maxBatchBytes;
    this.target = options.target ?? UNKNOWN_TARGET;
  }

  get available(): number {
    return this.closed ? 0 : this.credit;
  }

  /** Messages delivered to this consumer and not yet settled through it. */
  get holding(): number {
    return this.held.size;
  }

  /** Adds credit: that many more messages may be delivered, as long as no more than maxCredit are then held. */
  grant(n: number): void {
    if (this.closed || n <= 0) return;
    this.credit = Math.min(this.credit + n, Math.max(0, this.maxCredit - this.held.size));
    this.queue.kick();
  }

  /** Acks messages; each id returns one unit of credit, whether or not it was still in flight. */
  ack(ids: readonly bigint[]): number {
    let settled = 0;
    for (const id of ids) {
      this.held.delete(id);
      if (this.queue.ackIfInFlight(id)) settled++;
    }
    this.grant(ids.length);
    return settled;
  }

  /** Gives messages back, after the topic's retry backoff if any (retry count unchanged); each returns one unit of credit. */
  nack(ids: readonly bigint[]): number {
    let settled = 0;
    for (const id of ids) {
      this.held.delete(id);
      if (this.queue.nackIfInFlight(id, 0)) settled++;
    }
    this.grant(ids.length);
    return settled;
  }

  /** A message this consumer holds was settled by a unary Ack or Nack: it is no longer in flight here, so its credit comes back. */
  release(id: bigint): void {
    if (this.held.delete(id)) this.grant(1);
  }

  touch(ids: readonly bigint[]): number {
    let touched = 0;
    for (const id of ids) if (this.queue.touchIfInFlight(id, 0) !== undefined) touched++;
    return touched;
  }

  /** Stops deliveries and returns what this consumer still holds to the queue at once. */
  close(err?: BrokerError): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of this.held) this.queue.releaseIfInFlight(id, 0, TraceKind.Released);
    this.held.clear();
    this.queue.removeConsumer(this);
    this.onEnd(err);
  }

  /** Called by the queue with a reserved batch. */
  take(batch: Delivery[]): void {
    this.credit -= batch.length;
    for (const m of batch) if (!m.settledAtDelivery) this.held.add(m.id);
    this.deliver(batch);
  }
}

export class Queue {
  readonly name: string;
  readonly counters: QueueCounters = { pushed: 0, popped: 0, acked: 0, redelivered: 0, deadLettered: 0 };
  private readonly waiters: Waiter[] = [];
  private readonly consumers: Consumer[] = [];
  private turn = 0;
  private drainQueued = false;
  private timer: Timer | undefined;
  private timerAtMs = Number.POSITIVE_INFINITY;
  private closed = false;
  /** What this queue's events have in common (its bind key), and that of its last delivery target's. */
  private readonly subject: TraceSubject;
  private deliveredTo: DeliveryTarget | undefined;
  private deliveredAbout: TraceSubject | undefined;

  constructor(
    readonly topic: string,
    readonly bindKey: string,
    readonly log: QueueLog,
    private readonly config: () => TopicConfig,
    private readonly env: QueueEnv,
  ) {
    this.name = queueName(topic, bindKey);
    this.subject = traceSubject({ bindKey });
    log.observe({
      requeued: (id, retry, readyAtMs) => this.traced(TraceKind.TtrExpired, id, retry, readyAtMs),
      expired: (id) => this.traced(TraceKind.Expired, id),
    });
  }

  /** Records an event of one of this queue's messages when the topic's tracing is on. */
  traced(kind: TraceKind, id: bigint, retry = 0, untilMs = 0): void {
    const trace = this.env.trace();
    if (trace === undefined) return;
    trace.append(kind, this.env.clock.now(), id, this.subject, retry, untilMs);
  }

  get autoAck(): boolean {
    return this.config().autoAck;
  }

  /** False once deleted (or the broker closed). */
  get isOpen(): boolean {
    return !this.closed;
  }

  /** Allocates what append(messages) will need (see QueueLog.reserveSpace). */
  reserveSpace(messages: readonly NewMessage[]): void {
    this.log.reserveSpace(messages);
  }

  /** Appends; the caller commits storage and then calls afterAppend(). */
  append(messages: readonly NewMessage[]): void {
    this.log.append(messages);
    this.counters.pushed += messages.length;
  }

  /** timed: some message was delayed or expires, so the log may have new due work. */
  afterAppend(timed: boolean): void {
    if (timed) this.schedule();
    this.kick();
  }

  /** Takes the next ready message now, or waits up to waitMs for one. */
  pop(waitMs: number, signal?: AbortSignal, target: DeliveryTarget = UNKNOWN_TARGET): Promise<Delivery | undefined> {
    this.assertOpen();
    const batch = this.reserve(1, Number.MAX_SAFE_INTEGER, target);
    if (batch.length > 0 || waitMs <= 0) return Promise.resolve(batch[0]);
    return new Promise<Delivery | undefined>((resolve, reject) => {
      const waiter: Waiter = {
        target,
        resolve: (d) => {
          timeout.cancel();
          signal?.removeEventListener("abort", onAbort);
          resolve(d);
        },
        reject: (err) => {
          timeout.cancel();
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      const leave = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const timeout = this.env.clock.setTimer(() => {
        leave();
        waiter.resolve(undefined);
      }, Math.min(waitMs, MAX_TIMER_MS));
      const onAbort = () => {
        leave();
        // The node aborts with its own reason (shutting down); a caller that went away gives none.
        const reason: unknown = signal?.reason;
        waiter.reject(reason instanceof BrokerError ? reason : new BrokerError(ErrorReason.CALL_CANCELLED, "the pop was cancelled by the caller"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  consume(options: ConsumeOptions, deliver: (batch: Delivery[]) => void, onEnd: (err?: BrokerError) => void): Consumer {
    this.assertOpen();
    const consumer = new Consumer(this, options, deliver, onEnd);
    this.consumers.push(consumer);
    this.kick();
    return consumer;
  }

  removeConsumer(consumer: Consumer): void {
    const i = this.consumers.indexOf(consumer);
    if (i >= 0) this.consumers.splice(i, 1);
  }

  ack(id: bigint): void {
    if (!this.ackIfInFlight(id)) throw this.notInFlight(id);
    this.settledOutsideStreams(id);
  }

  ackIfInFlight(id: bigint): boolean {
    if (!this.log.ack(id)) return false;
    this.counters.acked++;
    this.traced(TraceKind.Acked, id);
    return true;
  }

  nack(id: bigint, delayMs: number): void {
    if (!this.nackIfInFlight(id, delayMs)) throw this.notInFlight(id);
    this.settledOutsideStreams(id);
  }

  /** Whichever consumer stream holds the message gets its credit back (the list is copied: a grant may deliver, and a delivery may end a consumer). */
  private settledOutsideStreams(id: bigint): void {
    if (this.consumers.length === 0) return;
    for (const c of [...this.consumers]) c.release(id);
  }

  /** Gives a message back after delayMs or, when 0, after the wait its next redelivery would have. */
  nackIfInFlight(id: bigint, delayMs: number): boolean {
    if (delayMs > 0) return this.releaseIfInFlight(id, delayMs);
    const config = this.config();
    const retry = config.retryBackoffMs > 0 ? this.log.retryOf(id) : undefined;
    return this.releaseIfInFlight(id, retry === undefined ? 0 : retryBackoffMs(config, retry + 1));
  }

  releaseIfInFlight(id: bigint, delayMs: number, kind: TraceKind = TraceKind.Nacked): boolean {
    const readyAtMs = this.env.clock.now() + delayMs;
    if (this.closed || !this.log.release(id, readyAtMs)) return false;
    this.traced(kind, id, 0, readyAtMs);
    if (delayMs > 0) this.schedule();
    else this.kick();
    return true;
  }

  /** Extends a deadline by ttrMs (0: the topic's TTR) from now; returns the new deadline. */
  touch(id: bigint, ttrMs: number): number {
    const deadline = this.touchIfInFlight(id, ttrMs);
    if (deadline === undefined) throw this.notInFlight(id);
    return deadline;
  }

  touchIfInFlight(id: bigint, ttrMs: number): number | undefined {
    const deadline = this.env.clock.now() + (ttrMs > 0 ? ttrMs : this.config().msgTtrS * 1000);
    if (!this.log.touch(id, deadline)) return undefined;
    this.traced(TraceKind.Touched, id, 0, deadline);
    this.schedule(); // a shorter ttr_ms moves the deadline earlier than the armed timer
    return deadline;
  }

  /** The dead-letter log, if it is open. */
  deadLog(): QueueLog | undefined {
    return this.env.dead();
  }

  deadStats(): { ready: number; bytesOnDisk: number } {
    return this.env.dead()?.stats() ?? { ready: 0, bytesOnDisk: 0 };
  }

  /** Takes the oldest dead letter out for good. */
  popDead(): StoredMessage | undefined {
    const dead = this.env.dead();
    if (!dead) return undefined;
    const [m] = dead.reserve(1, Number.MAX_SAFE_INTEGER, this.env.clock.now() + 60_000);
    if (m) {
      dead.ack(m.id);
      this.traced(TraceKind.DeadPopped, m.id);
    }
    return m;
  }

  listDead(limit: number): StoredMessage[] {
    return this.env.dead()?.peek(limit) ?? [];
  }

  /** Moves up to `limit` dead letters back to ready with their retry count reset. The caller commits. */
  redrive(limit: number): number {
    const dead = this.env.dead();
    if (!dead) return 0;
    let moved = 0;
    while (moved < limit) {
      const batch = dead.reserve(Math.min(MAX_TURN, limit - moved), 4 * 1024 * 1024, this.env.clock.now() + 60_000);
      if (batch.length === 0) break;
      const now = this.env.clock.now();
      // A redriven dead letter has no expiry (dead letters never expire); it keeps its priority.
      this.log.append(batch.map((m) => ({ id: m.id, routeKey: m.routeKey, body: m.body, createdAtMs: m.createdAtMs, deliverAtMs: now, retry: 0, expiresAtMs: 0, priority: m.priority ?? 0 })));
      for (const m of batch) {
        dead.ack(m.id);
        this.traced(TraceKind.Redriven, m.id);
      }
      moved += batch.length;
    }
    if (moved > 0) this.kick();
    return moved;
  }

  /** Coalesces wake-ups: one drain per microtask however many pushes arrived. */
  kick(): void {
    if (this.drainQueued || this.closed) return;
    this.drainQueued = true;
    queueMicrotask(() => {
      this.drainQueued = false;
      this.drain();
    });
  }

  private drain(): void {
    if (this.closed) return;
    for (;;) {
      while (this.waiters.length > 0) {
        const waiter = this.waiters[0]!;
        const [m] = this.reserve(1, Number.MAX_SAFE_INTEGER, waiter.target);
        if (!m) return;
        this.waiters.shift()?.resolve(m);
      }
      let delivered = false;
      const n = this.consumers.length;
      for (let i = 0; i < n; i++) {
        const c = this.consumers[(this.turn + i) % n];
        if (!c || c.available <= 0) continue;
        const batch = this.reserve(Math.min(c.available, MAX_TURN), c.maxBatchBytes, c.target);
        if (batch.length === 0) return;
        this.turn = (this.turn + i + 1) % n;
        c.take(batch);
        delivered = true;
        break;
      }
      if (!delivered) return;
    }
  }

  private reserve(max: number, maxBytes: number, target: DeliveryTarget): Delivery[] {
    const { autoAck, msgTtrS } = this.config();
    const now = this.env.clock.now();
    const batch = this.log.reserve(max, maxBytes, now + msgTtrS * 1000, now) as Delivery[];
    if (batch.length === 0) return batch;
    this.counters.popped += batch.length;
    const trace = this.env.trace();
    if (trace !== undefined) this.traceDeliveries(trace, batch, target, autoAck, now);
    if (autoAck) {
      for (const m of batch) {
        this.log.ack(m.id);
        m.deadlineMs = 0;
        m.settledAtDelivery = true;
      }
      this.counters.acked += batch.length;
    } else {
      for (const m of batch) m.settledAtDelivery = false;
      this.schedule();
    }
    return batch;
  }

  private traceDeliveries(trace: TraceLog, batch: readonly StoredMessage[], target: DeliveryTarget, autoAck: boolean, nowMs: number): void {
    // A consumer stream delivers to the same target all along: its subject is made once.
    if (target !== this.deliveredTo) {
      this.deliveredTo = target;
      this.deliveredAbout = traceSubject({ bindKey: this.bindKey, ...target });
    }
    const about = this.deliveredAbout!;
    for (const m of batch) trace.append(TraceKind.Delivered, nowMs, m.id, about, m.retry, autoAck ? 0 : m.deadlineMs);
    // After the deliveries rather than between them, so the acks form a run too.
    if (autoAck) for (const m of batch) trace.append(TraceKind.Acked, nowMs, m.id, this.subject, 0, 0);
  }

  /** Arms the timer for the log's next due work (a delay firing or a deadline passing). */
  schedule(): void {
    if (this.closed) return;
    const due = this.log.nextDueMs();
    if (due === undefined || due >= this.timerAtMs) return;
    this.timer?.cancel();
    this.timerAtMs = due;
    // A wait past setTimeout's limit fires at the limit: onTimer finds nothing due and re-arms.
    this.timer = this.env.clock.setTimer(() => this.onTimer(), Math.min(Math.max(0, due - this.env.clock.now()), MAX_TIMER_MS));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAtMs = Number.POSITIVE_INFINITY;
    try {
      this.processDue();
    } catch (err) {
      // A journal write failed (disk full, I/O error). Nobody is waiting on a
      // timer to hear it, and a node that stops serving everything for one
      // queue's bookkeeping helps no one: log it and try again shortly.
      this.env.warn({ err, queue: this.name }, "could not process due messages; will retry");
      if (this.closed) return;
      this.timerAtMs = this.env.clock.now() + DUE_RETRY_MS;
      this.timer = this.env.clock.setTimer(() => this.onTimer(), DUE_RETRY_MS);
    }
  }

  /**
   * Fires due delays and passed deadlines; messages whose retries are used
   * up (past msg_retry) become dead letters, the others wait out the topic's
   * retry backoff.
   */
  processDue(): void {
    if (this.closed) return;
    const config = this.config();
    const backoff = config.retryBackoffMs > 0 ? (retry: number) => retryBackoffMs(config, retry) : undefined;
    const { requeued, retriesUsedUp } = this.log.processDue(this.env.clock.now(), config.msgRetry, backoff);
    this.counters.redelivered += requeued;
    if (retriesUsedUp.length > 0) {
      try {
        // Dead letters never expire: the copy drops the expiry.
        this.env.openDead().append(retriesUsedUp.map((m) => ({ ...m, deliverAtMs: 0, expiresAtMs: 0 })));
        this.log.bury(retriesUsedUp.map((m) => m.id));
        this.counters.deadLettered += retriesUsedUp.length;
        for (const m of retriesUsedUp) this.traced(TraceKind.DeadLettered, m.id, m.retry);
      } catch (err) {
        // They stay held in the main log and come back on the next pass.
        this.env.warn({ err, queue: this.name }, "could not store dead letters; will retry");
      }
    }
    this.schedule();
    this.kick();
  }

  /** Ends waiters and consumers; the logs are closed by the storage. */
  close(err: BrokerError): void {
    if (this.closed) return;
    for (const c of [...this.consumers]) c.close(err);
    this.closed = true;
    this.timer?.cancel();
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private assertOpen(): void {
    if (this.closed) throw new BrokerError(ErrorReason.QUEUE_NOT_FOUND, `queue ${this.name} was deleted`);
  }

  private notInFlight(id: bigint): BrokerError {
    return new BrokerError(
      ErrorReason.NOT_IN_FLIGHT,
      `message ${id} is not in flight in queue ${this.name} (unknown id, already acked, or its TTR passed)`,
    );
  }
}

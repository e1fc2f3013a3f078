// One node's PushStream: pushes are written to a long-lived bidirectional
// stream and each resolves when the node acknowledges its seq (once durable).
// This avoids the per-call HTTP/2 stream setup of unary Push, which caps a
// producer awaiting each push near 4.5k/s (PERFORMANCE.md, point 2).
//
// Pushes made in the same tick are coalesced into one request (its `pushes`)
// once the node has said it takes them (a reply with `takes_pushes`): one
// stream message, one HTTP/2 frame and one wake-up of the node for all of
// them, as nats.js coalesces its writes. Each push keeps its own seq, and so
// its own answer: id, duplicate flag or error. Requests go out in the order
// the pushes were made, which the node keeps.
import { status, type ClientDuplexStream } from "@grpc/grpc-js";
import type { BrokerServiceClient } from "../gen/gmq/v1/broker.js";
import { failedBeforeSend, GmqError, toGmqError } from "./errors.js";
import { SeqTable } from "./seq-table.js";
import { decodePushStreamResponse, encodePushStreamRequest, type StreamPush } from "./wire.js";

/** A push's acknowledgement: its id, the node that stored it, and whether it was a duplicate of an earlier push with the same idempotency key. */
export interface PushAck {
  id: bigint;
  node: string;
  duplicate: boolean;
}

/**
 * What a failed push becomes when the caller retries it elsewhere: the
 * push's promise takes the retry's outcome. Given per push rather than
 * chained on its promise, so a push that succeeds (nearly all) costs no
 * second promise and closure.
 */
export type PushRetry = (push: StreamPush, err: GmqError, node: string) => Promise<PushAck>;

/**
 * A push from the call to its answer: what goes on the wire and how to
 * settle it, in one object (the SDK's only allocation per push besides its
 * promise and the promise's own functions). Requests are encoded by hand
 * (wire.ts) and answers read straight off the received bytes: the generated
 * code built a request object, a writer with a fork per push and an answer
 * object per result.
 */
class Entry implements StreamPush {
  resolve: (ack: PushAck | Promise<PushAck>) => void = settleNothing;
  reject: (err: GmqError) => void = settleNothing;

  constructor(
    readonly seq: number,
    readonly topic: string,
    readonly routeKey: string,
    readonly body: Buffer,
    readonly delayMs: number,
    readonly ttlMs: number,
    readonly idempotencyKey: string,
    readonly priority: number | undefined,
    readonly retry: PushRetry | undefined,
  ) {}
}
const settleNothing = () => {};

/**
 * The entry whose promise is being made. The executor runs synchronously in
 * the Promise constructor, so one shared executor serves every push instead
 * of a closure (and its context of every argument) per push.
 */
let making: Entry;
const takeSettlers = (resolve: Entry["resolve"], reject: Entry["reject"]) => {
  making.resolve = resolve;
  making.reject = reject;
};

type PushCall = ClientDuplexStream<Buffer, Buffer>;
const PUSH_STREAM = "/gmq.v1.BrokerService/PushStream";
const asIs = (b: Buffer) => b;

/** The node's cap on pushes per request (proto: PushStreamRequest.pushes). */
const MAX_PUSHES_PER_REQUEST = 1024;

/**
 * Bytes per coalesced request (bodies, names and keys, and a framing
 * allowance per push), well under any node's
 * --max-grpc-message-bytes (64 KiB at least), so a request is never refused
 * for its size when its pushes would each have passed. A larger body goes in
 * a request of its own, and so fails alone if the node refuses it.
 */
const MAX_COALESCED_BYTES = 48 * 1024;

/** Tags, lengths, seq and times of one push inside a coalesced request, at most. */
const PUSH_FRAMING_BYTES = 48;

export class PushStream {
  private call: PushCall | undefined;
  private readonly pending = new SeqTable<Entry>();
  private seq = 0;
  private idleResolvers: (() => void)[] = [];
  /** The node of the current stream answered with takes_pushes. */
  private takesPushes = false;
  /** Pushes of this tick, written together at its end. */
  private queued: Entry[] = [];
  private queuedBytes = 0;
  private flushQueued = false;
  private readonly flushQueue = () => {
    this.flushQueued = false;
    this.flush();
  };
  private readonly answer = (seq: number, id: bigint, duplicate: boolean, errorCode: number, errorMessage: string, errorReason: string) => {
    const p = this.pending.take(seq);
    if (!p) return;
    if (errorCode === 0) p.resolve({ id, node: this.node, duplicate });
    else this.fail(p, new GmqError(errorCode, errorMessage, { node: this.node, reason: errorReason }));
  };

  constructor(
    private readonly rpc: BrokerServiceClient,
    private readonly node: string,
  ) {}

  /** Pushes awaiting their acknowledgement. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** delayMs and ttlMs: whole milliseconds, >= 0. */
  push(topic: string, routeKey: string, body: Buffer, delayMs: number, ttlMs = 0, idempotencyKey = "", priority?: number, retry?: PushRetry): Promise<PushAck> {
    let call: PushCall;
    try {
      call = this.call ?? this.open();
    } catch (err) {
      // The channel closed: nothing was sent.
      const e = toGmqError(err, this.node);
      return retry ? retry({ seq: 0, topic, routeKey, body, delayMs, ttlMs, idempotencyKey, priority }, e, this.node) : Promise.reject(e);
    }
    const e = new Entry(++this.seq, topic, routeKey, body, delayMs, ttlMs, idempotencyKey, priority, retry);
    making = e;
    const promise = new Promise<PushAck>(takeSettlers);
    this.pending.add(e);
    try {
      if (!this.takesPushes) {
        call.write(encodePushStreamRequest([e]));
        return promise;
      }
      // A UTF-16 unit is at most 3 bytes of UTF-8: an upper bound without encoding the strings.
      const bytes = body.length + 3 * (topic.length + routeKey.length + idempotencyKey.length) + PUSH_FRAMING_BYTES;
      if (this.queued.length === MAX_PUSHES_PER_REQUEST || this.queuedBytes + bytes > MAX_COALESCED_BYTES) this.flush();
      this.queued.push(e);
      this.queuedBytes += bytes;
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flushQueue);
      }
    } catch (err) {
      // As a throw in a promise's executor would: this push fails, nothing else changes.
      this.pending.take(e.seq);
      e.reject(toGmqError(err, this.node));
    }
    return promise;
  }

  /** Writes the queued pushes: one alone as before, several in one request. */
  private flush(): void {
    const q = this.queued;
    if (q.length === 0 || !this.call) return;
    this.queued = [];
    this.queuedBytes = 0;
    this.call.write(encodePushStreamRequest(q));
  }

  private open(): PushCall {
    // Requests go out encoded by hand and replies are read off their bytes (wire.ts).
    const call = this.rpc.makeBidiStreamRequest<Buffer, Buffer>(PUSH_STREAM, asIs, asIs);
    this.call = call;
    // A new stream may reach another version of the node: single pushes until it says otherwise.
    this.takesPushes = false;
    let answered = false;
    call.on("data", (res: Buffer) => {
      answered = true;
      try {
        if (decodePushStreamResponse(res, this.answer)) this.takesPushes = true;
      } catch (err) {
        // A reply this client cannot read: the outcome of what it answered is unknown.
        call.cancel();
        fail({ code: status.INTERNAL, details: `unreadable PushStream reply: ${(err as Error).message}` });
        return;
      }
      if (this.pending.size === 0) this.notifyIdle();
    });
    const fail = (err: unknown) => {
      if (this.call !== call) return;
      this.call = undefined;
      const e = toGmqError(err, this.node);
      // Pushes still queued were never written: they may go elsewhere.
      const unsent = new GmqError(status.UNAVAILABLE, `push stream to ${this.node} broke before the push was sent: ${e.message}`, { cause: err, node: this.node });
      for (const q of this.queued) {
        this.pending.take(q.seq);
        this.fail(q, unsent);
      }
      this.queued = [];
      this.queuedBytes = 0;
      // A stream that never connected sent nothing: its pushes may go elsewhere.
      const notSent = !answered && failedBeforeSend(err as { code?: number; details?: string });
      const pendingErr = notSent
        ? new GmqError(status.UNAVAILABLE, e.message, { cause: err, node: this.node })
        : new GmqError(e.code === status.OK ? status.UNAVAILABLE : e.code, `push stream to ${this.node} broke: ${e.message}`, {
            cause: err,
            node: this.node,
            outcomeUnknown: true,
          });
      for (const p of this.pending.drain()) this.fail(p, pendingErr);
      this.notifyIdle();
    };
    call.on("error", fail);
    call.on("end", () => fail({ code: status.UNAVAILABLE, details: "stream ended by the node" }));
    return call;
  }

  /** A push failed: its retry decides, or its promise rejects. */
  private fail(e: Entry, err: GmqError): void {
    if (e.retry) e.resolve(e.retry(e, err, this.node));
    else e.reject(err);
  }

  private notifyIdle(): void {
    const rs = this.idleResolvers;
    this.idleResolvers = [];
    for (const r of rs) r();
  }

  /** Resolves once no push awaits its acknowledgement. */
  idle(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((r) => this.idleResolvers.push(r));
  }

  /** Half-closes the stream once pending pushes are settled. */
  async close(): Promise<void> {
    await this.idle();
    const call = this.call;
    this.call = undefined;
    call?.end();
  }
}

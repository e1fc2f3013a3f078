// Consume, Subscribe and PushStream, written once for every protocol. A
// session takes the stream's request as the proto's message, talks to the
// broker, and writes the proto's replies to a StreamSink that the protocol's
// adapter supplies (grpc-streams.ts, http-streams.ts). Limits, defaults,
// back-pressure and how a stream ends therefore cannot differ between gRPC
// and HTTP; the adapters only frame messages and map errors.
import { BrokerError, ErrorReason, invalid, malformed, type Delivery, type DeliveryTarget, type ErrorReason as Reason } from "../broker/index.js";
import type * as pb from "../gen/gmq/v1/broker.js";
import type { CallContext } from "./handlers.js";
import { toProtoMessage } from "./messages.js";
import type { ConsumerBoard, ConsumerKindName } from "./consumers.js";
import { BATCH_FRAMING_BYTES, DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_IN_FLIGHT, MAX_PUSHES_PER_REQUEST, PUSH_STREAM_WINDOW, type StreamLimits } from "./stream-limits.js";
import { NO_STREAM_METER, type StreamMeter, type StreamMeterHandle, type StreamProtocol } from "./stream-meter.js";

/** Where a session writes; one per open stream, made by the protocol's adapter. */
export interface StreamSink<T> {
  /** Hands one reply to the transport; `sent` runs once the transport has sent it on (it left the node's buffers). */
  write(reply: T, sent?: () => void): void;
  /** Ends the stream: cleanly, or with err (any thrown value) as its final status. Called at most once. */
  end(err?: unknown): void;
}

/** What a consume session needs of the broker's consumer. */
export interface StreamConsumer {
  grant(n: number): void;
  ack(ids: readonly bigint[]): number;
  nack(ids: readonly bigint[]): number;
  touch(ids: readonly bigint[]): number;
  close(err?: BrokerError): void;
  /** Credit left: messages that may still be delivered (for the consumers list). */
  readonly available?: number;
  /** Messages delivered and not yet settled through this consumer. */
  readonly holding?: number;
}

/** Who is at the other end of a stream, and where the stream reports itself. */
export interface StreamWatch {
  protocol: StreamProtocol;
  /** The client's address as the transport gives it. */
  peer: string;
  meter: StreamMeter;
  /** Where Consume streams list themselves (GetTopicStat's consumers). */
  consumers?: ConsumerBoard;
  /** With token auth: throws once the stream's token no longer allows it (checked again when the tokens are reloaded). */
  recheck?: () => void;
}

/** No metrics, no consumers list (tests of the sessions alone). */
export const UNWATCHED: StreamWatch = { protocol: "grpc", peer: "", meter: NO_STREAM_METER };

/** What the sessions need from the broker. */
export interface StreamBroker {
  subscribe(channels: readonly string[], listener: (channel: string, body: Buffer, publishedAtMs: number) => void): () => void;
  consume(
    topic: string,
    bindKey: string,
    options: { maxInFlight: number; maxBatchBytes: number; maxCredit: number; target?: DeliveryTarget },
    deliver: (batch: Delivery[]) => void,
    onEnd: (err?: BrokerError) => void,
  ): StreamConsumer;
}

/** How to end one open stream: cleanly (shutdown) or with err (its token was revoked). */
type StreamStop = (err?: BrokerError) => void;

/**
 * Every open stream of one server, so that shutdown can end them, and a
 * reload of the auth file can end those whose token no longer allows them.
 */
export class OpenStreams {
  private readonly streams = new Map<StreamStop, (() => void) | undefined>();

  /**
   * Registers how to end a stream and, with token auth, how to check its
   * token again (throws when the token no longer allows the stream); returns
   * how to forget it.
   */
  add(stop: StreamStop, recheck?: () => void): () => void {
    this.streams.set(stop, recheck);
    return () => this.streams.delete(stop);
  }

  closeAll(): void {
    for (const stop of [...this.streams.keys()]) stop();
  }

  /** After the tokens changed: ends each stream whose token was removed or narrowed, with that refusal as its status. */
  recheck(): number {
    let ended = 0;
    for (const [stop, recheck] of [...this.streams]) {
      if (!recheck) continue;
      try {
        recheck();
      } catch (err) {
        if (!(err instanceof BrokerError)) throw err;
        stop(new BrokerError(err.reason, `the auth file was reloaded: ${err.message}; the stream is ended`, { metadata: { ...err.metadata } }));
        ended++;
      }
    }
    return ended;
  }
}

/** Bytes a reply is counted for beyond its bodies while unsent (channel or ids, framing). */
const MESSAGE_OVERHEAD_BYTES = 64;

const MiB = 1024 * 1024;
const inMiB = (n: number) => (n % MiB === 0 ? `${n / MiB} MiB` : `${n} bytes`);

/**
 * The replies of one stream not yet sent on by the transport, in bytes. A
 * client that reads slower than replies come lets them pile up in the node;
 * past the node's --max-stream-buffer-bytes its stream is ended with
 * RESOURCE_EXHAUSTED (SUBSCRIBER_TOO_SLOW, CONSUMER_TOO_SLOW) instead of
 * growing the node's memory.
 */
class SendBuffer {
  private unsentBytes = 0;

  constructor(private readonly limits: StreamLimits) {}

  /** The error ending a stream that has fallen too far behind, or undefined while it has not. */
  overflow(who: "subscriber" | "consumer"): BrokerError | undefined {
    if (this.unsentBytes <= this.limits.maxStreamBufferBytes) return undefined;
    this.limits.rejected("maxStreamBufferBytes");
    const reason = who === "subscriber" ? ErrorReason.SUBSCRIBER_TOO_SLOW : ErrorReason.CONSUMER_TOO_SLOW;
    return new BrokerError(reason, `${who} too slow: more than ${inMiB(this.limits.maxStreamBufferBytes)} of messages unread`);
  }

  /** Counts bytes handed to the transport; the returned callback uncounts them once sent. */
  add(bytes: number): () => void {
    this.unsentBytes += bytes;
    return () => {
      this.unsentBytes -= bytes;
    };
  }
}

/**
 * A subscription to pub/sub channels (at most --max-subscribe-channels of
 * them). Published messages are written as they come; a subscriber that
 * falls more than --max-stream-buffer-bytes behind is ended.
 */
export class SubscribeSession {
  private unsubscribe: (() => void) | undefined;
  private readonly buffer: SendBuffer;
  private readonly forget: () => void;
  private readonly meter: StreamMeterHandle;

  /** Throws (nothing is open then) when the request is invalid. */
  constructor(
    broker: StreamBroker,
    request: pb.SubscribeRequest,
    private readonly sink: StreamSink<pb.SubscribeResponse>,
    open: OpenStreams,
    limits: StreamLimits,
    watch: StreamWatch = UNWATCHED,
  ) {
    if (request.channels.length > limits.maxSubscribeChannels) {
      limits.rejected("maxSubscribeChannels");
      throw new BrokerError(ErrorReason.TOO_MANY_CHANNELS, `a Subscribe may name at most ${limits.maxSubscribeChannels} channels, got ${request.channels.length}`);
    }
    this.buffer = new SendBuffer(limits);
    this.unsubscribe = broker.subscribe(request.channels, (channel, body, publishedAtMs) => this.publish(channel, body, publishedAtMs));
    this.forget = open.add((err) => this.end(err), watch.recheck);
    this.meter = watch.meter.open("Subscribe", watch.protocol);
  }

  private publish(channel: string, body: Buffer, publishedAtMs: number): void {
    const overflow = this.buffer.overflow("subscriber");
    if (overflow) {
      this.end(overflow);
      return;
    }
    const sent = this.buffer.add(body.length + channel.length + MESSAGE_OVERHEAD_BYTES);
    this.meter.out(1, body.length);
    this.sink.write({ channel, body, publishedAtMs: BigInt(publishedAtMs) }, sent);
  }

  /** The client went away: unsubscribe, write nothing more. */
  close(): boolean {
    if (!this.unsubscribe) return false;
    this.unsubscribe();
    this.unsubscribe = undefined;
    this.forget();
    this.meter.close();
    return true;
  }

  /** Ends the stream (node shutdown, or the subscriber fell too far behind). */
  end(err?: BrokerError): void {
    if (this.close()) this.sink.end(err);
  }
}

/** How a consume stream's deliveries are settled, which depends on what the protocol can carry. */
export interface ConsumeMode {
  /** Ack each message once the transport has sent it (at most once: HTTP's ack=auto). */
  ackOnSend: boolean;
  /**
   * The client returns credit on the stream itself (gRPC's ConsumeUpdate,
   * acks of messages settled at delivery included). Without it (HTTP, a
   * one-way stream) a message settled at delivery returns its credit once
   * sent, since nobody will ack it.
   */
  creditOnStream: boolean;
}

/**
 * A consumer of one queue: at most max_in_flight messages (default
 * DEFAULT_MAX_IN_FLIGHT, never more than --max-consume-in-flight) are in
 * flight to it at once; acks and nacks, on the stream or through any unary
 * route, return credit. Batches carry at most max_batch_bytes of bodies
 * (clamped to --max-consume-batch-bytes and to what one gRPC message can
 * carry). A consumer more than --max-stream-buffer-bytes behind in reading is
 * ended with RESOURCE_EXHAUSTED. When the stream closes, messages it still
 * holds go back to the queue at once.
 */
export class ConsumeSession {
  private consumer: StreamConsumer | undefined;
  private ended = false;
  private readonly forget: () => void;
  private readonly topic: string;
  private readonly bindKey: string;
  private readonly buffer: SendBuffer;
  private meter: StreamMeterHandle | undefined;
  private detach: (() => void) | undefined;

  /** Throws (nothing is open then) when the queue does not exist or the request is invalid. */
  constructor(
    broker: StreamBroker,
    request: pb.ConsumeSubscribe,
    private readonly mode: ConsumeMode,
    private readonly sink: StreamSink<pb.ConsumeResponse>,
    open: OpenStreams,
    limits: StreamLimits,
    watch: StreamWatch = UNWATCHED,
    /** The name of the stream's token (with token auth), for the lifecycle trace. */
    tokenName: string | undefined = undefined,
  ) {
    this.topic = request.topic;
    this.bindKey = request.bindKey;
    this.buffer = new SendBuffer(limits);
    const maxCredit = limits.maxConsumeInFlight;
    const maxBatchBytes = Math.min(limits.maxConsumeBatchBytes, limits.maxGrpcMessageBytes - BATCH_FRAMING_BYTES);
    if (request.maxInFlight > maxCredit) limits.rejected("maxConsumeInFlight");
    if (request.maxBatchBytes > maxBatchBytes) limits.rejected("maxConsumeBatchBytes");
    // Deliveries come from a later microtask, never from inside consume().
    this.consumer = broker.consume(
      request.topic,
      request.bindKey,
      {
        maxInFlight: Math.min(request.maxInFlight || DEFAULT_MAX_IN_FLIGHT, maxCredit),
        maxBatchBytes: Math.min(request.maxBatchBytes || DEFAULT_MAX_BATCH_BYTES, maxBatchBytes),
        maxCredit,
        target: { consumer: "stream", peer: watch.peer, tokenName: tokenName ?? "" },
      },
      (batch) => this.deliver(batch),
      (err) => this.end(err),
    );
    // Ending closes the consumer, which returns every unacked message to the queue.
    this.forget = open.add((err) => this.end(err), watch.recheck);
    if (this.ended) return; // the broker ended it at once
    this.meter = watch.meter.open("Consume", watch.protocol);
    if (watch.consumers) {
      const kind: ConsumerKindName = watch.protocol === "grpc" ? "grpc-stream" : "http-stream";
      this.detach = watch.consumers.attach(this.topic, this.bindKey, {
        kind,
        peer: watch.peer,
        sinceMs: watch.consumers.now(),
        credit: () => this.consumer?.available ?? 0,
        inFlight: () => this.consumer?.holding ?? 0,
      });
    }
  }

  private deliver(batch: Delivery[]): void {
    const overflow = this.buffer.overflow("consumer");
    if (overflow) {
      // Ending closes the consumer, which returns this batch and every unacked message to the queue.
      this.end(overflow);
      return;
    }
    const messages = new Array<pb.Message>(batch.length);
    let ackOnSend: bigint[] | undefined;
    let creditOnSend = 0;
    let bytes = 0;
    let bodyBytes = 0;
    for (let i = 0; i < batch.length; i++) {
      const d = batch[i]!;
      bytes += d.body.length + d.routeKey.length + MESSAGE_OVERHEAD_BYTES;
      bodyBytes += d.body.length;
      messages[i] = toProtoMessage(this.topic, this.bindKey, d);
      if (d.settledAtDelivery) {
        if (!this.mode.creditOnStream) creditOnSend++;
      } else if (this.mode.ackOnSend) {
        (ackOnSend ??= []).push(d.id);
      }
    }
    const unsent = this.buffer.add(bytes);
    this.meter?.out(batch.length, bodyBytes);
    if (!ackOnSend && creditOnSend === 0) {
      this.sink.write({ messages }, unsent);
      return;
    }
    this.sink.write({ messages }, () => {
      unsent();
      const c = this.consumer;
      if (!c) return;
      try {
        if (ackOnSend) c.ack(ackOnSend); // each ack returns a unit of credit
      } catch (err) {
        // The ack could not be journaled (e.g. DISK_FULL). This runs in the
        // transport's write callback, where nothing else would catch it: the
        // stream ends with the error, and the consumer's close releases the
        // messages to the queue.
        this.end(err);
        return;
      }
      if (creditOnSend > 0) c.grant(creditOnSend);
    });
  }

  /** Credit and settlements sent on the stream. */
  update(u: pb.ConsumeUpdate): void {
    const c = this.consumer;
    if (!c) return;
    this.meter?.in(1, 0);
    if (u.ackIds.length > 0) c.ack(u.ackIds);
    if (u.nackIds.length > 0) c.nack(u.nackIds);
    if (u.touchIds.length > 0) c.touch(u.touchIds);
    if (u.credit > 0) c.grant(u.credit);
  }

  /** The client went away: release what it holds, write nothing more. */
  close(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.forget?.(); // unset when the broker ends the consumer from inside the constructor
    this.meter?.close(); // unset likewise
    this.detach?.();
    const c = this.consumer;
    this.consumer = undefined;
    c?.close(); // its onEnd comes back to end(), which is then a no-op
    return true;
  }

  /** Ends the stream: cleanly (the client half-closed, node shutdown) or with err. */
  end(err?: unknown): void {
    if (this.close()) this.sink.end(err);
  }
}

/** Flow control of the client's requests on a PushStream. */
export interface RequestSource {
  pause(): void;
  resume(): void;
}

/**
 * Pushes, answered one by one as each is stored (or fails), each through the
 * unary Push handler so validation and mapping are the same as Push's. Past
 * PUSH_STREAM_WINDOW unanswered pushes the node stops reading the stream.
 *
 * A request may carry several pushes (`pushes`, at most
 * MAX_PUSHES_PER_REQUEST): a client coalescing the pushes of one tick. They
 * are taken in order, exactly as separate requests would be, and from then on
 * the answers of one tick go out together in one reply's `results`, which
 * costs the node and the client one stream message instead of one per push.
 */
export class PushSession {
  private pending = 0;
  private state: "open" | "finishing" | "ended" = "open";
  private readonly forget: () => void;
  /** Topics this stream was allowed to push to, checked again when the tokens change. */
  private readonly topics = new Set<string>();
  private readonly watched: boolean;
  /** Set once the client has sent a request with `pushes`: it reads `results`. */
  private coalesce = false;
  private results: pb.PushStreamResponse[] = [];
  private flushQueued = false;
  private readonly meter: StreamMeterHandle;

  constructor(
    private readonly push: (request: pb.PushRequest, ctx: CallContext) => Promise<pb.PushResponse>,
    /** Throws when the caller may not push this (token auth). */
    private readonly authorize: (request: pb.PushStreamRequest) => void,
    /** A failed push's code (a gRPC code, as the proto says), message and reason. */
    private readonly statusOf: (err: unknown) => { code: number; message: string; reason: Reason },
    private readonly sink: StreamSink<pb.PushStreamResponse>,
    private readonly source: RequestSource,
    open: OpenStreams,
    /** With token auth, its recheck throws once the stream's token is gone (the topics pushed to are checked here too). */
    watch: StreamWatch = UNWATCHED,
  ) {
    this.meter = watch.meter.open("PushStream", watch.protocol);
    const recheck = watch.recheck;
    this.watched = recheck !== undefined;
    this.forget = open.add(
      (err) => {
        this.source.pause();
        if (err) {
          // Revoked: pushes still being stored are not answered; the status says why the stream ended.
          this.close();
          this.sink.end(err);
          return;
        }
        // On shutdown: answer every push already taken, then end, so a
        // producer knows exactly which pushes were stored.
        this.finish();
      },
      recheck &&
        (() => {
          recheck();
          for (const topic of this.topics) this.authorize({ seq: 0n, topic, routeKey: "", body: Buffer.alloc(0), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
        }),
    );
  }

  /**
   * Takes a request's pushes. Throws, having taken none of them, when the
   * request is malformed (a batch with fields of its own, a nested batch, too
   * many pushes): the stream must then end with that error.
   */
  write(req: pb.PushStreamRequest): void {
    const n = req.pushes.length;
    if (n === 0) {
      this.take(req);
      return;
    }
    if (n > MAX_PUSHES_PER_REQUEST) throw invalid(`a PushStream request carries at most ${MAX_PUSHES_PER_REQUEST} pushes, got ${n}`);
    if (req.seq !== 0n || req.topic !== "" || req.routeKey !== "" || req.body.length !== 0 || req.delayMs !== 0n || req.ttlMs !== 0n || req.idempotencyKey !== "") {
      throw malformed("a PushStream request with pushes must leave its own fields unset");
    }
    for (let i = 0; i < n; i++) if (req.pushes[i]!.pushes.length > 0) throw malformed("a push inside pushes may not carry pushes");
    this.coalesce = true;
    for (let i = 0; i < n; i++) this.take(req.pushes[i]!);
  }

  private take(req: pb.PushStreamRequest): void {
    this.pending++;
    this.meter.in(1, req.body.length);
    if (this.pending >= PUSH_STREAM_WINDOW) this.source.pause();
    let result: Promise<pb.PushResponse>;
    try {
      this.authorize(req);
      result = this.push(req, {});
    } catch (err) {
      result = Promise.reject(err);
    }
    const seq = req.seq;
    result.then(
      (r) => {
        // Remembered once stored, so the set holds only topics that exist on the node.
        if (this.watched) this.topics.add(req.topic);
        this.reply(answer(seq, r.id, r.duplicate));
      },
      (err: unknown) => {
        const s = this.statusOf(err);
        this.reply({ seq, id: 0n, errorCode: s.code, errorMessage: s.message, errorReason: s.reason, duplicate: false, results: [], takesPushes: false });
      },
    );
  }

  private reply(res: pb.PushStreamResponse): void {
    this.pending--;
    this.meter.out(1, 0);
    if (this.coalesce) {
      // Answers settled in this tick leave together once it is over.
      this.results.push(res);
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(() => this.flush());
      }
    } else {
      res.takesPushes = true;
      this.sink.write(res);
    }
    if (this.pending < PUSH_STREAM_WINDOW / 2) this.source.resume();
    this.endIfDone();
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.results.length === 0) return;
    const results = this.results;
    this.results = [];
    this.sink.write({ seq: 0n, id: 0n, errorCode: 0, errorMessage: "", errorReason: "", duplicate: false, results, takesPushes: true });
  }

  /** The client half-closed (or the node is shutting down): end once every push taken is answered. */
  finish(): void {
    if (this.state !== "open") return;
    this.state = "finishing";
    this.endIfDone();
  }

  /** The stream is gone: nothing more is ended. */
  close(): void {
    if (this.state === "ended") return;
    this.meter.close();
    this.state = "ended";
    this.forget();
  }

  private endIfDone(): void {
    if (this.state !== "finishing" || this.pending > 0) return;
    this.flush();
    this.close();
    this.sink.end();
  }
}

/** A stored push's answer (an entry of `results`, or a reply of its own once takesPushes is set). */
function answer(seq: bigint, id: bigint, duplicate: boolean): pb.PushStreamResponse {
  return { seq, id, errorCode: 0, errorMessage: "", errorReason: "", duplicate, results: [], takesPushes: false };
}

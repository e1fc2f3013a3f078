// Consume, Subscribe and PushStream, written once for every protocol. A
// session takes the stream's request as the proto's message, talks to the
// broker, and writes the proto's replies to a StreamSink that the protocol's
// adapter supplies (grpc-streams.ts, http-streams.ts). Limits, defaults,
// back-pressure and how a stream ends therefore cannot differ between gRPC
// and HTTP; the adapters only frame messages and map errors.
import { BrokerError, ErrorReason, type Delivery, type DeliveryTarget, type ErrorReason as Reason } from "../broker/index.js";
import type * as pb from "../gen/gmq/v1/broker.js";
import type { CallContext } from "./handlers.js";
import { toProtoMessage } from "./messages.js";
import { BATCH_FRAMING_BYTES, DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_IN_FLIGHT, PUSH_STREAM_WINDOW, type StreamLimits } from "./stream-limits.js";

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
}

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

/** Every open stream of one server, so that shutdown can end them. */
export class OpenStreams {
  private readonly stops = new Set<() => void>();

  /** Registers how to end a stream; returns how to forget it. */
  add(stop: () => void): () => void {
    this.stops.add(stop);
    return () => this.stops.delete(stop);
  }

  closeAll(): void {
    for (const stop of [...this.stops]) stop();
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

  /** Throws (nothing is open then) when the request is invalid. */
  constructor(
    broker: StreamBroker,
    request: pb.SubscribeRequest,
    private readonly sink: StreamSink<pb.SubscribeResponse>,
    open: OpenStreams,
    limits: StreamLimits,
  ) {
    if (request.channels.length > limits.maxSubscribeChannels) {
      limits.rejected("maxSubscribeChannels");
      throw new BrokerError(ErrorReason.TOO_MANY_CHANNELS, `a Subscribe may name at most ${limits.maxSubscribeChannels} channels, got ${request.channels.length}`);
    }
    this.buffer = new SendBuffer(limits);
    this.unsubscribe = broker.subscribe(request.channels, (channel, body, publishedAtMs) => this.publish(channel, body, publishedAtMs));
    this.forget = open.add(() => this.end());
  }

  private publish(channel: string, body: Buffer, publishedAtMs: number): void {
    const overflow = this.buffer.overflow("subscriber");
    if (overflow) {
      this.end(overflow);
      return;
    }
    const sent = this.buffer.add(body.length + channel.length + MESSAGE_OVERHEAD_BYTES);
    this.sink.write({ channel, body, publishedAtMs: BigInt(publishedAtMs) }, sent);
  }

  /** The client went away: unsubscribe, write nothing more. */
  close(): boolean {
    if (!this.unsubscribe) return false;
    this.unsubscribe();
    this.unsubscribe = undefined;
    this.forget();
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

  /** Throws (nothing is open then) when the queue does not exist or the request is invalid. */
  constructor(
    broker: StreamBroker,
    request: pb.ConsumeSubscribe,
    private readonly mode: ConsumeMode,
    private readonly sink: StreamSink<pb.ConsumeResponse>,
    open: OpenStreams,
    limits: StreamLimits,
    /** Who consumes (peer, token name), for the lifecycle trace. */
    who: { peer: string; tokenName: string | undefined } = { peer: "", tokenName: undefined },
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
        target: { consumer: "stream", peer: who.peer, tokenName: who.tokenName ?? "" },
      },
      (batch) => this.deliver(batch),
      (err) => this.end(err),
    );
    this.forget = open.add(() => this.end());
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
    for (let i = 0; i < batch.length; i++) {
      const d = batch[i]!;
      bytes += d.body.length + d.routeKey.length + MESSAGE_OVERHEAD_BYTES;
      messages[i] = toProtoMessage(this.topic, this.bindKey, d);
      if (d.settledAtDelivery) {
        if (!this.mode.creditOnStream) creditOnSend++;
      } else if (this.mode.ackOnSend) {
        (ackOnSend ??= []).push(d.id);
      }
    }
    const unsent = this.buffer.add(bytes);
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
 */
export class PushSession {
  private pending = 0;
  private state: "open" | "finishing" | "ended" = "open";
  private readonly forget: () => void;

  constructor(
    private readonly push: (request: pb.PushRequest, ctx: CallContext) => Promise<pb.PushResponse>,
    /** Throws when the caller may not push this (token auth). */
    private readonly authorize: (request: pb.PushStreamRequest) => void,
    /** A failed push's code (a gRPC code, as the proto says), message and reason. */
    private readonly statusOf: (err: unknown) => { code: number; message: string; reason: Reason },
    private readonly sink: StreamSink<pb.PushStreamResponse>,
    private readonly source: RequestSource,
    open: OpenStreams,
  ) {
    // On shutdown: stop reading, answer every push already taken, then end,
    // so a producer knows exactly which pushes were stored.
    this.forget = open.add(() => {
      this.source.pause();
      this.finish();
    });
  }

  write(req: pb.PushStreamRequest): void {
    this.pending++;
    if (this.pending >= PUSH_STREAM_WINDOW) this.source.pause();
    let result: Promise<pb.PushResponse>;
    try {
      this.authorize(req);
      result = this.push(req, {});
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (r) => this.reply({ seq: req.seq, id: r.id, errorCode: 0, errorMessage: "", errorReason: "", duplicate: r.duplicate }),
      (err: unknown) => {
        const s = this.statusOf(err);
        this.reply({ seq: req.seq, id: 0n, errorCode: s.code, errorMessage: s.message, errorReason: s.reason, duplicate: false });
      },
    );
  }

  private reply(res: pb.PushStreamResponse): void {
    this.pending--;
    this.sink.write(res);
    if (this.pending < PUSH_STREAM_WINDOW / 2) this.source.resume();
    this.endIfDone();
  }

  /** The client half-closed (or the node is shutting down): end once every push taken is answered. */
  finish(): void {
    if (this.state !== "open") return;
    this.state = "finishing";
    this.endIfDone();
  }

  /** The stream is gone: nothing more is ended. */
  close(): void {
    this.state = "ended";
    this.forget();
  }

  private endIfDone(): void {
    if (this.state !== "finishing" || this.pending > 0) return;
    this.close();
    this.sink.end();
  }
}

// One node's PushStream: pushes are written to a long-lived bidirectional
// stream and each resolves when the node acknowledges its seq (once durable).
// This avoids the per-call HTTP/2 stream setup of unary Push, which caps a
// producer awaiting each push near 4.5k/s (PERFORMANCE.md, point 2).
import { status, type ClientDuplexStream } from "@grpc/grpc-js";
import type { BrokerServiceClient, PushStreamRequest, PushStreamResponse } from "../gen/gmq/v1/broker.js";
import { failedBeforeSend, GmqError, toGmqError } from "./errors.js";

/** A push's acknowledgement: its id, and whether it was a duplicate of an earlier push with the same idempotency key. */
export interface PushAck {
  id: bigint;
  duplicate: boolean;
}

interface Pending {
  resolve(ack: PushAck): void;
  reject(err: GmqError): void;
}

export class PushStream {
  private call: ClientDuplexStream<PushStreamRequest, PushStreamResponse> | undefined;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private idleResolvers: (() => void)[] = [];

  constructor(
    private readonly rpc: BrokerServiceClient,
    private readonly node: string,
  ) {}

  /** Pushes awaiting their acknowledgement. */
  get inFlight(): number {
    return this.pending.size;
  }

  push(topic: string, routeKey: string, body: Buffer, delayMs: bigint, ttlMs = 0n, idempotencyKey = "", priority?: number): Promise<PushAck> {
    let call: ClientDuplexStream<PushStreamRequest, PushStreamResponse>;
    try {
      call = this.call ?? this.open();
    } catch (err) {
      return Promise.reject(toGmqError(err, this.node)); // the channel closed: nothing was sent
    }
    const seq = ++this.seq;
    return new Promise<PushAck>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      call.write({ seq: BigInt(seq), topic, routeKey, body, delayMs, ttlMs, idempotencyKey, priority });
    });
  }

  private open(): ClientDuplexStream<PushStreamRequest, PushStreamResponse> {
    const call = this.rpc.pushStream();
    this.call = call;
    let answered = false;
    call.on("data", (res: PushStreamResponse) => {
      answered = true;
      const seq = Number(res.seq);
      const p = this.pending.get(seq);
      if (!p) return;
      this.pending.delete(seq);
      if (res.errorCode === 0) p.resolve({ id: res.id, duplicate: res.duplicate });
      else p.reject(new GmqError(res.errorCode, res.errorMessage, { node: this.node, reason: res.errorReason }));
      if (this.pending.size === 0) this.notifyIdle();
    });
    const fail = (err: unknown) => {
      if (this.call !== call) return;
      this.call = undefined;
      const e = toGmqError(err, this.node);
      // A stream that never connected sent nothing: its pushes may go elsewhere.
      const notSent = !answered && failedBeforeSend(err as { code?: number; details?: string });
      const pendingErr = notSent
        ? new GmqError(status.UNAVAILABLE, e.message, { cause: err, node: this.node })
        : new GmqError(e.code === status.OK ? status.UNAVAILABLE : e.code, `push stream to ${this.node} broke: ${e.message}`, {
            cause: err,
            node: this.node,
            outcomeUnknown: true,
          });
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(pendingErr);
      this.notifyIdle();
    };
    call.on("error", fail);
    call.on("end", () => fail({ code: status.UNAVAILABLE, details: "stream ended by the node" }));
    return call;
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

// Consumes one queue from every node that holds it: one Consume stream per
// node with credit = maxInFlight, acks (and nacks) batched onto the stream of
// the node the message came from. Nodes that join later get a stream too;
// a stream that fails is reopened with backoff while its node is registered.
// An error retrying cannot fix (see retryable) ends the consumer with that
// error once every node has refused it; while another node still serves, the
// refusing node is retried quietly (it may be new and not yet have the queue).
import { status, type ClientDuplexStream } from "@grpc/grpc-js";
import { AckRequest, ConsumeRequest } from "../gen/gmq/v1/broker.js";
import type { NodeConnection } from "./connection.js";
import { GmqError, toGmqError } from "./errors.js";
import type { NodePool } from "./pool.js";
import { decodeConsumeResponse, encodeSettlements, type Delivery } from "./wire.js";

export type { Delivery };

/** What the SDK writes on a Consume stream: the subscribe request, or settlements already encoded. */
type ConsumeWrite = ConsumeRequest | Buffer;
type ConsumeCall = ClientDuplexStream<ConsumeWrite, Delivery[]>;

/** Processes one message. Resolve to ack it; throw (or reject) to nack it. */
export type Handler = (msg: Delivery) => void | Promise<void>;

export interface ConsumeOptions {
  /** Messages in flight per node at once (the stream's credit). Default 100. */
  maxInFlight?: number;
  /** Cap on body bytes per response. Default: the node's (1 MiB). */
  maxBatchBytes?: number;
  /**
   * What a failing handler does to its message: "nack" gives it back at once,
   * or after the topic's retry backoff if it has one (default); "leave" leaves
   * it in flight, so the topic's TTR redelivers it with its retry count
   * increased and, past msg_retry, dead-letters it.
   */
  onError?: "nack" | "leave";
  /**
   * Called with each transient stream error (UNAVAILABLE, a stream the node
   * ended, …); the consumer retries by itself. Errors retrying cannot fix are
   * not reported here: when every node refuses, {@link Consumer.done} rejects.
   */
  onStreamError?: (err: GmqError, node: string) => void;
}

/**
 * Is a failed Consume stream worth reopening? Not when the node refused it for
 * a reason that stays true: no or a bad token, a token without the grant, no
 * such topic or queue (NOT_FOUND on subscribe), or a request the node rejects.
 * Decided by gRPC code only.
 */
export function retryable(code: number): boolean {
  switch (code) {
    case status.PERMISSION_DENIED:
    case status.UNAUTHENTICATED:
    case status.NOT_FOUND:
    case status.INVALID_ARGUMENT:
      return false;
    default:
      return true;
  }
}

const minBackoffMs = 200;
const maxBackoffMs = 5000;

class NodeConsumer {
  private call: ConsumeCall | undefined;
  private acks: bigint[] = [];
  private nacks: bigint[] = [];
  private flushScheduled = false;
  private backoffMs = minBackoffMs;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  running = 0;
  /** Set when the node refused the stream with an error retrying cannot fix; cleared by a delivery. */
  failed: GmqError | undefined;

  constructor(
    readonly conn: NodeConnection,
    private readonly owner: Consumer,
  ) {}

  start(): void {
    if (this.stopped || this.conn.closed) return;
    const o = this.owner;
    let call: ConsumeCall;
    try {
      // Responses are decoded straight into Deliveries, settlements sent pre-encoded (wire.ts).
      const node = this.conn.key;
      call = this.conn.rpc.makeBidiStreamRequest<ConsumeWrite, Delivery[]>(
        "/gmq.v1.BrokerService/Consume",
        (req) => (Buffer.isBuffer(req) ? req : Buffer.from(ConsumeRequest.encode(req).finish())),
        (bytes) => decodeConsumeResponse(bytes, node),
      );
    } catch {
      return; // the channel closed: the node left
    }
    this.call = call;
    call.write({
      kind: {
        $case: "subscribe",
        value: { topic: o.topic, bindKey: o.bindKey, maxInFlight: o.maxInFlight, maxBatchBytes: o.opts.maxBatchBytes ?? 0 },
      },
    });
    call.on("data", (batch: Delivery[]) => {
      this.backoffMs = minBackoffMs;
      this.failed = undefined;
      for (let i = 0; i < batch.length; i++) this.dispatch(call, batch[i]!);
    });
    const retry = (err: unknown) => {
      if (this.call !== call) return;
      this.call = undefined;
      if (this.stopped) return;
      const e = toGmqError(err, this.conn.key);
      if (retryable(e.code)) o.opts.onStreamError?.(e, this.conn.key);
      else {
        this.failed = e;
        o.nodeFailed();
        if (o.isClosed) return;
        // Another node still serves the consumer: this one may have joined
        // before the client replayed the queue's declaration on it, so it is
        // tried again (quietly) rather than given up.
      }
      this.timer = setTimeout(() => this.start(), this.backoffMs * (0.75 + Math.random() / 2));
      this.backoffMs = Math.min(this.backoffMs * 2, maxBackoffMs);
    };
    call.on("error", retry);
    call.on("end", () => retry({ code: status.UNAVAILABLE, details: "consume stream ended by the node" }));
  }

  private dispatch(call: ConsumeCall, d: Delivery): void {
    this.running++;
    let p: void | Promise<void>;
    try {
      p = this.owner.handler(d);
    } catch (err) {
      this.settle(call, d, false, err);
      return;
    }
    if (p && typeof (p as Promise<void>).then === "function") {
      (p as Promise<void>).then(
        () => this.settle(call, d, true),
        (err) => this.settle(call, d, false, err),
      );
    } else this.settle(call, d, true);
  }

  private settle(call: ConsumeCall, m: Delivery, ok: boolean, err?: unknown): void {
    this.running--;
    this.owner.settled(ok, err);
    if (!ok && this.owner.opts.onError === "leave") return;
    if (this.call === call) {
      (ok ? this.acks : this.nacks).push(m.id);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        queueMicrotask(() => this.flush());
      }
    } else if (ok) {
      // The stream it came on is gone: ack over a unary call to the same node.
      this.conn.unary(this.conn.rpc.ack, AckRequest.fromPartial({ topic: m.topic, bindKey: m.bindKey, id: m.id })).catch(() => undefined);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (!this.call || (this.acks.length === 0 && this.nacks.length === 0)) return;
    this.call.write(encodeSettlements(this.acks, this.nacks));
    this.acks = [];
    this.nacks = [];
  }

  /**
   * Sends the last acks, half-closes the stream and resolves once the node has
   * closed its side (so the acks were applied), or after `graceMs` (then cancels).
   */
  stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.flush();
    const call = this.call;
    this.call = undefined;
    if (!call) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        call.cancel();
        resolve();
      }, graceMs);
      call.once("status", done);
      call.once("error", done);
      call.once("close", done);
      call.end();
    });
  }
}

/** A running consumer; see GmqClient.consume. */
export class Consumer {
  private readonly perNode = new Map<string, NodeConsumer>();
  private readonly unlisten: () => void;
  private closed = false;
  private failure: GmqError | undefined;
  private end!: { resolve: () => void; reject: (err: GmqError) => void };
  /**
   * Settles when the consumer ends: resolves after {@link Consumer.close};
   * rejects with the error (a GmqError) when every node it consumed from
   * refused the stream with an error retrying cannot fix (PERMISSION_DENIED,
   * UNAUTHENTICATED, NOT_FOUND for an unknown topic or queue, INVALID_ARGUMENT).
   * The consumer is closed by then.
   */
  readonly done: Promise<void>;
  /** Messages handled successfully (acked). */
  acked = 0;
  /** Messages whose handler failed. */
  failed = 0;
  readonly maxInFlight: number;

  constructor(
    pool: NodePool,
    readonly topic: string,
    readonly bindKey: string,
    readonly handler: Handler,
    readonly opts: ConsumeOptions,
  ) {
    this.maxInFlight = opts.maxInFlight ?? 100;
    this.done = new Promise<void>((resolve, reject) => (this.end = { resolve, reject }));
    // Handled here so a caller that never looks at `done` gets no unhandled rejection.
    this.done.catch(() => undefined);
    this.unlisten = pool.listen({
      join: (conn) => {
        if (this.closed) return;
        const nc = new NodeConsumer(conn, this);
        this.perNode.set(conn.key, nc);
        nc.start();
      },
      leave: (conn) => {
        const nc = this.perNode.get(conn.key);
        if (nc?.conn === conn) {
          this.perNode.delete(conn.key);
          void nc.stop();
          this.nodeFailed();
        }
      },
    });
  }

  /** @internal */
  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal Ends the consumer with the first refusal once every node refused it for good. */
  nodeFailed(): void {
    const all = [...this.perNode.values()];
    const first = all.find((n) => n.failed)?.failed;
    if (this.closed || !first || all.some((n) => !n.failed)) return;
    this.failure = first;
    void this.close();
  }

  /** Keys of the nodes this consumer has a stream to (or is reconnecting to). */
  nodes(): string[] {
    return [...this.perNode.keys()];
  }

  /** @internal */
  settled(ok: boolean, _err?: unknown): void {
    if (ok) this.acked++;
    else this.failed++;
  }

  /** Stops taking messages, waits (up to `timeoutMs`) for running handlers, and closes the streams. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    const deadline = Date.now() + timeoutMs;
    const all = [...this.perNode.values()];
    while (all.some((n) => n.running > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.perNode.clear();
    await Promise.all(all.map((n) => n.stop()));
    if (this.failure) this.end.reject(this.failure);
    else this.end.resolve();
  }
}

// A pub/sub subscription on every node: a publish reaches one node (the one the
// producer's balancer picked), so a subscriber listens on all of them,
// including nodes that join later, and reconnects with backoff.
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { SubscribeResponse } from "../gen/gmq/v1/broker.js";
import type { NodeConnection } from "./connection.js";
import { toGmqError, type GmqError } from "./errors.js";
import type { NodePool } from "./pool.js";

/** A message published to a channel, with the node it came through. */
export interface Publication extends SubscribeResponse {
  node: string;
}

export class Subscription {
  private readonly calls = new Map<string, { call?: ClientReadableStream<SubscribeResponse>; timer?: NodeJS.Timeout; stopped: boolean }>();
  private readonly unlisten: () => void;

  constructor(
    pool: NodePool,
    private readonly channels: string[],
    private readonly handler: (p: Publication) => void,
    private readonly onError?: (err: GmqError, node: string) => void,
  ) {
    this.unlisten = pool.listen({
      join: (conn) => {
        const state = { stopped: false } as { call?: ClientReadableStream<SubscribeResponse>; timer?: NodeJS.Timeout; stopped: boolean };
        this.calls.set(conn.key, state);
        this.open(conn, state, 200);
      },
      leave: (conn) => this.stop(conn.key),
    });
  }

  private open(conn: NodeConnection, state: { call?: ClientReadableStream<SubscribeResponse>; timer?: NodeJS.Timeout; stopped: boolean }, backoffMs: number): void {
    if (state.stopped || conn.closed) return;
    let call: ClientReadableStream<SubscribeResponse>;
    try {
      call = conn.rpc.subscribe({ channels: this.channels });
    } catch {
      return; // the channel closed: the node left
    }
    state.call = call;
    let next = backoffMs;
    call.on("data", (r: SubscribeResponse) => {
      next = 200;
      const p = r as Publication;
      p.node = conn.key;
      this.handler(p);
    });
    let done = false;
    const retry = (err: unknown) => {
      if (done || state.stopped) return;
      done = true;
      this.onError?.(toGmqError(err, conn.key), conn.key);
      state.timer = setTimeout(() => this.open(conn, state, Math.min(next * 2, 5000)), next);
    };
    call.on("error", retry);
    call.on("end", () => retry({ code: 14, details: "subscription ended by the node" }));
  }

  private stop(key: string): void {
    const s = this.calls.get(key);
    if (!s) return;
    s.stopped = true;
    clearTimeout(s.timer);
    s.call?.cancel();
    this.calls.delete(key);
  }

  /** Ends the subscription on every node. */
  close(): void {
    this.unlisten();
    for (const k of [...this.calls.keys()]) this.stop(k);
  }
}

// Who consumes each queue right now: every open Consume stream (gRPC or
// HTTP) and every Pop waiting for a message, with its peer, credit, messages
// in flight and when it attached. The stream layer and the Pop handler
// attach and detach; GetTopicStat and the dashboard read it. Entries live
// exactly as long as their stream or call, so the board is bounded by the
// node's stream and connection limits.
import { ConsumerKind, type ConsumerInfo } from "../gen/gmq/v1/broker.js";

export type ConsumerKindName = "grpc-stream" | "http-stream" | "long-poll";

export interface AttachedConsumer {
  readonly kind: ConsumerKindName;
  readonly peer: string;
  readonly sinceMs: number;
  /** Messages that may still be delivered to it. */
  credit(): number;
  /** Messages delivered to it and not yet settled. */
  inFlight(): number;
}

const KIND: Record<ConsumerKindName, ConsumerKind> = {
  "grpc-stream": ConsumerKind.CONSUMER_KIND_GRPC_STREAM,
  "http-stream": ConsumerKind.CONSUMER_KIND_HTTP_STREAM,
  "long-poll": ConsumerKind.CONSUMER_KIND_LONG_POLL,
};

const keyOf = (topic: string, bindKey: string) => `${topic}\0${bindKey}`;

export class ConsumerBoard {
  private readonly byQueue = new Map<string, Set<AttachedConsumer>>();
  private attached = 0;

  constructor(readonly now: () => number = Date.now) {}

  /** Lists a consumer of a queue; returns how to take it off (idempotent). */
  attach(topic: string, bindKey: string, consumer: AttachedConsumer): () => void {
    const key = keyOf(topic, bindKey);
    let set = this.byQueue.get(key);
    if (!set) this.byQueue.set(key, (set = new Set()));
    set.add(consumer);
    this.attached++;
    return () => {
      if (!set.delete(consumer)) return;
      this.attached--;
      if (set.size === 0 && this.byQueue.get(key) === set) this.byQueue.delete(key);
    };
  }

  /** Consumers attached to the whole node. */
  get size(): number {
    return this.attached;
  }

  /** A queue's consumers, oldest first, as the proto carries them. */
  of(topic: string, bindKey: string): ConsumerInfo[] {
    const set = this.byQueue.get(keyOf(topic, bindKey));
    if (!set) return [];
    return [...set].map((c) => ({
      kind: KIND[c.kind],
      peer: c.peer,
      credit: Math.max(0, c.credit()),
      inFlight: c.inFlight(),
      sinceMs: BigInt(c.sinceMs),
    }));
  }
}

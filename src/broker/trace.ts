// The lifecycle trace of a message: what the broker records, for topics with
// TopicConfig.trace on, at each point of a message's life (and of its copies
// in every queue it reached), in the order it happened. The store keeps the
// events (storage.ts TraceLog); the broker only says what happened.

/** What happened to a message. Values are stored on disk: never renumber. */
export const TraceKind = {
  /** Stored by a push: routeKey, nodeId, queues it reached; duplicate: an idempotency repeat (nothing stored). */
  Pushed: 1,
  /** Pushed with a delay: ready at untilMs. */
  Delayed: 2,
  /** Handed to a consumer (consumer, peer, tokenName) with retry count retry; in flight until untilMs (0: auto-acked). */
  Delivered: 3,
  /** Its deadline moved to untilMs. */
  Touched: 4,
  /** Given back by its consumer; ready again at untilMs. */
  Nacked: 5,
  /** Its TTR passed unacked: redelivery number retry, ready at untilMs (0: at once). */
  TtrExpired: 6,
  /** Retries used up (retry): moved to the queue's dead letters. */
  DeadLettered: 7,
  /** Moved from the dead letters back to ready, retry count reset. */
  Redriven: 8,
  /** Its time to live passed before a delivery: discarded. */
  Expired: 9,
  /** Settled for good by an ack (or at delivery on an auto-ack topic). */
  Acked: 10,
  /** Removed by an operator before delivery (Delete). */
  Cancelled: 11,
  /** Its due time moved to untilMs by an operator (Reschedule). */
  Rescheduled: 12,
  /** Given back because its consumer stream ended while it was in flight; ready again at once. */
  Released: 13,
  /** Taken out of the dead letters for good (PopDead). */
  DeadPopped: 14,
} as const;
export type TraceKind = (typeof TraceKind)[keyof typeof TraceKind];

export type ConsumerKind = "" | "pop" | "stream";

/** Who a delivery goes to, as the API layer knows it. */
export interface DeliveryTarget {
  consumer: ConsumerKind;
  /** The peer's address ("ip:port"), "" if unknown. */
  peer: string;
  /** The token's name when the node has auth on, else "". */
  tokenName: string;
}

export const UNKNOWN_TARGET: Readonly<DeliveryTarget> = Object.freeze({ consumer: "", peer: "", tokenName: "" });

/**
 * What the events of one source have in common: everything of an event but
 * its kind, time, message id, retry count and the time it sets. Callers keep
 * one per source (a queue, a consumer stream, a push's route) and never change
 * it after use: a trace log may compare subjects by identity, to store a run
 * of events of the same subject as one record.
 */
export interface TraceSubject {
  /** The queue's bind key; "" for events of the push itself (Pushed, Delayed). */
  readonly bindKey: string;
  /** Pushed: the node that stored it. */
  readonly nodeId: number;
  /** Pushed: the push's route key. */
  readonly routeKey: string;
  /** Pushed: bind keys of the queues it reached. */
  readonly queues: readonly string[];
  /** Pushed: an idempotency duplicate of this message (nothing was stored). */
  readonly duplicate: boolean;
  /** Delivered: to whom. */
  readonly consumer: ConsumerKind;
  readonly peer: string;
  readonly tokenName: string;
}

export interface TraceEvent extends TraceSubject {
  kind: TraceKind;
  /** When it happened, ms since the epoch (the broker's clock). */
  atMs: number;
  id: bigint;
  /** Retry count (Delivered, TtrExpired, DeadLettered); 0 otherwise. */
  retry: number;
  /** A time the event sets (see TraceKind); 0 when none. */
  untilMs: number;
  queues: string[];
}

const NO_QUEUES = Object.freeze([]) as unknown as string[];

/** A subject with every field not given at its zero value. */
export function traceSubject(fields?: Partial<TraceSubject>): TraceSubject {
  return {
    bindKey: fields?.bindKey ?? "",
    nodeId: fields?.nodeId ?? 0,
    routeKey: fields?.routeKey ?? "",
    queues: fields?.queues ?? NO_QUEUES,
    duplicate: fields?.duplicate ?? false,
    consumer: fields?.consumer ?? "",
    peer: fields?.peer ?? "",
    tokenName: fields?.tokenName ?? "",
  };
}

/** The subject of events that have none of its fields (Delayed). */
export const NO_SUBJECT: TraceSubject = Object.freeze(traceSubject());

/** An event with every optional field at its zero value. */
export function traceEvent(kind: TraceKind, atMs: number, id: bigint, fields?: Partial<TraceSubject & { retry: number; untilMs: number }>): TraceEvent {
  const about = traceSubject(fields);
  return { ...about, queues: [...about.queues], kind, atMs, id, retry: fields?.retry ?? 0, untilMs: fields?.untilMs ?? 0 };
}

/** How much of a topic's trace is kept: the older part beyond either bound is reclaimed (whole segments). */
export interface TraceRetention {
  /** Events older than this are reclaimed; 0: no time bound. */
  maxAgeMs: number;
  /** The trace's files are kept under about this many bytes; 0: no size bound. */
  maxBytes: number;
}

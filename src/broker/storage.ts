// What the broker needs from durable storage. The store (src/store/)
// implements it; the broker never touches files. One QueueLog holds one
// queue's messages and their consumption state; a queue's dead letters are a
// second QueueLog of kind "dead".
//
// Every method is synchronous and non-blocking (writes go into memory-mapped
// segments): durability of everything appended or changed so far is awaited
// once per batch with Storage.commit(), which is where the fsync policy lives.
// Time comes from the Clock the storage is opened with (the same one the
// broker uses), never from Date.now() directly.

import type { TraceEvent, TraceKind, TraceRetention, TraceSubject } from "./trace.js";

export { type Clock, type Timer, systemClock } from "./clock.js";
export { type ConsumerKind, type TraceEvent, TraceKind, type TraceRetention, type TraceSubject } from "./trace.js";

/** A message handed to QueueLog.append. */
export interface NewMessage {
  /** Snowflake id, unique in the cluster. */
  id: bigint;
  routeKey: string;
  /** Opaque payload; copied into the log, the caller may reuse the buffer. */
  body: Uint8Array;
  createdAtMs: number;
  /** When it becomes ready; 0 or a time <= now means ready at once. */
  deliverAtMs: number;
  /** Redeliveries so far (0 for a fresh push; kept when moved to dead letters). */
  retry: number;
  /**
   * When it expires, ms since the epoch; 0 or absent: never. Once past, the
   * message is never delivered again (see QueueLog.reserve and processDue).
   */
  expiresAtMs?: number;
  /**
   * The push's idempotency key, stored with the message so the broker can
   * rebuild its duplicate window after a restart (see QueueLog.recentKeys).
   * Absent or "": none. Copies (dead letters, redrive) leave it out.
   */
  idempotencyKey?: string;
  /**
   * Delivery priority 0..9, higher first; absent: 0. A queue keeps it through
   * delays, redeliveries, dead letters and redrive.
   */
  priority?: number;
}

/** A message taken out of a QueueLog (reserved, peeked, or returned with its retries used up). */
export interface StoredMessage {
  id: bigint;
  routeKey: string;
  /** A copy owned by the caller. */
  body: Buffer;
  createdAtMs: number;
  retry: number;
  /** In-flight deadline for a reserved message; 0 otherwise. */
  deadlineMs: number;
  /** When it expires, ms since the epoch; 0: never. */
  expiresAtMs: number;
  /** Delivery priority 0..9; absent: 0. */
  priority?: number;
}

/** Counts of one priority level of a queue. */
export interface PriorityLevelStats {
  priority: number;
  ready: number;
  inFlight: number;
  delayed: number;
}

export interface QueueLogStats {
  /** Ready to deliver now (backlog), including requeued retries. */
  ready: number;
  inFlight: number;
  /** Waiting for a delay (push delay or nack delay). */
  delayed: number;
  /** Bytes of this log's files on disk. */
  bytesOnDisk: number;
  segments: number;
  /** Segments deleted since open because every record in them was settled. */
  segmentsReclaimed: number;
  /** Messages discarded since open because their expiry passed before a delivery. */
  expired: number;
  /**
   * Per priority level in use, highest first; absent while every message of
   * the queue has priority 0.
   */
  priorities?: PriorityLevelStats[];
}

/** Told of transitions the log makes on its own (in processDue and reserve), for the lifecycle trace. */
export interface QueueLogObserver {
  /** An in-flight message's TTR passed: redelivery number `retry`, ready at readyAtMs (0: at once). */
  requeued(id: bigint, retry: number, readyAtMs: number): void;
  /** A message was discarded because its expiry passed. */
  expired(id: bigint): void;
}

export interface QueueLog extends SteerableLog {
  /** Sets (or with undefined clears) the observer of the log's own transitions. */
  observe(observer: QueueLogObserver | undefined): void;

  /**
   * Appends messages in order. A message whose deliverAtMs is in the future
   * is delayed until then. Throws StoreError("DISK_FULL" | "IO" | "TOO_LARGE")
   * with nothing of the failing call appended.
   */
  append(messages: readonly NewMessage[]): void;

  /**
   * Allocates what append(messages) needs (throws like append, with nothing
   * appended), so that appending the same messages right after, with no other
   * call in between, cannot fail for space: a push reaching several queues
   * reserves in each before it appends to any, and is stored all or nothing.
   */
  reserveSpace(messages: readonly NewMessage[]): void;

  /**
   * Takes up to `max` ready messages (and at most ~maxBytes of bodies, at least
   * one message) and marks them in flight until deadlineMs. A higher priority
   * comes first; within one, retries that were requeued come before
   * never-delivered messages. Returns [] when none is ready.
   * Messages whose expiry is at or before nowMs (default: the store's clock) are
   * never returned: they are discarded (settled, journaled as acks) on the way
   * and counted in stats().expired.
   */
  reserve(max: number, maxBytes: number, deadlineMs: number, nowMs?: number): StoredMessage[];

  /** Settles an in-flight message for good. False if the id is not in flight. */
  ack(id: bigint): boolean;

  /** Returns an in-flight message to ready at readyAtMs (now or later), retry unchanged. False if not in flight. */
  release(id: bigint, readyAtMs: number): boolean;

  /** Moves an in-flight message's deadline. False if not in flight. */
  touch(id: bigint, deadlineMs: number): boolean;

  /** Retry count of an in-flight message; undefined if not in flight. */
  retryOf(id: bigint): number | undefined;

  /**
   * Processes what is due at nowMs: delayed messages whose time came become
   * ready (in time order); in-flight messages past their deadline become ready
   * again with retry + 1, unless retry + 1 > maxRetry: then their retries are
   * used up, and they are returned in retriesUsedUp (retry already
   * increased) and stay held until bury(); the caller
   * appends them to the dead-letter log, then buries them, so a crash between
   * the two duplicates a dead letter rather than losing it.
   * With requeueDelayMs, a requeued message is ready only that many ms (given
   * its new retry count) after its deadline; until then it is delayed, as if
   * released with a delay, and durably so.
   * Expiry: a message past its expiresAtMs is discarded instead of being
   * requeued, dead-lettered or made ready (a delayed or backing-off message at
   * its expiry time, not later); ready messages at the head of the queue
   * that expired are discarded too, so an idle queue's stats catch up.
   * Also returns how many were requeued, for stats.
   */
  processDue(
    nowMs: number,
    maxRetry: number,
    requeueDelayMs?: (retry: number) => number,
  ): { requeued: number; retriesUsedUp: StoredMessage[] };

  /** Settles messages processDue returned in retriesUsedUp, after they were stored as dead letters. */
  bury(ids: readonly bigint[]): void;

  /** Earliest time processDue has work (a delay firing, a deadline passing, an expiry at the head), or undefined. */
  nextDueMs(): number | undefined;

  /** Up to `max` ready messages, oldest first, without changing their state. */
  peek(max: number): StoredMessage[];

  stats(): QueueLogStats;

  /**
   * Visits (id, idempotency key, createdAtMs) of the messages pushed with a
   * key and created at or after sinceMs whose records are still on disk
   * (ready, delayed, in flight, or settled but not yet reclaimed), oldest
   * first as far as the log's order goes; the same message may come twice
   * (a delayed one and its ready copy). Reads only what was appended since
   * about sinceMs, never the whole backlog. Used at open.
   */
  recentKeys(sinceMs: number, visit: (id: bigint, key: string, createdAtMs: number) => void): void;
}

/** Where a message stands in one QueueLog (see QueueLog.inspect). */
export type StoredState =
  /** Waiting for delivery: never delivered, or given back (nack, TTR passed). */
  | "ready"
  /** Waiting for a time: a push delay, a nack delay or a retry backoff; dueAtMs says until when. */
  | "delayed"
  /** Delivered, not acked: deadlineMs is its TTR deadline (its retries used up: about to become a dead letter). */
  | "inFlight"
  /** Settled: acked (or removed, or dead-lettered); its record is still on disk. */
  | "settled"
  /** Its expiry passed: it will never be delivered (discarded, or about to be). */
  | "expired";

/** What QueueLog.inspect and QueueLog.list report about one message. */
export interface StoredInfo {
  id: bigint;
  state: StoredState;
  routeKey: string;
  createdAtMs: number;
  /** Redeliveries so far. */
  retry: number;
  /** When a delayed message becomes ready; 0 otherwise. */
  dueAtMs: number;
  /** TTR deadline of an in-flight message; 0 otherwise. */
  deadlineMs: number;
  /** When it expires; 0: never. */
  expiresAtMs: number;
  bodyBytes: number;
  /** A copy, only when asked for. */
  body?: Buffer;
}

/** Why QueueLog.inspect found nothing: "reclaimed" when the message is older than everything left on disk after segments were reclaimed. */
export type NotStored = "missing" | "reclaimed";

/** Outcome of QueueLog.remove and QueueLog.reschedule. */
export type SteerResult = "done" | "inFlight" | "missing";

/** Which messages QueueLog.list pages through and QueueLog.purge removes. */
export type Holding = "ready" | "delayed";

/**
 * Inspection and steering of single messages (lookup by id, paging without
 * delivering, removal, moving a due time, purge). Every change is journaled
 * before it takes effect, like the consumption state; what was removed or
 * moved away is never delivered, also after a restart.
 */
export interface SteerableLog {
  /**
   * Finds the message with this id. hintMs: about when it was appended (its
   * snowflake id's time); the store uses it to read one segment, not the
   * backlog. withBody: include a copy of the body.
   */
  inspect(id: bigint, hintMs: number, withBody: boolean): StoredInfo | NotStored;
  /**
   * Up to `limit` ready messages (in delivery order) or delayed ones (by due
   * time), after the one with id afterId when given (it locates it as
   * inspect does, hint included), without changing anything.
   */
  list(which: Holding, limit: number, after: { id: bigint; hintMs: number } | undefined, withBody: boolean): StoredInfo[];
  /** Removes a ready or delayed message for good. "inFlight": refused, it is delivered. */
  remove(id: bigint, hintMs: number): SteerResult;
  /** Moves a ready or delayed message to be due at atMs (a time passed: due at once, behind the messages ready now). */
  reschedule(id: bigint, hintMs: number, atMs: number): SteerResult;
  /** Removes every ready or delayed message; returns how many. Their space is reclaimed as for acked messages. */
  purge(which: Holding): number;
}

export type QueueKind = "main" | "dead";

export interface QueueRef {
  topic: string;
  bindKey: string;
}

export interface StorageStats {
  /** Torn or corrupt tails truncated during recovery. */
  recoveredTruncations: number;
  /** Segments renamed aside as *.bad during recovery. */
  quarantinedSegments: number;
  /** ms spent in recovery at open. */
  recoveryMs: number;
  /** msync calls and the time they took. */
  fsyncs: number;
  fsyncMsTotal: number;
  /** Segments deleted since open. */
  segmentsReclaimed: number;
  /** Damaged records skipped while reading since open. */
  corruptRecordsSkipped: number;
  /** Messages lost to damage: ready ones in segments quarantined at open, outstanding or delayed ones whose record is unreadable. */
  messagesLost: number;
  /** Data dir entries skipped or repaired at open: stray files or directories, queue.json naming another queue. */
  dataDirEntriesSkipped: number;
}

/** Stats of a storage that has recovered nothing and done no I/O (in memory, or not yet open). */
export const NO_STORAGE_STATS: Readonly<StorageStats> = Object.freeze({
  recoveredTruncations: 0,
  quarantinedSegments: 0,
  recoveryMs: 0,
  fsyncs: 0,
  fsyncMsTotal: 0,
  segmentsReclaimed: 0,
  corruptRecordsSkipped: 0,
  messagesLost: 0,
  dataDirEntriesSkipped: 0,
});

export interface TraceLogStats {
  /** Bytes of the trace's files on disk. */
  bytesOnDisk: number;
  segments: number;
  /** Segments deleted since open because retention passed them. */
  segmentsReclaimed: number;
  /** Damaged records skipped at open (the records after them were read). */
  corruptRecordsSkipped: number;
  /** Torn or damaged tails cut off at open. */
  tornTailsTruncated: number;
  /** Events not written because a write failed (logged; the operation they describe went on). */
  eventsLost: number;
}

/**
 * One topic's lifecycle trace: an append-only log of events, bounded by a
 * retention. Appends are buffered and written before the microtask queue
 * drains (so before any reply that follows them), into the page cache: they
 * survive a killed process.
 */
export interface TraceLog {
  /**
   * Adds an event: `kind` of message `id` at atMs, with the fields of
   * `about` (events come in the order they happened). A run of events that
   * differ only in their id (the same kind, time, retry, untilMs and subject
   * object) may be stored as one record, so callers reuse subjects. Never
   * throws: a trace must not fail what it describes, so a failed write is
   * logged and counted in stats().eventsLost.
   */
  append(kind: TraceKind, atMs: number, id: bigint, about: TraceSubject, retry: number, untilMs: number): void;
  /**
   * The events of message `id`, oldest first, at most `max`; reads only the
   * segments written at or after notBeforeMs (no event of a message precedes
   * its push).
   */
  read(id: bigint, notBeforeMs: number, max: number): TraceEvent[];
  setRetention(retention: TraceRetention): void;
  stats(): TraceLogStats;
}

export interface Storage {
  /** Opens (creating if missing) a topic's trace log. Returns the same instance for the same topic. */
  openTrace(topic: string, retention: TraceRetention): TraceLog;
  /** Closes and deletes a topic's trace log, if it has one. */
  dropTrace(topic: string): void;
  /** Queues found on disk at open. */
  queues(): QueueRef[];
  /** Opens (creating if missing) a queue's log. Returns the same instance for the same queue. */
  openQueue(topic: string, bindKey: string, kind: QueueKind): QueueLog;
  /** Closes and deletes a queue's logs (main and dead) and their files. */
  dropQueue(topic: string, bindKey: string): void;
  /** Small named metadata (topic configs), written atomically (temp, fsync, rename). */
  readMeta(name: string): Buffer | undefined;
  writeMeta(name: string, data: Uint8Array): void;
  deleteMeta(name: string): void;
  metaNames(): string[];
  /**
   * Resolves once everything appended or changed so far is durable under the
   * fsync policy: at once for "interval" and "never" (the data is in the
   * page cache, which survives kill -9); after a shared msync for "always"
   * (group commit: concurrent callers share one flush).
   */
  commit(): Promise<void>;
  stats(): StorageStats;
  /** Flushes everything and unmaps; the storage is unusable after. */
  close(): Promise<void>;
}

export type StoreErrorCode = "DISK_FULL" | "IO" | "TOO_LARGE" | "CORRUPT";

/** Raised by the store; the broker maps it to BrokerError. */
export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StoreError";
  }
}

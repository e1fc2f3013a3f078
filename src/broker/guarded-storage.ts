// The one place where the store's failures become the errors clients see:
// the broker only ever holds storage through these wrappers, so every storage
// call (appends, the journal writes of reserve / ack / release / touch,
// commit(), metadata) fails with a BrokerError whose reason says what
// happened (DISK_FULL, BODY_TOO_LARGE, STORAGE_FAILED). The StoreError stays
// the cause, for the log.
import { BrokerError, ErrorReason } from "./errors.js";
import {
  StoreError,
  type NewMessage,
  type QueueKind,
  type QueueLog,
  type QueueLogStats,
  type QueueRef,
  type Storage,
  type StorageStats,
  type StoredMessage,
  type Holding,
  type NotStored,
  type SteerResult,
  type StoredInfo,
  type TraceEvent,
  type TraceKind,
  type TraceLog,
  type TraceLogStats,
  type TraceRetention,
  type TraceSubject,
  type QueueLogObserver,
} from "./storage.js";

export interface StorageFailureLogger {
  error(obj: object, msg: string): void;
}

/** A StoreError as the BrokerError a client sees; anything else is passed through unchanged. */
export function storeFailure(err: unknown, log: StorageFailureLogger): unknown {
  if (!(err instanceof StoreError)) return err;
  log.error({ err }, "storage failure");
  switch (err.code) {
    case "DISK_FULL":
      return new BrokerError(ErrorReason.DISK_FULL, "the node's disk is full; retry later", { cause: err });
    case "TOO_LARGE":
      return new BrokerError(ErrorReason.BODY_TOO_LARGE, err.message, { cause: err });
    case "IO":
    case "CORRUPT":
      return new BrokerError(ErrorReason.STORAGE_FAILED, "the node's storage failed; retry later", { cause: err });
  }
}

/** Wraps a Storage (and every QueueLog it opens) so that store failures surface as BrokerErrors. */
export function guardStorage(storage: Storage, log: StorageFailureLogger): Storage {
  return new GuardedStorage(storage, log);
}

class GuardedStorage implements Storage {
  private readonly logs = new WeakMap<QueueLog, QueueLog>();
  private readonly traces = new WeakMap<TraceLog, TraceLog>();

  constructor(
    private readonly inner: Storage,
    private readonly log: StorageFailureLogger,
  ) {}

  openTrace(topic: string, retention: TraceRetention): TraceLog {
    let raw: TraceLog;
    try {
      raw = this.inner.openTrace(topic, retention);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
    let guarded = this.traces.get(raw);
    if (!guarded) this.traces.set(raw, (guarded = new GuardedTraceLog(raw, this.log)));
    return guarded;
  }

  dropTrace(topic: string): void {
    try {
      this.inner.dropTrace(topic);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  queues(): QueueRef[] {
    try {
      return this.inner.queues();
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  openQueue(topic: string, bindKey: string, kind: QueueKind): QueueLog {
    let raw: QueueLog;
    try {
      raw = this.inner.openQueue(topic, bindKey, kind);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
    let guarded = this.logs.get(raw);
    if (!guarded) this.logs.set(raw, (guarded = new GuardedQueueLog(raw, this.log)));
    return guarded;
  }

  dropQueue(topic: string, bindKey: string): void {
    try {
      this.inner.dropQueue(topic, bindKey);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  readMeta(name: string): Buffer | undefined {
    try {
      return this.inner.readMeta(name);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  writeMeta(name: string, data: Uint8Array): void {
    try {
      this.inner.writeMeta(name, data);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  deleteMeta(name: string): void {
    try {
      this.inner.deleteMeta(name);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  metaNames(): string[] {
    try {
      return this.inner.metaNames();
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  commit(): Promise<void> {
    try {
      return this.inner.commit().catch((err: unknown) => {
        throw storeFailure(err, this.log);
      });
    } catch (err) {
      return Promise.reject(storeFailure(err, this.log));
    }
  }

  stats(): StorageStats {
    return this.inner.stats();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

class GuardedQueueLog implements QueueLog {
  constructor(
    private readonly inner: QueueLog,
    private readonly log: StorageFailureLogger,
  ) {}

  observe(observer: QueueLogObserver | undefined): void {
    this.inner.observe(observer);
  }

  append(messages: readonly NewMessage[]): void {
    try {
      this.inner.append(messages);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  reserveSpace(messages: readonly NewMessage[]): void {
    try {
      this.inner.reserveSpace(messages);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  reserve(max: number, maxBytes: number, deadlineMs: number, nowMs?: number): StoredMessage[] {
    try {
      return this.inner.reserve(max, maxBytes, deadlineMs, nowMs);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  ack(id: bigint): boolean {
    try {
      return this.inner.ack(id);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  release(id: bigint, readyAtMs: number): boolean {
    try {
      return this.inner.release(id, readyAtMs);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  touch(id: bigint, deadlineMs: number): boolean {
    try {
      return this.inner.touch(id, deadlineMs);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  retryOf(id: bigint): number | undefined {
    return this.inner.retryOf(id);
  }

  processDue(nowMs: number, maxRetry: number, requeueDelayMs?: (retry: number) => number): { requeued: number; retriesUsedUp: StoredMessage[] } {
    try {
      return this.inner.processDue(nowMs, maxRetry, requeueDelayMs);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  bury(ids: readonly bigint[]): void {
    try {
      this.inner.bury(ids);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  nextDueMs(): number | undefined {
    return this.inner.nextDueMs();
  }

  peek(max: number): StoredMessage[] {
    try {
      return this.inner.peek(max);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  stats(): QueueLogStats {
    return this.inner.stats();
  }

  recentKeys(sinceMs: number, visit: (id: bigint, key: string, createdAtMs: number) => void): void {
    try {
      this.inner.recentKeys(sinceMs, visit);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  inspect(id: bigint, hintMs: number, withBody: boolean): StoredInfo | NotStored {
    try {
      return this.inner.inspect(id, hintMs, withBody);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  list(which: Holding, limit: number, after: { id: bigint; hintMs: number } | undefined, withBody: boolean): StoredInfo[] {
    try {
      return this.inner.list(which, limit, after, withBody);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  remove(id: bigint, hintMs: number): SteerResult {
    try {
      return this.inner.remove(id, hintMs);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  reschedule(id: bigint, hintMs: number, atMs: number): SteerResult {
    try {
      return this.inner.reschedule(id, hintMs, atMs);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  purge(which: Holding): number {
    try {
      return this.inner.purge(which);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }
}

class GuardedTraceLog implements TraceLog {
  /** The inner log's own (it never throws): no extra call per traced event. */
  readonly append: (kind: TraceKind, atMs: number, id: bigint, about: TraceSubject, retry: number, untilMs: number) => void;

  constructor(
    private readonly inner: TraceLog,
    private readonly log: StorageFailureLogger,
  ) {
    this.append = inner.append.bind(inner);
  }

  read(id: bigint, notBeforeMs: number, max: number): TraceEvent[] {
    try {
      return this.inner.read(id, notBeforeMs, max);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  setRetention(retention: TraceRetention): void {
    try {
      this.inner.setRetention(retention);
    } catch (err) {
      throw storeFailure(err, this.log);
    }
  }

  stats(): TraceLogStats {
    return this.inner.stats();
  }
}

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

/** Runs a storage call, its StoreError thrown as the BrokerError a client sees. */
function guarded<T>(log: StorageFailureLogger, call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw storeFailure(err, log);
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
    const raw = guarded(this.log, () => this.inner.openTrace(topic, retention));
    let wrapped = this.traces.get(raw);
    if (!wrapped) this.traces.set(raw, (wrapped = new GuardedTraceLog(raw, this.log)));
    return wrapped;
  }

  dropTrace(topic: string): void {
    guarded(this.log, () => this.inner.dropTrace(topic));
  }

  queues(): QueueRef[] {
    return guarded(this.log, () => this.inner.queues());
  }

  openQueue(topic: string, bindKey: string, kind: QueueKind): QueueLog {
    const raw = guarded(this.log, () => this.inner.openQueue(topic, bindKey, kind));
    let wrapped = this.logs.get(raw);
    if (!wrapped) this.logs.set(raw, (wrapped = new GuardedQueueLog(raw, this.log)));
    return wrapped;
  }

  dropQueue(topic: string, bindKey: string): void {
    guarded(this.log, () => this.inner.dropQueue(topic, bindKey));
  }

  readMeta(name: string): Buffer | undefined {
    return guarded(this.log, () => this.inner.readMeta(name));
  }

  writeMeta(name: string, data: Uint8Array): void {
    guarded(this.log, () => this.inner.writeMeta(name, data));
  }

  deleteMeta(name: string): void {
    guarded(this.log, () => this.inner.deleteMeta(name));
  }

  metaNames(): string[] {
    return guarded(this.log, () => this.inner.metaNames());
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
    guarded(this.log, () => this.inner.append(messages));
  }

  reserveSpace(messages: readonly NewMessage[]): void {
    guarded(this.log, () => this.inner.reserveSpace(messages));
  }

  reserve(max: number, maxBytes: number, deadlineMs: number, nowMs?: number): StoredMessage[] {
    return guarded(this.log, () => this.inner.reserve(max, maxBytes, deadlineMs, nowMs));
  }

  ack(id: bigint): boolean {
    return guarded(this.log, () => this.inner.ack(id));
  }

  release(id: bigint, readyAtMs: number): boolean {
    return guarded(this.log, () => this.inner.release(id, readyAtMs));
  }

  touch(id: bigint, deadlineMs: number): boolean {
    return guarded(this.log, () => this.inner.touch(id, deadlineMs));
  }

  retryOf(id: bigint): number | undefined {
    return this.inner.retryOf(id);
  }

  processDue(nowMs: number, maxRetry: number, requeueDelayMs?: (retry: number) => number): { requeued: number; retriesUsedUp: StoredMessage[] } {
    return guarded(this.log, () => this.inner.processDue(nowMs, maxRetry, requeueDelayMs));
  }

  bury(ids: readonly bigint[]): void {
    guarded(this.log, () => this.inner.bury(ids));
  }

  nextDueMs(): number | undefined {
    return this.inner.nextDueMs();
  }

  peek(max: number): StoredMessage[] {
    return guarded(this.log, () => this.inner.peek(max));
  }

  stats(): QueueLogStats {
    return this.inner.stats();
  }

  recentKeys(sinceMs: number, visit: (id: bigint, key: string, createdAtMs: number) => void): void {
    guarded(this.log, () => this.inner.recentKeys(sinceMs, visit));
  }

  inspect(id: bigint, hintMs: number, withBody: boolean): StoredInfo | NotStored {
    return guarded(this.log, () => this.inner.inspect(id, hintMs, withBody));
  }

  list(which: Holding, limit: number, after: { id: bigint; hintMs: number } | undefined, withBody: boolean): StoredInfo[] {
    return guarded(this.log, () => this.inner.list(which, limit, after, withBody));
  }

  remove(id: bigint, hintMs: number): SteerResult {
    return guarded(this.log, () => this.inner.remove(id, hintMs));
  }

  reschedule(id: bigint, hintMs: number, atMs: number): SteerResult {
    return guarded(this.log, () => this.inner.reschedule(id, hintMs, atMs));
  }

  purge(which: Holding): number {
    return guarded(this.log, () => this.inner.purge(which));
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
    return guarded(this.log, () => this.inner.read(id, notBeforeMs, max));
  }

  setRetention(retention: TraceRetention): void {
    guarded(this.log, () => this.inner.setRetention(retention));
  }

  stats(): TraceLogStats {
    return this.inner.stats();
  }
}

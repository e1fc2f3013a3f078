// A Storage held in memory (see memory-queue-log.ts). Opening the same name
// again in the same process finds what was stored under it, as reopening a
// data directory does, so the conformance suite's restarts apply; commit()
// resolves at once.
import {
  NO_STORAGE_STATS,
  type Clock,
  type QueueKind,
  type QueueLog,
  type QueueRef,
  type Storage,
  type StorageStats,
  StoreError,
  systemClock,
  type TraceLog,
  type TraceRetention,
} from "../broker/storage.js";
import { MemoryQueueData, MemoryQueueLog } from "./memory-queue-log.js";
import { MemoryTraceData, MemoryTraceLog } from "./memory-trace-log.js";
import { PriorityQueueLog } from "./priority-queue.js";

/** One log's contents per priority level in use (see priority-queue.ts). */
type Levels = Map<number, MemoryQueueData>;

interface Disk {
  queues: Map<string, { ref: QueueRef; main?: Levels; dead?: Levels }>;
  meta: Map<string, Buffer>;
  traces: Map<string, MemoryTraceData>;
}

const disks = new Map<string, Disk>();

export interface MemoryStorageOptions {
  /** Stores under the same name share their contents across close and reopen (in this process). */
  name?: string;
  clock?: Clock;
  /** Default 1 MiB. */
  maxBodyBytes?: number;
}

export function openMemoryStorage(options: MemoryStorageOptions = {}): Storage {
  let disk = options.name === undefined ? undefined : disks.get(options.name);
  if (disk === undefined) {
    disk = { queues: new Map(), meta: new Map(), traces: new Map() };
    if (options.name !== undefined) disks.set(options.name, disk);
  }
  return new MemoryStorage(disk, options.clock ?? systemClock, options.maxBodyBytes ?? 1 << 20);
}

class MemoryStorage implements Storage {
  private readonly logs = new Map<string, PriorityQueueLog<MemoryQueueLog>>();
  private readonly traces = new Map<string, MemoryTraceLog>();
  private closed = false;

  constructor(
    private readonly disk: Disk,
    private readonly clock: Clock,
    private readonly maxBodyBytes: number,
  ) {
    for (const q of disk.queues.values()) {
      for (const data of q.main?.values() ?? []) data.restart();
      for (const data of q.dead?.values() ?? []) data.restart();
    }
  }

  queues(): QueueRef[] {
    return [...this.disk.queues.values()].map((q) => ({ ...q.ref }));
  }

  openQueue(topic: string, bindKey: string, kind: QueueKind): QueueLog {
    this.checkOpen();
    const key = `${topic}\n${bindKey}`;
    const open = this.logs.get(`${key}\n${kind}`);
    if (open !== undefined) return open;
    let q = this.disk.queues.get(key);
    if (q === undefined) this.disk.queues.set(key, (q = { ref: { topic, bindKey } }));
    const levels = (q[kind] ??= new Map());
    const log = new PriorityQueueLog((level) => {
      let data = levels.get(level);
      if (data === undefined) levels.set(level, (data = new MemoryQueueData()));
      return new MemoryQueueLog(data, this.clock, this.maxBodyBytes);
    }, levels.keys());
    this.logs.set(`${key}\n${kind}`, log);
    return log;
  }

  dropQueue(topic: string, bindKey: string): void {
    const key = `${topic}\n${bindKey}`;
    for (const kind of ["main", "dead"]) {
      this.logs.get(`${key}\n${kind}`)?.close();
      this.logs.delete(`${key}\n${kind}`);
    }
    this.disk.queues.delete(key);
  }

  openTrace(topic: string, retention: TraceRetention): TraceLog {
    this.checkOpen();
    let trace = this.traces.get(topic);
    if (trace !== undefined) return trace;
    let data = this.disk.traces.get(topic);
    if (data === undefined) this.disk.traces.set(topic, (data = new MemoryTraceData()));
    trace = new MemoryTraceLog(data, retention, this.clock);
    this.traces.set(topic, trace);
    return trace;
  }

  dropTrace(topic: string): void {
    this.traces.delete(topic);
    this.disk.traces.delete(topic);
  }

  readMeta(name: string): Buffer | undefined {
    const data = this.disk.meta.get(name);
    return data === undefined ? undefined : Buffer.from(data);
  }

  writeMeta(name: string, data: Uint8Array): void {
    this.disk.meta.set(name, Buffer.from(data));
  }

  deleteMeta(name: string): void {
    this.disk.meta.delete(name);
  }

  metaNames(): string[] {
    return [...this.disk.meta.keys()];
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }

  stats(): StorageStats {
    // Nothing is recovered from disk, so nothing can be damaged, skipped or lost.
    return { ...NO_STORAGE_STATS };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const log of this.logs.values()) log.close();
    this.logs.clear();
    this.traces.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError("IO", "storage is closed");
  }
}

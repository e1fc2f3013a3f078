// The Storage of the broker's contract over a data directory:
//   <dataDir>/queues/<topic>/<bindKey>/queue.json    the queue's names
//   <dataDir>/queues/<topic>/<bindKey>/main|dead/    one FileQueueLog each
//   <dataDir>/meta/<name>                            small metadata files
// Directory names are encoded ("k" + base64url, or "h" + sha-256 when long)
// so any topic, bind key or metadata name is a safe file name.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import type { QueueKind, QueueLog, QueueRef, Storage, StorageStats } from "../broker/storage.js";
import { StoreError } from "../broker/storage.js";
import { ChunkReader } from "./chunk-reader.js";
import { type StoreContext, fsyncDir, toStoreError, writeFileAtomic } from "./context.js";
import { FileQueueLog } from "./queue-log.js";
import { RECORD_HEADER_BYTES } from "./record.js";

export interface FileStorageOptions {
  dataDir: string;
  segmentBytes: number;
  fsyncIntervalMs: number;
  ctx: StoreContext;
}

export function encodeName(name: string): string {
  const b = Buffer.from(name, "utf8").toString("base64url");
  return b.length <= 200 ? `k${b}` : `h${createHash("sha256").update(name).digest("hex")}`;
}

export function decodeName(file: string): string | undefined {
  return file.startsWith("k") ? Buffer.from(file.slice(1), "base64url").toString("utf8") : undefined;
}

interface QueueDirs {
  ref: QueueRef;
  dir: string;
}

export class FileStorage implements Storage {
  private readonly ctx: StoreContext;
  private readonly queuesDir: string;
  private readonly metaDir: string;
  private readonly logs = new Map<string, FileQueueLog>();
  private readonly known = new Map<string, QueueDirs>();
  private readonly timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private queuedFlush: Promise<void> | undefined;
  private recoveryMs = 0;
  private closed = false;

  constructor(private readonly opts: FileStorageOptions) {
    this.ctx = opts.ctx;
    this.queuesDir = join(opts.dataDir, "queues");
    this.metaDir = join(opts.dataDir, "meta");
    fs.mkdirSync(this.queuesDir, { recursive: true });
    fs.mkdirSync(this.metaDir, { recursive: true });
    const t0 = performance.now();
    this.recoverAll();
    this.recoveryMs = performance.now() - t0;
    if (this.ctx.policy === "interval") {
      this.timer = setInterval(() => this.flushQuietly(), opts.fsyncIntervalMs);
      this.timer.unref();
    }
  }

  private recoverAll(): void {
    for (const t of fs.readdirSync(this.queuesDir)) {
      let binds: string[];
      try {
        binds = fs.readdirSync(join(this.queuesDir, t));
      } catch {
        continue;
      }
      for (const b of binds) {
        const dir = join(this.queuesDir, t, b);
        let ref: QueueRef;
        try {
          ref = JSON.parse(fs.readFileSync(join(dir, "queue.json"), "utf8")) as QueueRef;
          if (typeof ref.topic !== "string" || typeof ref.bindKey !== "string") throw new Error("bad queue.json");
        } catch (err) {
          const topic = decodeName(t);
          const bindKey = decodeName(b);
          if (topic === undefined || bindKey === undefined) {
            this.ctx.logger.warn({ dir, err: String(err) }, "queue directory without a readable queue.json; skipped");
            continue;
          }
          ref = { topic, bindKey };
          writeFileAtomic(join(dir, "queue.json"), Buffer.from(JSON.stringify(ref)));
        }
        const key = `${ref.topic}\n${ref.bindKey}`;
        this.known.set(key, { ref: { topic: ref.topic, bindKey: ref.bindKey }, dir });
        for (const kind of ["main", "dead"] as const) {
          if (!fs.existsSync(join(dir, kind))) continue;
          try {
            this.openLog(key, dir, kind);
          } catch (err) {
            // One queue's failure must not keep the others (and the broker) down.
            this.ctx.logger.warn({ dir: join(dir, kind), err: String(err) }, "queue log could not be recovered; left on disk untouched");
          }
        }
      }
    }
  }

  private openLog(key: string, dir: string, kind: QueueKind): FileQueueLog {
    const log = FileQueueLog.open({ dir: join(dir, kind), segmentBytes: this.opts.segmentBytes, ctx: this.ctx });
    this.logs.set(`${key}\n${kind}`, log);
    return log;
  }

  queues(): QueueRef[] {
    return [...this.known.values()].map((q) => ({ ...q.ref }));
  }

  openQueue(topic: string, bindKey: string, kind: QueueKind): QueueLog {
    this.checkOpen();
    const key = `${topic}\n${bindKey}`;
    const existing = this.logs.get(`${key}\n${kind}`);
    if (existing !== undefined) return existing;
    let q = this.known.get(key);
    if (q === undefined) {
      const dir = join(this.queuesDir, encodeName(topic), encodeName(bindKey));
      try {
        fs.mkdirSync(dir, { recursive: true });
        writeFileAtomic(join(dir, "queue.json"), Buffer.from(JSON.stringify({ topic, bindKey })));
      } catch (err) {
        throw toStoreError(err, `creating queue ${topic}/${bindKey}`);
      }
      q = { ref: { topic, bindKey }, dir };
      this.known.set(key, q);
    }
    fs.mkdirSync(join(q.dir, kind), { recursive: true });
    return this.openLog(key, q.dir, kind);
  }

  dropQueue(topic: string, bindKey: string): void {
    const key = `${topic}\n${bindKey}`;
    for (const kind of ["main", "dead"]) {
      const log = this.logs.get(`${key}\n${kind}`);
      if (log !== undefined) {
        log.close();
        this.logs.delete(`${key}\n${kind}`);
      }
    }
    const q = this.known.get(key);
    this.known.delete(key);
    const dir = q?.dir ?? join(this.queuesDir, encodeName(topic), encodeName(bindKey));
    fs.rmSync(dir, { recursive: true, force: true });
    fsyncDir(join(dir, ".."));
  }

  // -------------------------------------------------------------- metadata

  readMeta(name: string): Buffer | undefined {
    try {
      return fs.readFileSync(join(this.metaDir, encodeName(name)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw toStoreError(err, `reading metadata ${name}`);
    }
  }

  writeMeta(name: string, data: Uint8Array): void {
    try {
      const file = encodeName(name);
      // A hashed (long) name is kept beside the data so metaNames can list it.
      if (file.startsWith("h")) writeFileAtomic(join(this.metaDir, `${file}.name`), Buffer.from(name, "utf8"));
      writeFileAtomic(join(this.metaDir, file), data);
    } catch (err) {
      throw toStoreError(err, `writing metadata ${name}`);
    }
  }

  deleteMeta(name: string): void {
    fs.rmSync(join(this.metaDir, encodeName(name)), { force: true });
    fs.rmSync(join(this.metaDir, `${encodeName(name)}.name`), { force: true });
    fsyncDir(this.metaDir);
  }

  metaNames(): string[] {
    const out: string[] = [];
    for (const f of fs.readdirSync(this.metaDir)) {
      if (f.endsWith(".tmp") || f.endsWith(".name")) continue;
      let name = decodeName(f);
      if (name === undefined) {
        try {
          name = fs.readFileSync(join(this.metaDir, `${f}.name`), "utf8");
        } catch {
          continue;
        }
      }
      out.push(name);
    }
    return out;
  }

  // ------------------------------------------------------------- durability

  /**
   * Group commit: the first caller starts a flush at once; callers arriving
   * while it runs share the one flush that starts when it ends (their writes
   * may have missed the running one).
   */
  commit(): Promise<void> {
    try {
      for (const log of this.ctx.pendingAcks) log.flushAcks();
    } catch (err) {
      return Promise.reject(toStoreError(err, "journaling acks"));
    }
    if (this.ctx.policy !== "always") return Promise.resolve();
    if (this.queuedFlush !== undefined) return this.queuedFlush;
    if (this.flushing === undefined) return this.startFlush();
    const queued = this.flushing.catch(() => undefined).then(() => this.startFlush());
    this.queuedFlush = queued;
    return queued;
  }

  private startFlush(): Promise<void> {
    this.queuedFlush = undefined;
    const p = this.flushAsync();
    this.flushing = p;
    const done = (): void => {
      if (this.flushing === p) this.flushing = undefined;
    };
    p.then(done, done);
    return p;
  }

  /** fdatasyncs, in the thread pool, every segment written since the last flush. */
  private async flushAsync(): Promise<void> {
    const t0 = performance.now();
    const jobs: Promise<void>[] = [];
    for (const seg of this.ctx.dirty) {
      const job = seg.syncAsync();
      if (job !== undefined) jobs.push(job);
      if (seg.map === null) {
        // sealed: this is its last sync
        this.ctx.dirty.delete(seg);
        seg.closeSyncFd();
      }
    }
    if (jobs.length === 0) return;
    try {
      await Promise.all(jobs);
    } catch (err) {
      throw toStoreError(err, "syncing segments");
    } finally {
      this.ctx.counters.fsyncs += jobs.length;
      this.ctx.counters.fsyncMsTotal += performance.now() - t0;
    }
  }

  /** Blocking flush of everything (for close). */
  private flushNow(): void {
    const t0 = performance.now();
    let n = 0;
    for (const seg of this.ctx.dirty) if (seg.syncNow()) n++;
    this.ctx.counters.fsyncs += n;
    this.ctx.counters.fsyncMsTotal += performance.now() - t0;
  }

  private flushQuietly(): void {
    if (this.flushing !== undefined) return;
    this.startFlush().catch((err: unknown) => this.ctx.logger.warn({ err: String(err) }, "periodic sync failed"));
  }

  stats(): StorageStats {
    const c = this.ctx.counters;
    return {
      recoveredTruncations: c.recoveredTruncations,
      quarantinedSegments: c.quarantinedSegments,
      recoveryMs: this.recoveryMs,
      fsyncs: c.fsyncs,
      fsyncMsTotal: c.fsyncMsTotal,
      segmentsReclaimed: c.segmentsReclaimed,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.queuedFlush?.catch(() => undefined);
    await this.flushing?.catch(() => undefined);
    let first: unknown;
    for (const log of this.logs.values()) {
      try {
        log.checkpoint();
      } catch (err) {
        first ??= err;
      }
    }
    try {
      if (this.ctx.policy !== "never") this.flushNow();
    } catch (err) {
      first ??= err;
    }
    for (const log of this.logs.values()) log.close();
    this.logs.clear();
    if (first !== undefined) throw toStoreError(first, "closing the storage");
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError("IO", "storage is closed");
  }
}

export function chunkReaderFor(maxBodyBytes: number): ChunkReader {
  return new ChunkReader(Math.max(4 << 20, RECORD_HEADER_BYTES + 0xffff + maxBodyBytes + 4096));
}

// The Storage of the broker's contract over a data directory:
//   <dataDir>/queues/<topic>/<bindKey>/queue.json    the queue's names
//   <dataDir>/queues/<topic>/<bindKey>/main|dead/    one FileQueueLog each (priority 0)
//   <dataDir>/queues/<topic>/<bindKey>/main-p<N>/    priority N (1..9), made on first use
//                                      dead-p<N>/    (see priority-queue.ts)
//   <dataDir>/meta/<name>                            small metadata files
//   <dataDir>/trash/                                 deleted queues, emptied at once and at open
//   <dataDir>/traces/<topic>/                        a topic's lifecycle trace (trace-log.ts)
// Directory names are encoded (names.ts) so any topic, bind key or metadata
// name is a safe file name, also on case-insensitive file systems.
//
// What is on disk is distrusted at open: a queue directory's own name wins
// over a queue.json naming another queue, no log is ever opened twice, stray
// entries are skipped, and each of these is logged and counted.
import * as fs from "node:fs";
import { join } from "node:path";
import type { QueueKind, QueueLog, QueueRef, Storage, StorageStats, TraceLog, TraceRetention } from "../broker/storage.js";
import { StoreError } from "../broker/storage.js";
import { ChunkReader } from "./chunk-reader.js";
import { type StoreContext, fsyncDir, toStoreError, writeFileAtomic } from "./context.js";
import { FileQueueLog } from "./queue-log.js";
import { MAX_PRIORITY, PriorityQueueLog } from "./priority-queue.js";
import { decodeName, encodeName, namesFile } from "./names.js";
import { RECORD_HEADER_BYTES } from "./record.js";
import { FileTraceLog } from "./trace-log.js";

/** Largest trace segment (a size retention makes them smaller). */
const TRACE_SEGMENT_BYTES = 4 << 20;

export { decodeName, encodeName } from "./names.js";

export interface FileStorageOptions {
  dataDir: string;
  segmentBytes: number;
  fsyncIntervalMs: number;
  ctx: StoreContext;
}

interface QueueDirs {
  ref: QueueRef;
  dir: string;
}

export class FileStorage implements Storage {
  private readonly ctx: StoreContext;
  private readonly queuesDir: string;
  private readonly metaDir: string;
  private readonly trashDir: string;
  private trashed = 0;
  private readonly logs = new Map<string, PriorityQueueLog<FileQueueLog>>();
  private readonly traces = new Map<string, FileTraceLog>();
  private readonly tracesDir: string;
  private readonly known = new Map<string, QueueDirs>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private queuedFlush: Promise<void> | undefined;
  private recoveryMs = 0;
  private readonly reportedMetaDirs = new Set<string>();
  private closed = false;

  constructor(private readonly opts: FileStorageOptions) {
    this.ctx = opts.ctx;
    this.queuesDir = join(opts.dataDir, "queues");
    this.metaDir = join(opts.dataDir, "meta");
    this.trashDir = join(opts.dataDir, "trash");
    this.tracesDir = join(opts.dataDir, "traces");
    fs.mkdirSync(this.queuesDir, { recursive: true });
    fs.mkdirSync(this.metaDir, { recursive: true });
    fs.mkdirSync(this.trashDir, { recursive: true });
  }

  /** Recovers every queue at once (the caller waits anyway). */
  recoverNow(): void {
    const t0 = performance.now();
    for (const dir of this.listQueueDirs()) this.recoverDir(dir);
    this.recovered(t0);
  }

  /** Recovers queue by queue, yielding to the event loop in between (so a node can answer /readyz meanwhile). */
  async recoverYielding(): Promise<void> {
    const t0 = performance.now();
    for (const dir of this.listQueueDirs()) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.recoverDir(dir);
    }
    this.recovered(t0);
  }

  private recovered(t0: number): void {
    this.recoveryMs = performance.now() - t0;
    if (this.ctx.policy === "interval") {
      this.timer = setInterval(() => this.flushQuietly(), this.opts.fsyncIntervalMs);
      this.timer.unref();
    }
  }

  private skipped(obj: object, msg: string): void {
    this.ctx.counters.dataDirEntriesSkipped++;
    this.ctx.logger.warn(obj, msg);
  }

  /** Queue directories (queues/<topic>/<bindKey>), migrating metadata names first. */
  private listQueueDirs(): { t: string; b: string }[] {
    this.migrateMeta();
    // What a crash left of a deletion: the queue was gone from the moment it was moved here.
    for (const entry of fs.readdirSync(this.trashDir)) fs.rmSync(join(this.trashDir, entry), { recursive: true, force: true });
    const out: { t: string; b: string }[] = [];
    for (const t of fs.readdirSync(this.queuesDir).sort()) {
      const topicDir = join(this.queuesDir, t);
      if (!isDirectory(topicDir)) {
        this.skipped({ file: topicDir }, "stray file among the topic directories; skipped");
        continue;
      }
      for (const b of fs.readdirSync(topicDir).sort()) {
        if (!isDirectory(join(topicDir, b))) {
          if (!b.endsWith(".tmp")) this.skipped({ file: join(topicDir, b) }, "stray file among the queue directories; skipped");
          continue;
        }
        out.push({ t, b });
      }
    }
    return out;
  }

  /**
   * Opens one queue directory. Its file names say which queue it is (a
   * hashed name is checked against queue.json): a queue.json naming another
   * queue is reported and rewritten, never followed. A directory in the
   * legacy encoding is renamed to the current one first.
   */
  private recoverDir({ t, b }: { t: string; b: string }): void {
    let dir = join(this.queuesDir, t, b);
    let json: Partial<QueueRef> | undefined;
    try {
      json = JSON.parse(fs.readFileSync(join(dir, "queue.json"), "utf8")) as Partial<QueueRef>;
    } catch {
      json = undefined;
    }
    const name = (file: string, claimed: unknown): string | undefined =>
      decodeName(file) ?? (typeof claimed === "string" && namesFile(claimed, file) ? claimed : undefined);
    const topic = name(t, json?.topic);
    const bindKey = name(b, json?.bindKey);
    if (topic === undefined || bindKey === undefined) {
      this.skipped({ dir, queueJson: json }, "queue directory whose name cannot be read and whose queue.json does not match it; left on disk untouched");
      return;
    }
    const key = `${topic}\n${bindKey}`;
    if (this.known.has(key)) {
      this.skipped({ dir, topic, bindKey, openedFrom: this.known.get(key)!.dir }, "second directory for a queue already opened; left on disk untouched");
      return;
    }
    const ref = { topic, bindKey };
    const canonical = join(this.queuesDir, encodeName(topic), encodeName(bindKey));
    if (canonical !== dir) {
      if (fs.existsSync(canonical)) {
        this.skipped({ dir, topic, bindKey, canonical }, "legacy queue directory beside its renamed copy; left on disk untouched");
        return;
      }
      try {
        fs.mkdirSync(join(canonical, ".."), { recursive: true });
        fs.renameSync(dir, canonical);
        fsyncDir(join(canonical, ".."));
        fsyncDir(join(dir, ".."));
        this.ctx.logger.info({ from: dir, to: canonical }, "queue directory renamed to the case-safe name encoding");
        removeIfEmpty(join(dir, ".."));
      } catch (err) {
        this.skipped({ dir, canonical, err: String(err) }, "queue directory cannot be renamed to its current name; left on disk untouched");
        return;
      }
      dir = canonical;
    }
    if (json?.topic !== topic || json.bindKey !== bindKey) {
      if (json !== undefined) this.skipped({ dir, queueJson: json, topic, bindKey }, "queue.json names another queue than its directory; the directory wins");
      try {
        writeFileAtomic(join(dir, "queue.json"), Buffer.from(JSON.stringify(ref)));
      } catch (err) {
        this.ctx.logger.warn({ dir, err: String(err) }, "queue.json cannot be rewritten");
      }
    }
    this.known.set(key, { ref, dir });
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

  /** Renames metadata files of the legacy encoding; skips (and reports) directories. */
  private migrateMeta(): void {
    for (const f of fs.readdirSync(this.metaDir)) {
      const path = join(this.metaDir, f);
      if (isDirectory(path)) continue; // reported by metaNames
      if (f.endsWith(".tmp") || f.endsWith(".name")) continue;
      let name = decodeName(f);
      if (name === undefined && f.startsWith("h")) name = readText(`${path}.name`);
      if (name === undefined || encodeName(name) === f) continue;
      const to = join(this.metaDir, encodeName(name));
      try {
        fs.rmSync(`${path}.name`, { force: true });
        if (fs.existsSync(to)) {
          fs.rmSync(path, { force: true }); // renamed before, then the legacy name came back: the renamed one is newer
        } else {
          if (to.slice(this.metaDir.length + 1).startsWith("h")) writeFileAtomic(`${to}.name`, Buffer.from(name, "utf8"));
          fs.renameSync(path, to);
        }
        this.ctx.logger.info({ from: path, to }, "metadata file renamed to the case-safe name encoding");
      } catch (err) {
        this.ctx.logger.warn({ file: path, err: String(err) }, "metadata file cannot be renamed to its current name");
      }
    }
    fsyncDir(this.metaDir);
  }

  private openLog(key: string, dir: string, kind: QueueKind): PriorityQueueLog<FileQueueLog> {
    // Never two logs over one directory: both would write the same files.
    if (this.logs.has(`${key}\n${kind}`)) throw new StoreError("IO", `queue log ${join(dir, kind)} is already open`);
    const levelDir = (level: number): string => join(dir, level === 0 ? kind : `${kind}-p${level}`);
    const existing: number[] = [];
    for (let level = 1; level <= MAX_PRIORITY; level++) if (isDirectory(levelDir(level))) existing.push(level);
    const log = new PriorityQueueLog((level) => {
      try {
        fs.mkdirSync(levelDir(level), { recursive: true });
      } catch (err) {
        throw toStoreError(err, `creating ${levelDir(level)}`);
      }
      return FileQueueLog.open({ dir: levelDir(level), segmentBytes: this.opts.segmentBytes, ctx: this.ctx });
    }, existing);
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
    // One rename takes the whole queue out of the tree, so a crash while its
    // files are removed cannot bring back a part of it at the next start.
    const trash = join(this.trashDir, `${Date.now()}-${process.pid}-${this.trashed++}`);
    try {
      fs.renameSync(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // declared, never written
      throw err;
    }
    fsyncDir(join(dir, ".."));
    fsyncDir(this.trashDir);
    // Emptied before unlinked: a segment still mapped (mmap-io unmaps only at
    // GC) would otherwise keep its blocks until the mapping goes.
    truncateFiles(trash);
    fs.rmSync(trash, { recursive: true, force: true });
    removeIfEmpty(join(dir, ".."));
  }

  // ---------------------------------------------------------------- traces

  openTrace(topic: string, retention: TraceRetention): TraceLog {
    this.checkOpen();
    let trace = this.traces.get(topic);
    if (trace !== undefined) return trace;
    try {
      trace = new FileTraceLog({ dir: join(this.tracesDir, encodeName(topic)), segmentBytes: TRACE_SEGMENT_BYTES, retention, ctx: this.ctx });
    } catch (err) {
      throw toStoreError(err, `opening the trace of topic ${topic}`);
    }
    this.traces.set(topic, trace);
    return trace;
  }

  dropTrace(topic: string): void {
    const trace = this.traces.get(topic);
    this.traces.delete(topic);
    if (trace !== undefined) trace.close(true);
    else fs.rmSync(join(this.tracesDir, encodeName(topic)), { recursive: true, force: true });
  }

  // -------------------------------------------------------------- metadata

  readMeta(name: string): Buffer | undefined {
    try {
      return fs.readFileSync(join(this.metaDir, encodeName(name)));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EISDIR") return undefined;
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
      if (isDirectory(join(this.metaDir, f))) {
        if (!this.reportedMetaDirs.has(f)) {
          this.reportedMetaDirs.add(f);
          this.skipped({ dir: join(this.metaDir, f) }, "stray directory among the metadata files; skipped");
        }
        continue;
      }
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
      corruptRecordsSkipped: c.corruptRecordsSkipped,
      messagesLost: c.messagesLost,
      dataDirEntriesSkipped: c.dataDirEntriesSkipped,
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
      for (const level of log.levels()) {
        try {
          level.checkpoint();
        } catch (err) {
          // A checkpoint only shortens the next recovery: the journal holds the
          // same state, and the previous checkpoint stays whole (it is replaced
          // by rename). So a disk too full for it must not fail the close.
          if (toStoreError(err, "writing a checkpoint").code !== "DISK_FULL") first ??= err;
        }
      }
    }
    try {
      if (this.ctx.policy !== "never") this.flushNow();
    } catch (err) {
      first ??= err;
    }
    for (const log of this.logs.values()) log.close();
    this.logs.clear();
    for (const trace of this.traces.values()) {
      try {
        trace.flush();
        if (this.ctx.policy !== "never") trace.sync();
      } catch (err) {
        first ??= err;
      }
      trace.close();
    }
    this.traces.clear();
    await Promise.all([...this.ctx.sidecarWrites]);
    if (first !== undefined) throw toStoreError(first, "closing the storage");
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError("IO", "storage is closed");
  }
}

export function chunkReaderFor(maxBodyBytes: number): ChunkReader {
  return new ChunkReader(Math.max(4 << 20, RECORD_HEADER_BYTES + 0xffff + maxBodyBytes + 4096));
}

function isDirectory(path: string): boolean {
  try {
    return fs.statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function truncateFiles(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) truncateFiles(path);
    else if (entry.isFile()) fs.truncateSync(path, 0);
  }
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // not empty (other queues of the topic): it goes when the last one is renamed
  }
}

function readText(path: string): string | undefined {
  try {
    return fs.readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

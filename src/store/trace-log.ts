// One topic's lifecycle trace on disk (TraceLog of the broker's contract):
// numbered segment files `0000000001.trc`, ... in the topic's trace
// directory, each a 16-byte header then CRC'd records (trace-codec.ts)
// appended with write(2). Appends are buffered and written once per
// microtask, so a burst costs one system call, and the bytes are in the page
// cache (they survive kill -9) before any reply that follows them is sent.
//
// Lookup by id without a scan of the records: every segment keeps an index
// of its records by message id (two typed arrays, 12 bytes per event: in
// record order while the segment is written, sorted by id once sealed), and
// its time range. A read visits only segments
// written at or after the message's push (its snowflake's time), binary
// searches each, and reads just the matching records. The indexes are
// rebuilt at open by scanning the retained segments (bounded by retention).
//
// Damage at open: a record whose length or checksum is wrong is skipped when
// a valid record follows it (counted, reported), and cut off with everything
// after it when none does (a torn tail). A segment whose header is bad is
// renamed aside (*.bad).
//
// Retention: whole segments are deleted, oldest first, once the trace holds
// more than maxBytes or their newest event is older than maxAgeMs (checked
// when a segment fills, at most once a second as the trace is written or
// read, and at open).
import * as fs from "node:fs";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import type { TraceEvent, TraceLog, TraceLogStats, TraceRetention } from "../broker/storage.js";
import type { StoreContext } from "./context.js";
import { checkTraceRecord, decodeTraceRecord, encodeTraceRecord, maxTraceRecordBytes, traceRecordAt, traceRecordId, TRACE_FRAME_BYTES } from "./trace-codec.js";

const HEADER_BYTES = 16;
const MAGIC = Buffer.from("GMQTRC01", "ascii");
/** Smallest segment, so a tiny size retention does not mean a file per event. */
const MIN_SEGMENT_BYTES = 16 * 1024;
/** Retention is enforced at most this often while writing. */
const RECLAIM_EVERY_MS = 1000;
const segName = (index: number): string => `${String(index).padStart(10, "0")}.trc`;

interface Segment {
  index: number;
  path: string;
  bytes: number;
  firstAtMs: number;
  lastAtMs: number;
  /** The active segment's index is unsorted (record order) and growing; a sealed one's sorted by id. */
  sealed: boolean;
  /** Index: the message id and offset of each record (the first `count`). */
  ids: BigUint64Array;
  offs: Uint32Array;
  count: number;
}

export interface FileTraceLogOptions {
  dir: string;
  /** Largest segment; a size retention makes them smaller (an eighth of it). */
  segmentBytes: number;
  retention: TraceRetention;
  ctx: StoreContext;
}

function header(index: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(index, 8);
  h.writeUInt32LE(crc32c(h.subarray(0, 12)), 12);
  return h;
}

function headerOk(buf: Buffer, index: number): boolean {
  return (
    buf.length >= HEADER_BYTES &&
    buf.subarray(0, 8).equals(MAGIC) &&
    buf.readUInt32LE(8) === index &&
    crc32c(buf.subarray(0, 12)) === buf.readUInt32LE(12)
  );
}

function newSegment(index: number, path: string): Segment {
  return {
    index,
    path,
    bytes: HEADER_BYTES,
    firstAtMs: Number.POSITIVE_INFINITY,
    lastAtMs: Number.NEGATIVE_INFINITY,
    sealed: false,
    ids: new BigUint64Array(1024),
    offs: new Uint32Array(1024),
    count: 0,
  };
}

export class FileTraceLog implements TraceLog {
  private readonly segments: Segment[] = [];
  /** The segment written, with its file open; undefined until the next append opens one. */
  private active: Segment | undefined;
  private fd = -1;
  /** Records encoded since the last write, in pending[0, pendingBytes). */
  private pending: Buffer = Buffer.allocUnsafe(64 * 1024);
  private pendingBytes = 0;
  private pendingCount = 0;
  private flushQueued = false;
  private retention: TraceRetention;
  private lastReclaimMs = Number.NEGATIVE_INFINITY;
  private nextIndex = 1;
  private closed = false;
  private readonly counts = { segmentsReclaimed: 0, corruptRecordsSkipped: 0, tornTailsTruncated: 0, eventsLost: 0 };

  constructor(private readonly opts: FileTraceLogOptions) {
    this.retention = opts.retention;
    fs.mkdirSync(opts.dir, { recursive: true });
    this.recover();
    this.reclaim(opts.ctx.clock.now());
  }

  private get segmentBytes(): number {
    const byRetention = this.retention.maxBytes > 0 ? Math.floor(this.retention.maxBytes / 8) : Number.POSITIVE_INFINITY;
    return Math.max(MIN_SEGMENT_BYTES, Math.min(this.opts.segmentBytes, byRetention));
  }

  // ------------------------------------------------------------- recovery

  private recover(): void {
    const names = fs.readdirSync(this.opts.dir).filter((n) => /^\d{10}\.trc$/.test(n)).sort();
    for (const name of names) {
      const index = Number(name.slice(0, 10));
      const path = join(this.opts.dir, name);
      this.nextIndex = Math.max(this.nextIndex, index + 1);
      const buf = fs.readFileSync(path);
      if (!headerOk(buf, index)) {
        this.opts.ctx.logger.warn({ file: path }, "trace segment header unreadable; renamed aside as .bad");
        this.opts.ctx.counters.quarantinedSegments++;
        fs.renameSync(path, `${path}.bad`);
        continue;
      }
      const seg = newSegment(index, path);
      const end = this.scan(seg, buf);
      if (end < buf.length) {
        this.opts.ctx.logger.warn({ file: path, at: end, bytes: buf.length - end }, "trace segment has a torn or damaged tail; cut off");
        this.counts.tornTailsTruncated++;
        fs.truncateSync(path, end);
      }
      seg.bytes = end;
      this.segments.push(seg);
    }
    // Earlier segments are sealed; the newest goes on being written if it has room.
    const last = this.segments[this.segments.length - 1];
    for (const seg of this.segments) if (seg !== last || seg.bytes >= this.segmentBytes) this.seal(seg);
    if (last !== undefined && !last.sealed) {
      this.fd = fs.openSync(last.path, "r+");
      this.active = last;
    }
  }

  /** Indexes the records of buf; returns where the valid records end. */
  private scan(seg: Segment, buf: Buffer): number {
    let off = HEADER_BYTES;
    let end = off;
    while (off < buf.length) {
      const len = checkTraceRecord(buf, off, buf.length);
      if (len > 0) {
        this.index(seg, traceRecordId(buf, off), off, traceRecordAt(buf, off));
        off += len;
        end = off;
        continue;
      }
      if (buf.readUInt32LE(off) === 0 && buf.subarray(off).every((b) => b === 0)) break; // zeroed space after the last record
      const next = this.resync(buf, off + 1);
      if (next < 0) break;
      this.opts.ctx.logger.warn({ file: seg.path, at: off, bytes: next - off }, "damaged trace record skipped");
      this.counts.corruptRecordsSkipped++;
      this.opts.ctx.counters.corruptRecordsSkipped++;
      off = next;
    }
    return end;
  }

  /** The first offset at or after `from` where a valid record starts, or -1. */
  private resync(buf: Buffer, from: number): number {
    for (let off = from; off + TRACE_FRAME_BYTES < buf.length; off++) {
      if (checkTraceRecord(buf, off, buf.length) > 0) return off;
    }
    return -1;
  }

  private index(seg: Segment, id: bigint, off: number, atMs: number): void {
    if (seg.count === seg.ids.length) {
      const ids = new BigUint64Array(seg.count * 2);
      ids.set(seg.ids);
      const offs = new Uint32Array(seg.count * 2);
      offs.set(seg.offs);
      seg.ids = ids;
      seg.offs = offs;
    }
    seg.ids[seg.count] = id;
    seg.offs[seg.count++] = off;
    if (atMs < seg.firstAtMs) seg.firstAtMs = atMs;
    if (atMs > seg.lastAtMs) seg.lastAtMs = atMs;
  }

  /** Sorts the segment's index by id (then offset) and trims it: 12 bytes per event. */
  private seal(seg: Segment): void {
    if (seg.sealed) return;
    const n = seg.count;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const srcIds = seg.ids;
    const srcOffs = seg.offs;
    order.sort((a, b) => {
      const x = srcIds[a]!;
      const y = srcIds[b]!;
      return x < y ? -1 : x > y ? 1 : srcOffs[a]! - srcOffs[b]!;
    });
    const ids = new BigUint64Array(n);
    const offs = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      ids[i] = srcIds[order[i]!]!;
      offs[i] = srcOffs[order[i]!]!;
    }
    seg.ids = ids;
    seg.offs = offs;
    seg.sealed = true;
  }

  // --------------------------------------------------------------- append

  append(event: TraceEvent): void {
    if (this.closed) return;
    // A segment spans at most an eighth of the age retention, so it is reclaimed about on time.
    const maxAgeMs = this.retention.maxAgeMs;
    if (this.active !== undefined && maxAgeMs > 0 && event.atMs - this.active.firstAtMs > maxAgeMs / 8) {
      this.flush();
      this.rollActive();
    }
    try {
      const seg = this.active ?? this.openSegment();
      const room = maxTraceRecordBytes(event);
      if (this.pendingBytes + room > this.pending.length) {
        const grown = Buffer.allocUnsafe(Math.max(this.pending.length * 2, this.pendingBytes + room));
        this.pending.copy(grown, 0, 0, this.pendingBytes);
        this.pending = grown;
      }
      const length = encodeTraceRecord(event, this.pending, this.pendingBytes);
      this.index(seg, event.id, seg.bytes + this.pendingBytes, event.atMs);
      this.pendingBytes += length;
      this.pendingCount++;
    } catch (err) {
      this.lost(1, err);
      return;
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  private openSegment(): Segment {
    const index = this.nextIndex++;
    const path = join(this.opts.dir, segName(index));
    const fd = fs.openSync(path, "wx+");
    try {
      fs.writeSync(fd, header(index), 0, HEADER_BYTES, 0);
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(path, { force: true });
      throw err;
    }
    const seg = newSegment(index, path);
    this.segments.push(seg);
    this.active = seg;
    this.fd = fd;
    return seg;
  }

  /** Writes what append buffered (once per microtask; before a read). */
  flush(): void {
    this.flushQueued = false;
    const seg = this.active;
    if (this.pendingCount === 0 || seg === undefined) return;
    const buf = this.pending.subarray(0, this.pendingBytes);
    const count = this.pendingCount;
    this.pendingBytes = 0;
    this.pendingCount = 0;
    try {
      for (let done = 0; done < buf.length; ) done += fs.writeSync(this.fd, buf, done, buf.length - done, seg.bytes + done);
      seg.bytes += buf.length;
    } catch (err) {
      // Index entries past the written end are checked away at read; the next event starts a new segment.
      this.lost(count, err);
      this.rollActive();
      return;
    }
    const now = this.opts.ctx.clock.now();
    // A new segment is when the size bound can be passed: check then, and the age bound now and then.
    if (seg.bytes >= this.segmentBytes) {
      this.rollActive();
      this.reclaim(now);
    } else if (now - this.lastReclaimMs >= RECLAIM_EVERY_MS) this.reclaim(now);
  }

  private lost(count: number, err: unknown): void {
    if (this.counts.eventsLost === 0) this.opts.ctx.logger.warn({ dir: this.opts.dir, err: String(err) }, "cannot write trace events; they are lost (counted in eventsLost)");
    this.counts.eventsLost += count;
  }

  private rollActive(): void {
    const seg = this.active;
    if (seg === undefined) return;
    this.active = undefined;
    this.seal(seg);
    this.closeFd();
  }

  private closeFd(): void {
    if (this.fd < 0) return;
    try {
      fs.closeSync(this.fd);
    } catch {
      // nothing is left to write through it
    }
    this.fd = -1;
  }

  // ----------------------------------------------------------------- read

  read(id: bigint, notBeforeMs: number, max: number): TraceEvent[] {
    this.flush();
    const out: TraceEvent[] = [];
    const frame = Buffer.allocUnsafe(TRACE_FRAME_BYTES);
    for (const seg of this.segments) {
      if (out.length >= max) break;
      if (seg.lastAtMs < notBeforeMs) continue;
      const offs = seg.sealed ? offsetsOf(seg, id) : scanOffsets(seg, id);
      if (offs.length === 0) continue;
      const fd = fs.openSync(seg.path, "r");
      try {
        for (const off of offs) {
          if (out.length >= max) break;
          if (off + TRACE_FRAME_BYTES > seg.bytes) continue;
          fs.readSync(fd, frame, 0, TRACE_FRAME_BYTES, off);
          const len = TRACE_FRAME_BYTES + frame.readUInt32LE(0);
          if (off + len > seg.bytes) continue;
          const rec = Buffer.allocUnsafe(len);
          fs.readSync(fd, rec, 0, len, off);
          // An entry whose write failed, or bytes damaged since open, read as no record.
          if (checkTraceRecord(rec, 0, len) !== len || traceRecordId(rec, 0) !== id) continue;
          out.push(decodeTraceRecord(rec, 0));
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    return out;
  }

  // ------------------------------------------------------------ retention

  setRetention(retention: TraceRetention): void {
    this.retention = retention;
    this.reclaim(this.opts.ctx.clock.now());
  }

  private reclaim(nowMs: number): void {
    this.lastReclaimMs = nowMs;
    const { maxAgeMs, maxBytes } = this.retention;
    let total = 0;
    for (const s of this.segments) total += s.bytes;
    while (this.segments.length > 0) {
      const s = this.segments[0]!;
      const old = maxAgeMs > 0 && s.lastAtMs < nowMs - maxAgeMs;
      // The segment written is kept unless all of it is too old: the newest events stay.
      const big = maxBytes > 0 && total > maxBytes && s !== this.active;
      if (!old && !big) break;
      if (s === this.active) {
        if (this.pendingCount > 0) break;
        this.rollActive();
      }
      try {
        fs.rmSync(s.path, { force: true });
      } catch (err) {
        this.opts.ctx.logger.warn({ file: s.path, err: String(err) }, "cannot delete a trace segment past retention; will retry");
        break;
      }
      this.segments.shift();
      total -= s.bytes;
      this.counts.segmentsReclaimed++;
    }
  }

  stats(): TraceLogStats {
    let bytes = 0;
    for (const s of this.segments) bytes += s.bytes;
    return { bytesOnDisk: bytes + this.pendingBytes, segments: this.segments.length, ...this.counts };
  }

  /** Writes what is buffered and closes the file; with `remove`, deletes the trace's files too. */
  close(remove = false): void {
    if (this.closed) return;
    if (!remove) this.flush();
    this.closed = true;
    this.pendingBytes = 0;
    this.pendingCount = 0;
    this.closeFd();
    this.active = undefined;
    if (remove) fs.rmSync(this.opts.dir, { recursive: true, force: true });
  }

  /** fdatasyncs the segment written, for the store's fsync policy. */
  sync(): void {
    if (this.fd >= 0) fs.fdatasyncSync(this.fd);
  }
}

/** Offsets of the records of `id` in the active segment, in record order (a scan of its index: at most one segment's events). */
function scanOffsets(seg: Segment, id: bigint): number[] {
  const out: number[] = [];
  const ids = seg.ids;
  for (let i = 0; i < seg.count; i++) if (ids[i] === id) out.push(seg.offs[i]!);
  return out;
}

/** Offsets of the records of `id` in a sealed segment (binary search). */
function offsetsOf(seg: Segment, id: bigint): number[] {
  const ids = seg.ids;
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! < id) lo = mid + 1;
    else hi = mid;
  }
  const out: number[] = [];
  for (let i = lo; i < ids.length && ids[i] === id; i++) out.push(seg.offs[i]!);
  return out;
}

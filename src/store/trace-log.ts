// One topic's lifecycle trace on disk (TraceLog of the broker's contract):
// numbered segment files `0000000001.trc`, ... in the topic's trace
// directory, each a 16-byte header then CRC'd records (trace-codec.ts).
// A segment is allocated zero-filled and mapped, as the message logs' are
// (context.ts: its blocks exist before the mapping is written, so a full
// disk is an error at allocation, never a SIGBUS), and records are copied
// into the mapping: once per microtask, so the bytes are in the page cache
// (they survive kill -9) before any reply that follows them is sent. A
// single push, arriving in its own I/O callback, costs a memory copy, not a
// write(2). A segment is cut to its records when it is sealed; the next is
// twice what it held (64 KiB at least, up to the bound), so an idle traced
// topic keeps little disk and little of its mapping resident.
//
// What an event costs is what tracing costs, so the hot path is small:
// consecutive events that differ only in their message id (a batch's
// deliveries, a stream's acks: the caller passes the same subject object)
// extend one record, a run, by 8 bytes of id written into the buffer as an
// aligned u64, and one index entry. The strings, the checksum and the
// record's frame are paid once per run.
//
// Lookup by id without a scan of the records: every segment keeps an index
// of its records with the bounds of the ids each holds (trace-index.ts: 20
// bytes per record, not per event, nothing to sort when the segment is
// sealed), and its time range. A read visits only segments written at or
// after the message's push (its snowflake's time), checks each record's
// bounds, and reads just the records that may hold the id. The indexes are
// rebuilt at open by scanning the retained segments (bounded by retention).
//
// Damage at open: a record whose length or checksum is wrong is skipped when
// a valid record follows it (counted, reported), and cut off with everything
// after it when none does (a torn tail). A record's length is never 0, so
// zeros where a record would start are the end of the written records (the
// rest of the segment is zeros too, or the tail is torn). A segment whose
// header is bad is renamed aside (*.bad); one all zeros (allocated, never
// written: a crash came between) is deleted.
//
// Retention: whole segments are deleted, oldest first, once the trace holds
// more than maxBytes or their newest event is older than maxAgeMs (checked
// when a segment fills, at most once a second as the trace is written or
// read, and at open).
import * as fs from "node:fs";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import type { TraceEvent, TraceKind, TraceLog, TraceLogStats, TraceRetention, TraceSubject } from "../broker/storage.js";
import { type StoreContext, toStoreError } from "./context.js";
import { dropPages, mapShared } from "./mmap.js";
import { align8, LITTLE } from "./record.js";
import { TraceIndex } from "./trace-index.js";
import { checkTraceRecord, decodeTraceEvents, encodeTraceRunHead, maxTraceHeadBytes, sealTraceRun, traceRecordAt, traceRecordIds, TRACE_FRAME_BYTES } from "./trace-codec.js";

const HEADER_BYTES = 16;
/**
 * Format 1: one record per event; format 2: runs, 8-byte aligned
 * (trace-codec.ts), the file as long as its records; format 3: format 2's
 * records in a zero-filled, mapped file (zeros after the last record). Only
 * format 3 is written; 1 and 2 are read.
 */
const MAGIC_V1 = Buffer.from("GMQTRC01", "ascii");
const MAGIC_V2 = Buffer.from("GMQTRC02", "ascii");
const MAGIC = Buffer.from("GMQTRC03", "ascii");
/** Format appended to. */
const FORMAT = 3;
/** A run ends at about this size, so reading one event reads little. */
const MAX_RUN_BYTES = 32 * 1024;
/**
 * Buffered records are written once they pass this, not only at the end of
 * the microtask: a consumer loop can deliver and ack a whole backlog in one
 * turn, and a buffer grown to megabytes costs more than a write.
 */
const WRITE_AT_BYTES = 64 * 1024;
/** Smallest segment bound, so a tiny size retention does not mean a file per event. */
const MIN_SEGMENT_BYTES = 16 * 1024;
/** A trace's first segment (when its bound is larger); later ones double. */
const FIRST_SEGMENT_BYTES = 64 * 1024;
/** A segment with less room left than this is sealed at a flush rather than at the next event that does not fit. */
const MIN_ROOM_BYTES = 512;
const ZEROS = Buffer.alloc(64 * 1024);
/** Retention is enforced at most this often while writing. */
const RECLAIM_EVERY_MS = 1000;
const segName = (index: number): string => `${String(index).padStart(10, "0")}.trc`;

interface Segment {
  index: number;
  path: string;
  /** End of its records. */
  bytes: number;
  /** Length of its file (bytes past `bytes` are zeros). */
  capacity: number;
  firstAtMs: number;
  lastAtMs: number;
  /** Written no more; its index is trimmed. */
  sealed: boolean;
  /** Its header's format; only FORMAT is appended to. */
  format: number;
  /** Message id -> offsets of its records. */
  ids: TraceIndex;
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

/** The segment's format (1, 2 or 3), or 0 when its header is bad. */
function headerFormat(buf: Buffer, index: number): number {
  if (buf.length < HEADER_BYTES || buf.readUInt32LE(8) !== index || crc32c(buf.subarray(0, 12)) !== buf.readUInt32LE(12)) return 0;
  const magic = buf.subarray(0, 8);
  return magic.equals(MAGIC) ? 3 : magic.equals(MAGIC_V2) ? 2 : magic.equals(MAGIC_V1) ? 1 : 0;
}

/** buf[from, end) holds only zeros (compared a block at a time: segments are megabytes). */
function allZero(buf: Buffer, from: number): boolean {
  for (let o = from; o < buf.length; o += ZEROS.length) {
    const n = Math.min(ZEROS.length, buf.length - o);
    if (!buf.subarray(o, o + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

function newSegment(index: number, path: string, capacity: number): Segment {
  return {
    index,
    path,
    bytes: HEADER_BYTES,
    capacity,
    firstAtMs: Number.POSITIVE_INFINITY,
    lastAtMs: Number.NEGATIVE_INFINITY,
    sealed: false,
    format: FORMAT,
    ids: new TraceIndex(),
  };
}

export class FileTraceLog implements TraceLog {
  private readonly segments: Segment[] = [];
  /** The segment written, with its file open and mapped; undefined until the next append opens one. */
  private active: Segment | undefined;
  private fd = -1;
  private map: Buffer | undefined;
  /** Bytes pending may hold: the active segment's room (0 without one). */
  private pendingLimit = 0;
  /** Records encoded since the last write, in pending[0, pendingBytes); its own memory, so 8-aligned for pending64. */
  private pending: Buffer = Buffer.allocUnsafeSlow(2 * WRITE_AT_BYTES);
  private pending64 = new BigUint64Array(this.pending.buffer, 0, this.pending.length >>> 3);
  private pending32 = new Uint32Array(this.pending.buffer, 0, this.pending.length >>> 2);
  private pendingBytes = 0;
  /** Events in pending. */
  private pendingCount = 0;
  /** The run being extended (the last record in pending), while `runAbout` is set. */
  private runAbout: TraceSubject | undefined;
  private runKind = 0;
  private runAtMs = 0;
  private runRetry = 0;
  private runUntilMs = 0;
  private runStart = 0;
  /** The run is extended while pendingBytes is below this (its size bound and the segment's room). */
  private runLimit = 0;
  /** Where the run's ids start in pending. */
  private runIdsAt = 0;
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
      const format = headerFormat(buf, index);
      if (format === 0 && allZero(buf, 0)) {
        fs.rmSync(path, { force: true });
        continue;
      }
      if (format === 0) {
        this.opts.ctx.logger.warn({ file: path }, "trace segment header unreadable; renamed aside as .bad");
        this.opts.ctx.counters.quarantinedSegments++;
        fs.renameSync(path, `${path}.bad`);
        continue;
      }
      const seg = newSegment(index, path, buf.length);
      const end = this.scan(seg, buf);
      if (end < buf.length && !allZero(buf, end)) {
        this.opts.ctx.logger.warn({ file: path, at: end, bytes: buf.length - end }, "trace segment has a torn or damaged tail; cut off");
        this.counts.tornTailsTruncated++;
        fs.truncateSync(path, end);
        seg.capacity = end;
      }
      seg.bytes = end;
      seg.format = format;
      this.segments.push(seg);
    }
    // Earlier segments are sealed (cut to their records); the newest goes on being written if it has zeros to write into and is of the format written now.
    const last = this.segments[this.segments.length - 1];
    for (const seg of this.segments) {
      if (seg === last && seg.format === FORMAT && seg.bytes % 8 === 0 && seg.capacity - seg.bytes >= MIN_ROOM_BYTES) continue;
      if (seg.capacity > seg.bytes) {
        fs.truncateSync(seg.path, seg.bytes);
        seg.capacity = seg.bytes;
      }
      this.seal(seg);
    }
    if (last !== undefined && !last.sealed) this.mapActive(last, fs.openSync(last.path, "r+"));
  }

  /** Makes seg, whose file is open as fd and zero-filled past its records, the segment written. */
  private mapActive(seg: Segment, fd: number): void {
    try {
      this.map = mapShared(fd, seg.capacity);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    this.fd = fd;
    this.active = seg;
    this.pendingLimit = seg.capacity - seg.bytes;
  }

  /** Indexes the records of buf; returns where the valid records end. */
  private scan(seg: Segment, buf: Buffer): number {
    let off = HEADER_BYTES;
    let end = off;
    while (off < buf.length) {
      const len = checkTraceRecord(buf, off, buf.length);
      if (len > 0) {
        indexRecord(seg.ids, buf, off);
        this.spans(seg, traceRecordAt(buf, off));
        off += len;
        end = off;
        continue;
      }
      if (buf[off] === 0 && allZero(buf, off)) break; // zeroed space after the last record
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

  /** The segment holds an event of atMs. */
  private spans(seg: Segment, atMs: number): void {
    if (atMs < seg.firstAtMs) seg.firstAtMs = atMs;
    if (atMs > seg.lastAtMs) seg.lastAtMs = atMs;
  }

  private seal(seg: Segment): void {
    if (seg.sealed) return;
    seg.ids.trim();
    seg.sealed = true;
  }

  // --------------------------------------------------------------- append

  append(kind: TraceKind, atMs: number, id: bigint, about: TraceSubject, retry: number, untilMs: number): void {
    // The same event as the run's but for the id: 8 bytes (the index is per run, kept at its end).
    if (
      about === this.runAbout &&
      kind === this.runKind &&
      atMs === this.runAtMs &&
      retry === this.runRetry &&
      untilMs === this.runUntilMs &&
      this.pendingBytes < this.runLimit
    ) {
      if (this.pendingBytes + 8 > this.pending.length) this.grow(8);
      this.putId(id);
      this.pendingCount++;
      return;
    }
    if (this.closed) return;
    this.startRun(kind, atMs, id, about, retry, untilMs);
  }

  private startRun(kind: TraceKind, atMs: number, id: bigint, about: TraceSubject, retry: number, untilMs: number): void {
    this.endRun();
    if (this.pendingBytes >= WRITE_AT_BYTES) this.flush();
    // A segment spans at most an eighth of the age retention, so it is reclaimed about on time.
    const maxAgeMs = this.retention.maxAgeMs;
    if (this.active !== undefined && maxAgeMs > 0 && atMs - this.active.firstAtMs > maxAgeMs / 8) {
      this.flush();
      this.rollActive();
    }
    const room = maxTraceHeadBytes(about) + 8;
    if (this.active !== undefined && this.pendingBytes + room > this.pendingLimit) {
      this.flush();
      this.rollActive();
      this.reclaim(this.opts.ctx.clock.now());
    }
    try {
      const seg = this.active ?? this.openSegment(room);
      if (this.pendingBytes + room > this.pending.length) this.grow(room);
      const start = this.pendingBytes;
      this.pendingBytes = encodeTraceRunHead(kind, atMs, id, about, retry, untilMs, this.pending, start);
      this.runIdsAt = this.pendingBytes;
      this.putId(id);
      this.spans(seg, atMs);
      this.pendingCount++;
      this.runAbout = about;
      this.runKind = kind;
      this.runAtMs = atMs;
      this.runRetry = retry;
      this.runUntilMs = untilMs;
      this.runStart = start;
      // An extension is 8 bytes: it must fit the segment as well as the run's bound.
      this.runLimit = Math.min(start + MAX_RUN_BYTES, this.pendingLimit - 7);
    } catch (err) {
      this.lost(1, err);
      return;
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes the id at pendingBytes (8-aligned). */
  private putId(id: bigint): void {
    if (LITTLE) this.pending64[this.pendingBytes >>> 3] = id;
    else this.pending.writeBigUInt64LE(id, this.pendingBytes);
    this.pendingBytes += 8;
  }

  private grow(room: number): void {
    const grown = Buffer.allocUnsafeSlow(align8(Math.max(this.pending.length * 2, this.pendingBytes + room)));
    this.pending.copy(grown, 0, 0, this.pendingBytes);
    this.pending = grown;
    this.pending64 = new BigUint64Array(grown.buffer, 0, grown.length >>> 3);
    this.pending32 = new Uint32Array(grown.buffer, 0, grown.length >>> 2);
  }

  /** Frames the run being extended: no more events join it. */
  private endRun(): void {
    if (this.runAbout === undefined) return;
    this.runAbout = undefined;
    sealTraceRun(this.pending, this.runStart, this.pendingBytes);
    const seg = this.active!;
    if (LITTLE) indexAlignedRun(seg.ids, seg.bytes + this.runStart, this.pending32, this.runIdsAt >>> 2, this.pendingBytes >>> 2);
    else indexRun(seg.ids, seg.bytes + this.runStart, this.pending, this.runIdsAt, this.pendingBytes);
  }

  /**
   * Allocates, maps and starts the next segment, with room for `room` bytes
   * of records at least. Throws (a StoreError: DISK_FULL on ENOSPC) when the
   * file cannot be allocated whole; nothing is then mapped or kept.
   */
  private openSegment(room: number): Segment {
    const bound = this.segmentBytes;
    // Twice what the last segment came to hold: a busy trace grows to its bound, one sealed by age with a few events stays small.
    const last = this.segments[this.segments.length - 1];
    const first = Math.min(bound, FIRST_SEGMENT_BYTES);
    const grown = last === undefined ? first : Math.min(bound, Math.max(first, Math.ceil((2 * last.bytes) / FIRST_SEGMENT_BYTES) * FIRST_SEGMENT_BYTES));
    const capacity = Math.max(grown, Math.ceil((HEADER_BYTES + room) / 4096) * 4096);
    const index = this.nextIndex;
    const path = join(this.opts.dir, segName(index));
    try {
      this.opts.ctx.allocate(path, capacity);
      const seg = newSegment(index, path, capacity);
      this.mapActive(seg, fs.openSync(path, "r+"));
      this.nextIndex++;
      header(index).copy(this.map!, 0);
      this.segments.push(seg);
      return seg;
    } catch (err) {
      // mapActive closed fd when it failed.
      fs.rmSync(path, { force: true });
      throw toStoreError(err, `allocating trace segment ${path}`);
    }
  }

  /** Copies what append buffered into the mapping (once per microtask, past WRITE_AT_BYTES, before a read). */
  flush(): void {
    this.flushQueued = false;
    this.endRun();
    const seg = this.active;
    if (this.pendingCount === 0 || seg === undefined) return;
    // Fits: startRun and the run's limit kept pending within the segment's room.
    this.pending.copy(this.map!, seg.bytes, 0, this.pendingBytes);
    seg.bytes += this.pendingBytes;
    this.pendingLimit -= this.pendingBytes;
    this.pendingBytes = 0;
    this.pendingCount = 0;
    const now = this.opts.ctx.clock.now();
    // A new segment is when the size bound can be passed: check then, and the age bound now and then.
    if (this.pendingLimit < MIN_ROOM_BYTES) {
      this.rollActive();
      this.reclaim(now);
    } else if (now - this.lastReclaimMs >= RECLAIM_EVERY_MS) this.reclaim(now);
  }

  private lost(count: number, err: unknown): void {
    if (this.counts.eventsLost === 0) this.opts.ctx.logger.warn({ dir: this.opts.dir, err: String(err) }, "cannot write trace events; they are lost (counted in eventsLost)");
    this.counts.eventsLost += count;
  }

  /** Seals the segment written: its mapping goes (its pages leave this process at once) and its file is cut to its records. */
  private rollActive(): void {
    const seg = this.active;
    if (seg === undefined) return;
    this.active = undefined;
    this.pendingLimit = 0;
    this.seal(seg);
    if (this.map !== undefined) dropPages(this.map, 0, this.map.length);
    // The mapping itself is unmapped when collected; nothing touches it past this point, so cutting the file under it is safe.
    this.map = undefined;
    try {
      fs.ftruncateSync(this.fd, seg.bytes);
      seg.capacity = seg.bytes;
    } catch (err) {
      this.opts.ctx.logger.warn({ file: seg.path, err: String(err) }, "cannot cut a sealed trace segment to its records; its zeros stay");
    }
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
      const offs = seg.ids.offsetsOf(id);
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
          if (checkTraceRecord(rec, 0, len) !== len) continue;
          decodeTraceEvents(rec, 0, id, out, max);
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

  /** Writes what is buffered and seals the segment written (so the next open writes a new one); with `remove`, deletes the trace's files too. */
  close(remove = false): void {
    if (this.closed) return;
    if (!remove) this.flush();
    this.closed = true;
    this.runAbout = undefined;
    this.pendingBytes = 0;
    this.pendingCount = 0;
    this.rollActive();
    if (remove) fs.rmSync(this.opts.dir, { recursive: true, force: true });
  }

  /** fdatasyncs the segment written, for the store's fsync policy. */
  sync(): void {
    if (this.fd >= 0) fs.fdatasyncSync(this.fd);
  }
}


/** Adds the (checked) record at off to the index, with the bounds of its ids. */
function indexRecord(index: TraceIndex, buf: Buffer, off: number): void {
  const [from, to] = traceRecordIds(buf, off);
  indexRun(index, off, buf, from, to);
}

/** indexRun over ids in words[from, to) (32-bit words, little-endian machine): the write path's. */
function indexAlignedRun(index: TraceIndex, off: number, words: Uint32Array, from: number, to: number): void {
  let minHi = 0xffffffff;
  let minLo = 0xffffffff;
  let maxHi = 0;
  let maxLo = 0;
  for (let w = from; w + 1 < to; w += 2) {
    const lo = words[w]!;
    const hi = words[w + 1]!;
    if (hi < minHi || (hi === minHi && lo < minLo)) {
      minHi = hi;
      minLo = lo;
    }
    if (hi > maxHi || (hi === maxHi && lo > maxLo)) {
      maxHi = hi;
      maxLo = lo;
    }
  }
  index.add(off, minHi, minLo, maxHi, maxLo);
}

/** Adds the record at off to the index; its ids (u64 LE) are buf[from, to). Bounds are found on 32-bit halves: no BigInt work per id. */
function indexRun(index: TraceIndex, off: number, buf: Buffer, from: number, to: number): void {
  let minHi = 0xffffffff;
  let minLo = 0xffffffff;
  let maxHi = 0;
  let maxLo = 0;
  for (let o = from; o + 8 <= to; o += 8) {
    const lo = buf.readUInt32LE(o);
    const hi = buf.readUInt32LE(o + 4);
    if (hi < minHi || (hi === minHi && lo < minLo)) {
      minHi = hi;
      minLo = lo;
    }
    if (hi > maxHi || (hi === maxHi && lo > maxLo)) {
      maxHi = hi;
      maxLo = lo;
    }
  }
  index.add(off, minHi, minLo, maxHi, maxLo);
}

// Reads records of segments that are not mapped (sealed ones) with
// fs.readSync into one reusable buffer, so scanning a large backlog costs no
// RSS: the pages stay in the page cache, not in this process's mappings.
// One reader serves a whole Storage (everything is synchronous), so a caller
// must decode a record before the next read.
import * as fs from "node:fs";
import { RECORD_HEADER_BYTES, checkFraming, checkRecord } from "./record.js";
import type { Segment } from "./segment.js";

/** Read fds kept open (least recently opened closed first): lookups by id hop between segments at random. */
const MAX_OPEN_FDS = 64;

export class ChunkReader {
  readonly buf: Buffer;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  /** Offset in buf of the record found by the last read. */
  off = 0;
  private seg: Segment | null = null;
  private start = 0;
  private len = 0;
  private readonly open: Segment[] = [];

  constructor(bytes: number) {
    this.buf = Buffer.allocUnsafeSlow(bytes - (bytes % 8));
    this.u32 = new Uint32Array(this.buf.buffer, this.buf.byteOffset, this.buf.length >>> 2);
    this.f64 = new Float64Array(this.buf.buffer, this.buf.byteOffset, this.buf.length >>> 3);
  }

  /**
   * Like checkRecord for the record at `off` of `seg` (limit seg.end). When
   * it is not in the buffer, reads `want` bytes from there (more if the
   * record is longer): the whole buffer for sequential reading, a little for
   * a record read by position.
   */
  read(seg: Segment, off: number, want = this.buf.length): number {
    if (seg !== this.seg || off < this.start || off + RECORD_HEADER_BYTES > this.start + this.len) {
      this.fill(seg, off, want);
    }
    const check = seg.verified ? checkFraming : checkRecord;
    let rel = off - this.start;
    let r = check(this.buf, rel, Math.min(this.len, seg.end - this.start));
    if (r < 0) {
      const length = this.buf.readUInt32LE(rel);
      if (length >= RECORD_HEADER_BYTES && rel + length > this.len && (this.start !== off || this.len < Math.min(this.buf.length, seg.bytes - off))) {
        this.fill(seg, off, Math.max(want, length));
        rel = 0;
        r = check(this.buf, 0, Math.min(this.len, seg.end - off));
      }
    }
    this.off = rel;
    return r;
  }

  /** Reads bytes [from, to) of seg (as much as the buffer holds), so records there are read from memory. */
  prefetch(seg: Segment, from: number, to: number): void {
    if (seg === this.seg && from >= this.start && to <= this.start + this.len) return;
    this.fill(seg, from, to - from);
  }

  /** Reads `length` raw bytes at `off` (for recovery checks); returns bytes read. */
  readRaw(seg: Segment, off: number, length: number): number {
    this.seg = null;
    return fs.readSync(this.fdOf(seg), this.buf, 0, Math.min(length, this.buf.length), off);
  }

  forget(seg: Segment): void {
    if (this.seg === seg) this.seg = null;
    const i = this.open.indexOf(seg);
    if (i >= 0) this.open.splice(i, 1);
    if (seg.readFd >= 0) fs.closeSync(seg.readFd);
    seg.readFd = -1;
  }

  /** Drops cached data (after a segment was repaired in place). */
  invalidate(): void {
    this.seg = null;
  }

  private fill(seg: Segment, off: number, want: number): void {
    this.seg = null;
    const n = fs.readSync(this.fdOf(seg), this.buf, 0, Math.max(0, Math.min(this.buf.length, want, seg.bytes - off)), off);
    this.seg = seg;
    this.start = off;
    this.len = n;
  }

  private fdOf(seg: Segment): number {
    if (seg.readFd < 0) {
      seg.readFd = fs.openSync(seg.path, "r");
      this.open.push(seg);
      if (this.open.length > MAX_OPEN_FDS) {
        const old = this.open.shift()!;
        if (old.readFd >= 0) fs.closeSync(old.readFd);
        old.readFd = -1;
      }
    }
    return seg.readFd;
  }
}

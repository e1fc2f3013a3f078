// An append-only log of records over numbered segment files in one directory
// (`0000000001.seg`, ...). It knows nothing of queues: the message log, the
// delayed-message log and the state journal of a queue are each one of these.
//
// Positions are numbers: segment index * 2^32 + byte offset in the segment.
import * as fs from "node:fs";
import { join } from "node:path";
import { StoreError } from "../broker/storage.js";
import { type StoreContext, toStoreError } from "./context.js";
import { dropPages } from "./mmap.js";
import {
  RECORD_HEADER_BYTES,
  RecordType,
  align8,
  checkFraming,
  checkRecord,
  recordA,
  recordBytes,
  recordId,
  recordIdHi,
  recordIdLo,
  recordType,
  writePad,
  writeRecordAligned,
} from "./record.js";
import { LogKind, SEGMENT_HEADER_BYTES, Segment, parseHeader } from "./segment.js";
import { SegmentSummary, forgetSummary, keepSummary, saveSidecar, sidecarPath } from "./segment-summary.js";

export const SEG = 4294967296;
export const posIndex = (pos: number): number => Math.floor(pos / SEG);
export const posOffset = (pos: number): number => pos % SEG;

const EMPTY = Buffer.alloc(0);
const EMPTY_U32 = new Uint32Array(0);
const EMPTY_F64 = new Float64Array(0);
const segName = (index: number): string => `${String(index).padStart(10, "0")}.seg`;
/** First segment of a log; later ones double up to the configured segment size. */
export const FIRST_SEGMENT_BYTES = 1 << 20;
/** Bytes read for a record read by position (readAt): a page or two, not a whole chunk. */
const RANDOM_READ_BYTES = 8192;

export class SegmentLog {
  /** Existing segments by ascending index; the last one is written unless sealed. */
  readonly segments: Segment[] = [];
  /** Seq the next message record gets. */
  nextSeq = 0;
  /** Set by readFrom / readAt: where the record's bytes are. */
  rbuf: Buffer = EMPTY;
  ru32: Uint32Array = EMPTY_U32;
  rf64: Float64Array = EMPTY_F64;
  roff = 0;
  rlen = 0;
  /** Called after the log moved to a new segment. */
  onRoll: (() => void) | undefined;

  private readonly prepared: Segment[] = [];
  /** Segment indices are never reused: positions in journals and checkpoints stay unambiguous. */
  private minNextIndex = 1;
  private preparing = false;
  private prepareFailed = false;
  private closed = false;
  /** Sizes of the new segments the planned batch needs. */
  private readonly planNeeds: number[] = [];
  private planOff = 0;
  private planBytes = 0;
  /** Message and delay logs keep id summaries of their segments (segment-summary.ts); the journal does not. */
  private readonly summarized: boolean;

  constructor(
    readonly dir: string,
    readonly kind: number,
    readonly segmentBytes: number,
    private readonly ctx: StoreContext,
  ) {
    this.summarized = kind !== LogKind.Journal;
  }

  /**
   * Size of the next new segment. Segments start at FIRST_SEGMENT_BYTES and
   * double up to segmentBytes, so a queue that holds little costs little disk
   * and its first write does not zero-fill a whole segment on the hot path.
   */
  private growthBytes(): number {
    const last = this.prepared[this.prepared.length - 1] ?? this.segments[this.segments.length - 1];
    const first = Math.min(this.segmentBytes, FIRST_SEGMENT_BYTES);
    return last === undefined ? first : Math.min(this.segmentBytes, Math.max(first, last.bytes * 2));
  }

  get active(): Segment | undefined {
    const last = this.segments[this.segments.length - 1];
    return last !== undefined && !last.sealed ? last : undefined;
  }

  /** Position after the last record. */
  tailPos(): number {
    const last = this.segments[this.segments.length - 1];
    return last === undefined ? 0 : last.index * SEG + last.end;
  }

  firstPos(): number {
    const first = this.segments[0];
    return first === undefined ? 0 : first.index * SEG + SEGMENT_HEADER_BYTES;
  }

  bytesOnDisk(): number {
    let n = 0;
    for (const s of this.segments) n += s.bytes;
    for (const s of this.prepared) n += s.bytes;
    return n;
  }

  fileCount(): number {
    return this.segments.length + this.prepared.length;
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Opens the files found on disk, verifying unsealed segments record by record.
   *
   * An all-zero (or empty) file is taken for one the log never wrote to only
   * where an unused one can be: after the last segment with a header, when
   * that one is still being written (a sealed one means the log had moved on,
   * i.e. written the next header). Anywhere else it held records once: it is
   * quarantined and the seqs it held (between its neighbours) are reported lost.
   */
  recover(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return;
    }
    const indices = names
      .filter((n) => /^\d{10}\.seg$/.test(n))
      .map((n) => Number(n.slice(0, 10)))
      .sort((a, b) => a - b);
    for (const name of names) if (name.endsWith(".tmp") || name.endsWith(".del")) fs.rmSync(join(this.dir, name), { force: true });
    const sidecars = names.filter((n) => /^\d{10}\.idx$/.test(n));
    const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
    const found: { index: number; path: string; size: number; h: ReturnType<typeof parseHeader> | "unreadable"; err?: unknown }[] = [];
    for (const index of indices) {
      const path = join(this.dir, segName(index));
      try {
        const size = fs.statSync(path).size;
        const fd = fs.openSync(path, "r");
        try {
          head.fill(0);
          fs.readSync(fd, head, 0, SEGMENT_HEADER_BYTES, 0);
        } finally {
          fs.closeSync(fd);
        }
        let h = parseHeader(head);
        if (h === "zero" && !this.isZeroFile(path, size)) h = "bad";
        found.push({ index, path, size, h });
      } catch (err) {
        found.push({ index, path, size: 0, h: "unreadable", err });
      }
    }
    let lastUsed = -1;
    for (let i = 0; i < found.length; i++) if (found[i]!.h !== "zero") lastUsed = i;
    const lastUsedH = lastUsed < 0 ? undefined : found[lastUsed]!.h;
    const movedOn = typeof lastUsedH === "object" && lastUsedH.sealedEnd !== undefined;
    /** Indices of quarantined segments, to find the seqs they held. */
    const lostIndices: number[] = [];
    for (let i = 0; i < found.length; i++) {
      const { index, path, size } = found[i]!;
      let h = found[i]!.h;
      if (h === "unreadable") {
        this.quarantine(path, "unreadable segment", found[i]!.err);
        lostIndices.push(index);
        continue;
      }
      if (h === "zero") {
        if (i > lastUsed && !(movedOn && i === lastUsed + 1)) {
          fs.rmSync(path, { force: true }); // preallocated, never used
          continue;
        }
        this.quarantine(path, size === 0 ? "segment emptied, but the log wrote to it" : "segment zeroed, but the log wrote to it", undefined);
        lostIndices.push(index);
        continue;
      }
      if (h === "bad" || h.kind !== this.kind || h.index !== index || h.bytes < SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES) {
        this.quarantine(path, "segment header unreadable", undefined);
        lostIndices.push(index);
        continue;
      }
      const seg = new Segment(index, path, h.bytes);
      seg.baseSeq = h.baseSeq;
      seg.nextSeq = h.baseSeq;
      seg.startedAtS = h.startedAtS;
      let resized = false;
      if (size !== h.bytes) {
        this.ctx.logger.warn({ file: path, size, expected: h.bytes }, "segment has the wrong size; verifying it");
        try {
          fs.truncateSync(path, h.bytes);
        } catch (err) {
          this.quarantine(path, "segment cannot be resized", err);
          lostIndices.push(index);
          continue;
        }
        resized = true;
      }
      if (h.sealedEnd !== undefined && !resized && h.sealedEnd <= h.bytes && h.sealedEnd >= SEGMENT_HEADER_BYTES) {
        seg.sealed = true;
        seg.end = h.sealedEnd;
        seg.nextSeq = h.sealedNextSeq;
      } else {
        try {
          this.scan(seg);
        } catch (err) {
          seg.map = null;
          this.quarantine(path, "segment cannot be mapped", err);
          lostIndices.push(index);
          continue;
        }
      }
      this.segments.push(seg);
    }
    this.findLostSeqs(lostIndices);
    // Only the last segment stays open for writing; earlier unsealed ones
    // (a crash while rolling) are sealed now.
    for (let i = 0; i < this.segments.length; i++) {
      const seg = this.segments[i]!;
      if (!seg.sealed && i < this.segments.length - 1) {
        seg.writeSeal();
        this.track(seg);
        seg.unmap();
        this.sealedSummary(seg);
      }
    }
    // A sidecar whose segment is gone (reclaimed or quarantined) would only mislead.
    const kept = new Set(this.segments.map((seg) => seg.index));
    for (const name of sidecars) if (!kept.has(Number(name.slice(0, 10)))) fs.rmSync(join(this.dir, name), { force: true });
    const last = this.segments[this.segments.length - 1];
    if (last !== undefined) {
      this.nextSeq = last.nextSeq;
      if (!last.sealed) {
        last.mapFile();
        this.track(last);
      }
    }
  }

  /**
   * Seqs of message records known lost: those between the kept segments
   * around a quarantined one (the seqs the quarantined segments held).
   */
  readonly lostSeqs: { from: number; to: number }[] = [];

  /** How many lost seqs are at or after `seq` (still counted as ready by a cursor before them). */
  lostSeqsFrom(seq: number): number {
    let n = 0;
    for (const g of this.lostSeqs) if (g.to > seq) n += g.to - Math.max(g.from, seq);
    return n;
  }

  private findLostSeqs(lostIndices: number[]): void {
    if (lostIndices.length === 0 || this.kind === LogKind.Journal) return;
    const first = this.segments[0];
    // Before the first kept segment: lostSeqsFrom counts only what lies past the cursor.
    if (first !== undefined && first.baseSeq > 0 && lostIndices.some((x) => x < first.index)) this.lostSeqs.push({ from: 0, to: first.baseSeq });
    for (let i = 1; i < this.segments.length; i++) {
      const prev = this.segments[i - 1]!;
      const next = this.segments[i]!;
      if (next.baseSeq > prev.nextSeq && lostIndices.some((x) => x > prev.index && x < next.index)) {
        this.lostSeqs.push({ from: prev.nextSeq, to: next.baseSeq });
      }
    }
  }

  private quarantine(path: string, why: string, err: unknown): void {
    const bad = `${path}.bad`;
    try {
      fs.renameSync(path, bad);
    } catch {
      // leave it; it is skipped either way
    }
    this.ctx.counters.quarantinedSegments++;
    this.ctx.logger.warn({ file: path, offset: 0, movedTo: bad, err: err === undefined ? undefined : String(err) }, `${why}: quarantined`);
  }

  private isZeroFile(path: string, size: number): boolean {
    const fd = fs.openSync(path, "r");
    try {
      const buf = this.ctx.reader.buf;
      for (let off = 0; off < size; ) {
        const n = fs.readSync(fd, buf, 0, Math.min(buf.length, size - off), off);
        if (n <= 0) break;
        for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
        off += n;
      }
      return true;
    } finally {
      this.ctx.reader.invalidate();
      fs.closeSync(fd);
    }
  }

  /**
   * Verifies every record of an unsealed segment. A damaged region followed
   * by valid records is replaced by a Pad record; a damaged tail is zeroed.
   * Both are reported. Leaves seg.end after the last valid record.
   */
  private scan(seg: Segment): void {
    const m = seg.mapFile();
    const bytes = seg.bytes;
    const summary = this.summarized ? new SegmentSummary() : null;
    let off = SEGMENT_HEADER_BYTES;
    while (off + RECORD_HEADER_BYTES <= bytes) {
      const r = checkRecord(m, off, bytes);
      if (r > 0) {
        const t = recordType(m, off);
        if (t === RecordType.Message || t === RecordType.Delayed) {
          seg.nextSeq = recordA(m, off) + 1;
          summary?.add(recordId(m, off), recordIdHi(m, off), recordIdLo(m, off), off);
        }
        off += align8(r);
        continue;
      }
      const next = this.resync(m, off, bytes);
      if (next < 0) {
        if (!isZero(m, off, bytes)) {
          m.fill(0, off, bytes);
          seg.markDirty(off, bytes);
          this.ctx.counters.recoveredTruncations++;
          this.ctx.logger.warn({ file: seg.path, offset: off }, "torn or corrupt tail truncated");
        }
        break;
      }
      writePad(m, off, next - off);
      seg.markDirty(off, next);
      this.ctx.counters.recoveredTruncations++;
      this.ctx.logger.warn({ file: seg.path, offset: off, bytes: next - off }, "corrupt records replaced by padding");
      off = next;
    }
    seg.end = Math.min(off, bytes);
    seg.verified = true;
    if (summary !== null) {
      summary.scannedTo = seg.end;
      seg.summary = summary;
    }
    dropPages(m, seg.end, bytes);
  }

  /** Offset of the next valid record after a damaged one at `off`, or -1. */
  private resync(m: Buffer, off: number, bytes: number): number {
    const length = m.readUInt32LE(off);
    if (length >= RECORD_HEADER_BYTES && off + align8(length) + RECORD_HEADER_BYTES <= bytes) {
      if (checkRecord(m, off + align8(length), bytes) > 0) return off + align8(length);
    }
    for (let p = off + RECORD_HEADER_BYTES; p + RECORD_HEADER_BYTES <= bytes; p += 8) {
      const l = m.readUInt32LE(p);
      if (l >= RECORD_HEADER_BYTES && p + l <= bytes && checkRecord(m, p, bytes) > 0) return p;
    }
    return -1;
  }

  // ----------------------------------------------------------------- writing

  /** Starts planning a batch: how many new segments would it need? */
  planStart(): void {
    const a = this.active;
    this.planNeeds.length = 0;
    this.planOff = a === undefined ? Number.MAX_SAFE_INTEGER : a.end;
    this.planBytes = a === undefined ? this.segmentBytes : a.bytes;
  }

  planAdd(recordLength: number): void {
    const n = align8(recordLength);
    if (this.planOff + n > this.planBytes) {
      const bytes = this.sizeAt(this.planNeeds.length, recordLength);
      this.planNeeds.push(bytes);
      this.planOff = SEGMENT_HEADER_BYTES;
      this.planBytes = bytes;
    }
    this.planOff += n;
  }

  /**
   * Size of new segment i (0: the next one; i > 0: the i-th of a planned
   * batch) that is to hold a record: the one already prepared at that place
   * when it holds the record, or the next step of the doubling after the
   * segment before it (oversized if the record needs it). A batch is thus
   * given what it fills (a batch of big records into a new queue takes about
   * its own size on disk), not a run of full-size segments; and a prepared
   * segment is taken as it is, never zero-filled again at a larger size.
   */
  private sizeAt(i: number, recordLength: number): number {
    const need = SEGMENT_HEADER_BYTES + align8(recordLength);
    const first = Math.min(this.segmentBytes, FIRST_SEGMENT_BYTES);
    const prepared = this.prepared[i];
    const prev = i > 0 ? this.planNeeds[i - 1] : (this.prepared[this.prepared.length - 1] ?? this.segments[this.segments.length - 1])?.bytes;
    const bytes = prepared !== undefined ? prepared.bytes : prev === undefined ? first : Math.min(this.segmentBytes, Math.max(first, prev * 2));
    return need <= bytes ? bytes : Math.ceil(need / 4096) * 4096;
  }

  /** Allocates the segments the planned batch needs, so writing it cannot fail for space. */
  planEnsure(): void {
    for (let i = 0; i < this.planNeeds.length; i++) this.ensurePrepared(i, this.planNeeds[i]!);
  }

  /** Makes prepared[i] exist with at least `bytes` (replacing a smaller one). */
  private ensurePrepared(i: number, bytes: number): void {
    // The new segment at i gets what was asked; any missing before it the usual next size.
    while (this.prepared.length <= i) this.prepareOne(this.prepared.length === i ? bytes : this.growthBytes());
    const seg = this.prepared[i]!;
    if (seg.bytes >= bytes) return;
    this.allocateFile(seg.path, bytes);
    this.prepared[i] = new Segment(seg.index, seg.path, bytes);
  }

  /**
   * Where the next record of `length` bytes will be written, allocating the
   * segment it needs now (throws StoreError), so the following write cannot fail.
   */
  positionFor(length: number): number {
    const a = this.active;
    if (a !== undefined && a.end + length <= a.bytes) return a.index * SEG + a.end;
    this.ensurePrepared(0, this.sizeAt(0, length));
    return this.prepared[0]!.index * SEG + SEGMENT_HEADER_BYTES;
  }

  /** Appends one record (rolling to a new segment if needed). Returns its position. */
  write(
    type: number,
    retry: number,
    a: number,
    id: bigint,
    b: number,
    c: number,
    routeKey: string,
    routeKeyBytes: number,
    body: Uint8Array | null,
    expiresAtMs = 0,
    key: Uint8Array | null = null,
  ): number {
    const length = recordBytes(routeKeyBytes, body === null ? 0 : body.length, expiresAtMs, key === null ? 0 : key.length);
    let seg = this.active;
    if (seg === undefined || seg.end + length > seg.bytes) seg = this.roll(length);
    const off = seg.end;
    writeRecordAligned(seg.map!, seg.u32, seg.f64, off, type, retry, a, id, b, c, routeKey, routeKeyBytes, body, expiresAtMs, key);
    seg.end = off + align8(length);
    if (off < seg.dirtyLo) seg.dirtyLo = off;
    seg.dirtyHi = seg.end;
    if (type === RecordType.Message || type === RecordType.Delayed) {
      seg.nextSeq = a + 1;
      const s = seg.summary;
      if (s !== null) {
        s.add(id, recordIdHi(seg.map!, off), recordIdLo(seg.map!, off), off);
        s.scannedTo = seg.end;
      }
    }
    if (!this.preparing && this.prepared.length === 0 && seg.end > seg.bytes >>> 2) this.schedulePrepare();
    return seg.index * SEG + off;
  }

  private roll(length: number): Segment {
    this.ensurePrepared(0, this.sizeAt(0, length));
    const next = this.prepared.shift()!;
    const prev = this.active;
    try {
      next.writeHeader(this.kind, this.nextSeqForNew(prev), this.ctx.clock.now());
    } catch (err) {
      this.prepared.unshift(next);
      throw toStoreError(err, `opening segment ${next.path}`);
    }
    if (this.summarized) {
      next.summary = new SegmentSummary();
      next.summary.scannedTo = next.end;
    }
    if (prev !== undefined) {
      prev.writeSeal();
      prev.unmap();
      this.sealedSummary(prev);
    }
    this.segments.push(next);
    this.track(next);
    this.onRoll?.();
    return next;
  }

  /** A segment just sealed: its summary, if it has one, joins the others in memory and is saved beside it. */
  private sealedSummary(seg: Segment): void {
    if (seg.summary !== null) this.adoptSummary(seg, seg.summary);
  }

  /** Keeps the whole summary of a sealed segment in memory and saves it beside the segment. */
  adoptSummary(seg: Segment, s: SegmentSummary): void {
    s.trim();
    keepSummary(seg, s);
    saveSidecar(seg, s, this.ctx.sidecarWrites);
  }

  /** Forgets a summary the segment contradicted, in memory and on disk (it is rebuilt when next needed). */
  dropSummary(seg: Segment): void {
    forgetSummary(seg);
    try {
      fs.rmSync(sidecarPath(seg.path), { force: true });
    } catch {
      // a sidecar left behind is checked again before use
    }
    this.ctx.logger.warn({ file: sidecarPath(seg.path) }, "id summary does not match its segment: rebuilt");
  }

  /** Registers a segment with the flusher (unless nothing is ever synced). */
  private track(seg: Segment): void {
    if (this.ctx.policy === "never") return;
    seg.openForSync();
    this.ctx.dirty.add(seg);
  }

  private nextSeqForNew(prev: Segment | undefined): number {
    return prev === undefined ? this.nextSeq : prev.nextSeq;
  }

  /** Allocates the next segment file now; throws StoreError("DISK_FULL" | "IO"). */
  private prepareOne(bytes: number): void {
    const lastPrepared = this.prepared[this.prepared.length - 1];
    const index = lastPrepared === undefined ? this.nextIndex() : lastPrepared.index + 1;
    const path = join(this.dir, segName(index));
    this.allocateFile(path, bytes);
    this.prepared.push(new Segment(index, path, bytes));
  }

  private allocateFile(path: string, bytes: number): void {
    if (this.closed) throw new StoreError("IO", "storage is closed");
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      fs.rmSync(path, { force: true });
      this.ctx.allocate(path, bytes);
    } catch (err) {
      fs.rmSync(path, { force: true });
      this.prepareFailed = true;
      throw toStoreError(err, `allocating segment ${path}`);
    }
    if (this.prepareFailed) {
      this.prepareFailed = false;
      this.ctx.logger.info({ file: path }, "segment allocation works again");
    }
  }

  /** Prepares the next segment off the hot path once the active one is a quarter full. */
  private schedulePrepare(): void {
    this.preparing = true;
    const allocateAsync = this.ctx.allocateAsync;
    if (allocateAsync !== undefined) {
      // Zero-fill in libuv's thread pool under a temporary name; adopt the
      // file only if the hot path did not allocate that index meanwhile.
      const index = this.nextIndex();
      const path = join(this.dir, segName(index));
      const tmp = `${path}.tmp`;
      fs.mkdirSync(this.dir, { recursive: true });
      const bytes = this.growthBytes();
      allocateAsync(tmp, bytes).then(
        () => {
          this.preparing = false;
          if (this.closed || this.prepared.length > 0 || this.nextIndex() !== index) {
            fs.rmSync(tmp, { force: true });
            return;
          }
          try {
            fs.renameSync(tmp, path);
          } catch (err) {
            // Never thrown from here (it would end the process); the hot path allocates instead.
            this.ctx.logger.warn({ file: tmp, err: String(err) }, "cannot adopt the prepared segment");
            return;
          }
          this.prepared.push(new Segment(index, path, bytes));
        },
        (err: unknown) => {
          this.preparing = false;
          fs.rmSync(tmp, { force: true });
          if (!this.closed) this.ctx.logger.warn({ dir: this.dir, err: String(err) }, "cannot prepare the next segment");
        },
      );
      return;
    }
    setImmediate(() => {
      this.preparing = false;
      if (this.closed || this.prepared.length > 0) return;
      try {
        this.prepareOne(this.growthBytes());
      } catch (err) {
        this.ctx.logger.warn({ dir: this.dir, err: String(err) }, "cannot prepare the next segment");
      }
    });
  }

  private nextIndex(): number {
    const last = this.segments[this.segments.length - 1];
    return Math.max(last === undefined ? 1 : last.index + 1, this.minNextIndex);
  }

  /** Makes new segments get indices above `index` (one referenced by a checkpoint or journal). */
  reserveIndex(index: number): void {
    if (index + 1 > this.minNextIndex) this.minNextIndex = index + 1;
  }

  /** Keeps the seq counter monotonic across segments (used after recovery). */
  setNextSeq(seq: number): void {
    if (seq > this.nextSeq) this.nextSeq = seq;
    const a = this.active;
    if (a !== undefined && seq > a.nextSeq) a.nextSeq = seq;
  }

  // ----------------------------------------------------------------- reading

  find(index: number): Segment | undefined {
    const s = this.segments;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = s[mid]!.index;
      if (v === index) return s[mid];
      if (v < index) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** First segment with index >= `index`. */
  private findFrom(index: number): Segment | undefined {
    const s = this.segments;
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]!.index < index) lo = mid + 1;
      else hi = mid;
    }
    return s[lo];
  }

  /**
   * Finds the first record at or after `pos` (stepping over segment ends,
   * missing segments, padding and damaged records, which are reported).
   * Returns its position with rbuf/roff/rlen set, or -1 at the tail.
   */
  readFrom(pos: number): number {
    for (;;) {
      const index = posIndex(pos);
      let off = pos - index * SEG;
      const seg = this.findFrom(index);
      if (seg === undefined) return -1;
      if (seg.index !== index || off < SEGMENT_HEADER_BYTES) off = SEGMENT_HEADER_BYTES;
      const base = seg.index * SEG;
      if (off >= seg.end) {
        if (seg === this.segments[this.segments.length - 1]) return -1;
        pos = (seg.index + 1) * SEG;
        continue;
      }
      const r = this.readRaw(seg, off);
      if (r > 0) {
        if (this.rbuf[this.roff + 8] === RecordType.Pad) {
          pos = base + off + align8(r);
          continue;
        }
        this.rlen = r;
        return base + off;
      }
      pos = base + this.skipDamaged(seg, off, r);
    }
  }

  /**
   * Visits every record that may have been appended at or after sinceMs: the
   * newest segments, back to the first one that became active before
   * sinceMs (its records may straddle it). Older segments are not read: all
   * their records were appended before that one began. A segment whose start
   * is unknown (written before segments recorded it) also ends the walk.
   */
  scanSince(sinceMs: number, visit: (buf: Buffer, off: number) => void): void {
    const segs = this.segments;
    let i = segs.length - 1;
    if (i < 0) return;
    while (i > 0) {
      const startedAtS = segs[i]!.startedAtS;
      if (startedAtS === 0 || startedAtS * 1000 < sinceMs) break;
      i--;
    }
    for (let pos = segs[i]!.index * SEG; ; ) {
      const p = this.readFrom(pos);
      if (p < 0) return;
      visit(this.rbuf, this.roff);
      pos = p + align8(this.rlen);
    }
  }

  /** Reads the record exactly at `pos`; returns its length or <= 0 if it is not there. */
  readAt(pos: number): number {
    const index = posIndex(pos);
    const seg = this.find(index);
    if (seg === undefined) return -2;
    const off = pos - index * SEG;
    if (off >= seg.end) return -1;
    const r = this.readRaw(seg, off, RANDOM_READ_BYTES);
    this.rlen = r;
    return r;
  }

  /** Makes the records in bytes [from, to) of seg readable without further reads (a lookup's window). */
  prefetch(seg: Segment, from: number, to: number): void {
    if (seg.map === null && to > from) this.ctx.reader.prefetch(seg, from, Math.min(to, seg.end));
  }

  private readRaw(seg: Segment, off: number, want?: number): number {
    if (seg.map !== null) {
      this.rbuf = seg.map;
      this.ru32 = seg.u32;
      this.rf64 = seg.f64;
      this.roff = off;
      return seg.verified ? checkFraming(seg.map, off, seg.end) : checkRecord(seg.map, off, seg.end);
    }
    const reader = this.ctx.reader;
    const r = reader.read(seg, off, want);
    this.rbuf = reader.buf;
    this.ru32 = reader.u32;
    this.rf64 = reader.f64;
    this.roff = reader.off;
    return r;
  }

  /** Reports a damaged record met while reading; returns the offset to go on from. */
  private skipDamaged(seg: Segment, off: number, r: number): number {
    let next = seg.end;
    const length = r < 0 ? this.rbuf.readUInt32LE(this.roff) : 0;
    if (length >= RECORD_HEADER_BYTES && off + align8(length) < seg.end && this.readRaw(seg, off + align8(length)) > 0) {
      next = off + align8(length);
    }
    this.ctx.counters.corruptRecordsSkipped++;
    this.ctx.logger.warn({ file: seg.path, offset: off, skippedBytes: next - off }, "corrupt record skipped");
    return next;
  }

  // --------------------------------------------------------------- lifecycle

  /** Deletes a segment file (never the last one, which keeps the index sequence). */
  deleteSegment(seg: Segment): void {
    const i = this.segments.indexOf(seg);
    if (i < 0 || i === this.segments.length - 1) return;
    this.segments.splice(i, 1);
    seg.deleted = true;
    forgetSummary(seg);
    fs.rm(sidecarPath(seg.path), { force: true }, () => undefined);
    this.ctx.reader.forget(seg);
    this.ctx.dirty.delete(seg);
    seg.closeFds();
    if (this.rbuf === seg.map) {
      // its pages are about to vanish
      this.rbuf = EMPTY;
      this.ru32 = EMPTY_U32;
      this.rf64 = EMPTY_F64;
    }
    seg.unmap();
    // Done in the thread pool (freeing a large file's blocks takes a while).
    // Truncating first frees the space at once: unlinking alone would wait
    // for the old mapping to be unmapped, which mmap-io does only at GC. If we
    // die first, recovery reclaims the segment again.
    // Renamed aside first: an emptied *.seg found at the next open would be damage.
    let path = `${seg.path}.del`;
    try {
      fs.renameSync(seg.path, path);
    } catch {
      path = seg.path;
    }
    fs.truncate(path, 0, () => {
      fs.rm(path, { force: true }, (err) => {
        if (err) this.ctx.logger.warn({ file: path, err: String(err) }, "cannot delete a reclaimed segment");
      });
    });
  }

  close(): void {
    this.closed = true;
    for (const seg of [...this.segments, ...this.prepared]) {
      forgetSummary(seg);
      this.ctx.reader.forget(seg);
      seg.closeFds();
      seg.unmap();
      this.ctx.dirty.delete(seg);
    }
  }
}

const ZEROS = Buffer.alloc(1 << 16);

function isZero(m: Buffer, from: number, to: number): boolean {
  for (let off = from; off < to; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - off);
    if (m.compare(ZEROS, 0, n, off, off + n) !== 0) return false;
  }
  return true;
}


// Finds a message record by id in a message or delay log without reading the
// backlog. Ids are snowflakes, time-ordered as pushed, and each segment's
// header says when it started: a message appended at time t lies in the
// segment that was being written at t. Inside that segment the records are
// in id order but for a few (fired delays, redriven messages, copies moved by
// a reschedule). A segment's summary — every STRIDE-th id of that ordered run
// with its offset, plus the out-of-order ids — is built by one read of the
// segment the first time a lookup needs it and kept for a bounded number of
// segments (no per-message memory beyond 1/STRIDE of one segment's ids); a
// lookup then reads at most STRIDE records.
import { RecordType, align8, recordId, recordType } from "./record.js";
import { SEG, type SegmentLog, posIndex } from "./segment-log.js";

type Seg = SegmentLog["segments"][number];

/** Records between two samples of a segment's ordered run. */
const STRIDE = 32;
/** Out-of-order ids a summary lists; past this, a lookup in that segment reads it whole. */
const MAX_OUTLIERS = 4096;
/** Segment summaries kept per log (least recently built dropped first). */
const MAX_SUMMARIES = 64;
/** Slack around a segment's start time: it is rounded up to seconds, and ids come from the pushing node's clock. */
const SLACK_MS = 2000;
/** Segments a lookup reads after a given time (a fired delay's copy lies after its due time). */
const MAX_SEGMENTS_AFTER = 8;

class Summary {
  sampleIds = new BigUint64Array(64);
  sampleOffs = new Uint32Array(64);
  samples = 0;
  outIds = new BigUint64Array(16);
  outOffs = new Uint32Array(16);
  outliers = 0;
  /** Too many out-of-order ids: a lookup reads the segment whole. */
  unordered = false;
  runMax = -1n;
  runCount = 0;
  /** Offset up to which the segment was read (the active segment grows). */
  scannedTo = 0;
  records = 0;

  add(id: bigint, off: number): void {
    this.records++;
    if (id >= this.runMax) {
      if (this.runCount % STRIDE === 0) {
        if (this.samples === this.sampleIds.length) {
          this.sampleIds = grow64(this.sampleIds);
          this.sampleOffs = grow32(this.sampleOffs);
        }
        this.sampleIds[this.samples] = id;
        this.sampleOffs[this.samples++] = off;
      }
      this.runMax = id;
      this.runCount++;
      return;
    }
    if (this.unordered) return;
    if (this.outliers === MAX_OUTLIERS) {
      this.unordered = true;
      return;
    }
    if (this.outliers === this.outIds.length) {
      this.outIds = grow64(this.outIds);
      this.outOffs = grow32(this.outOffs);
    }
    this.outIds[this.outliers] = id;
    this.outOffs[this.outliers++] = off;
  }
}

function grow64(a: BigUint64Array): BigUint64Array<ArrayBuffer> {
  const b = new BigUint64Array(a.length * 2);
  b.set(a);
  return b;
}
function grow32(a: Uint32Array): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(a.length * 2);
  b.set(a);
  return b;
}

export class IdIndex {
  private readonly summaries = new Map<Seg, Summary>();

  constructor(private readonly log: SegmentLog) {}

  /** Positions of records with this id appended about hintMs (the segments being written then), newest first. */
  find(id: bigint, hintMs: number): number[] {
    const segs = this.log.segments;
    const out: number[] = [];
    for (let i = segs.length - 1; i >= 0; i--) {
      const seg = segs[i]!;
      const start = seg.startedAtS === 0 ? Number.NEGATIVE_INFINITY : seg.startedAtS * 1000 - SLACK_MS;
      const next = segs[i + 1];
      const end = next === undefined || next.startedAtS === 0 ? Number.POSITIVE_INFINITY : next.startedAtS * 1000 + SLACK_MS;
      if (hintMs < start || hintMs > end) continue;
      this.search(seg, id, out);
      if (start !== Number.NEGATIVE_INFINITY && hintMs >= start + 2 * SLACK_MS) break; // older segments ended before hintMs
    }
    return out;
  }

  /** Positions of records with this id in the segments written at or after fromMs (at most a few), newest first. */
  findAfter(id: bigint, fromMs: number): number[] {
    const segs = this.log.segments;
    const out: number[] = [];
    if (segs.length === 0) return out;
    let first = segs.length - 1;
    while (first > 0 && (segs[first]!.startedAtS === 0 || segs[first]!.startedAtS * 1000 > fromMs - SLACK_MS)) first--;
    const last = Math.min(segs.length - 1, first + MAX_SEGMENTS_AFTER - 1);
    for (let i = last; i >= first; i--) this.search(segs[i]!, id, out);
    return out;
  }

  /** Positions of records with this id anywhere in the log, newest first (for small logs: dead letters, delays). */
  findAnywhere(id: bigint): number[] {
    const out: number[] = [];
    const segs = this.log.segments;
    for (let i = segs.length - 1; i >= 0; i--) this.search(segs[i]!, id, out);
    return out;
  }

  /**
   * Whether segments of this log were reclaimed and the id is older than the
   * oldest record left (or than the time the oldest segment left started):
   * a settled message whose segment is gone.
   */
  olderThanAll(id: bigint, hintMs: number): boolean {
    const first = this.log.segments[0];
    if (first === undefined || first.index <= 1) return false;
    if (first.startedAtS !== 0 && hintMs < first.startedAtS * 1000 - SLACK_MS) return true;
    const p = this.log.readFrom(first.index * SEG);
    return p >= 0 && id < recordId(this.log.rbuf, this.log.roff);
  }

  private search(seg: Seg, id: bigint, out: number[]): void {
    const s = this.summary(seg);
    const base = seg.index * SEG;
    const found: number[] = [];
    if (s.unordered) {
      this.scan(seg, 0, (rid, off) => {
        if (rid === id) found.push(off);
        return true;
      });
    } else {
      for (let k = 0; k < s.outliers; k++) if (s.outIds[k] === id) found.push(s.outOffs[k]!);
      if (s.samples > 0 && id >= s.sampleIds[0]! && id <= s.runMax) {
        // Last sample at or below id; equal ids may start in the sample before.
        let lo = 0;
        let hi = s.samples - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (s.sampleIds[mid]! < id) lo = mid;
          else hi = mid - 1;
        }
        const from = s.sampleOffs[lo]!;
        this.scan(seg, from, (rid, off) => {
          if (rid === id) found.push(off);
          return rid <= id; // past id: the ordered run has no more of it (an out-of-order id here is smaller than id)
        });
      }
    }
    found.sort((a, b) => b - a);
    for (const off of found) if (!out.includes(base + off)) out.push(base + off);
  }

  /** The segment's summary, reading what it has not seen yet. */
  private summary(seg: Seg): Summary {
    let s = this.summaries.get(seg);
    if (s === undefined) {
      s = new Summary();
      if (this.summaries.size >= MAX_SUMMARIES) this.summaries.delete(this.summaries.keys().next().value as Seg);
      this.summaries.set(seg, s);
    }
    if (s.scannedTo < seg.end) {
      const sum = s;
      const to = this.scan(seg, sum.scannedTo, (rid, off) => {
        sum.add(rid, off);
        return true;
      });
      sum.scannedTo = Math.max(sum.scannedTo, to);
    }
    return s;
  }

  /**
   * Visits the message records of seg from offset `from` while visit returns
   * true; returns the offset after the last record read.
   */
  private scan(seg: Seg, from: number, visit: (id: bigint, off: number) => boolean): number {
    const log = this.log;
    let pos = seg.index * SEG + from;
    let after = from;
    for (;;) {
      const p = log.readFrom(pos);
      if (p < 0 || posIndex(p) !== seg.index) return after;
      const t = recordType(log.rbuf, log.roff);
      const off = p - seg.index * SEG;
      pos = p + align8(log.rlen);
      after = off + align8(log.rlen);
      if (t !== RecordType.Message && t !== RecordType.Delayed) continue;
      if (!visit(recordId(log.rbuf, log.roff), off)) return after;
    }
  }
}

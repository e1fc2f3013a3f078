// Finds a message record by id in a message or delay log without reading the
// backlog. Ids are snowflakes, time-ordered as pushed, and each segment's
// header says when it started: a message appended at time t lies in the
// segment that was being written at t. Inside that segment the records are
// in id order but for a few (fired delays, redriven messages, copies moved by
// a reschedule). The segment's summary (segment-summary.ts: every STRIDE-th
// id of that ordered run with its offset, plus the out-of-order ids) is kept
// up to date as the active segment is written and saved beside a sealed
// segment, so a lookup reads one window of at most STRIDE records (a few KiB)
// with one positioned read. A summary is trusted only as far as the segment
// confirms it: the window's first record must bear the sampled id and an
// out-of-order entry the id it lists; otherwise the summary is rebuilt from
// the segment and the lookup repeated, so a stale or damaged sidecar costs
// time, never a wrong answer.
import { RecordType, align8, recordId, recordIdHi, recordIdLo, recordType } from "./record.js";
import { SEG, type SegmentLog, posIndex } from "./segment-log.js";
import { SegmentSummary, keepSummary, loadSidecar, touchSummary } from "./segment-summary.js";

type Seg = SegmentLog["segments"][number];

/** Slack around a segment's start time: it is rounded up to seconds, and ids come from the pushing node's clock. */
const SLACK_MS = 2000;
/** Segments a lookup reads after a given time (a fired delay's copy lies after its due time). */
const MAX_SEGMENTS_AFTER = 8;
/** Bytes read to find a segment's first record. */
const FIRST_RECORD_BYTES = 8192;

export class IdIndex {
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
    this.log.prefetch(first, 0, FIRST_RECORD_BYTES); // the first record, not a whole chunk
    const p = this.log.readFrom(first.index * SEG);
    return p >= 0 && id < recordId(this.log.rbuf, this.log.roff);
  }

  private search(seg: Seg, id: bigint, out: number[]): void {
    const base = seg.index * SEG;
    let found = this.searchWith(this.summary(seg), seg, id);
    if (found === undefined) {
      // The summary does not describe this segment: rebuild it from the segment itself.
      this.log.dropSummary(seg);
      found = this.searchWith(this.summary(seg), seg, id) ?? this.scanAll(seg, id);
    }
    found.sort((a, b) => b - a);
    for (const off of found) if (!out.includes(base + off)) out.push(base + off);
  }

  /** Offsets in seg of records with this id, or undefined when the segment contradicts the summary. */
  private searchWith(s: SegmentSummary, seg: Seg, id: bigint): number[] | undefined {
    if (s.unordered) return this.scanAll(seg, id);
    const found: number[] = [];
    for (let k = 0; k < s.outliers; k++) {
      if (s.outIds[k] !== id) continue;
      const off = s.outOffs[k]!;
      if (this.idAt(seg, off) !== id) return undefined;
      found.push(off);
    }
    if (s.samples === 0 || id < s.sampleIds[0]! || id > s.runMax) return found;
    // Window: from the last sample below id (equal ids may start in the one before) to the first sample above it.
    let lo = 0;
    let hi = s.samples - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s.sampleIds[mid]! < id) lo = mid;
      else hi = mid - 1;
    }
    let next = lo + 1;
    while (next < s.samples && s.sampleIds[next]! <= id) next++;
    const from = s.sampleOffs[lo]!;
    const to = next < s.samples ? s.sampleOffs[next]! : seg.end;
    this.log.prefetch(seg, from, to);
    let confirmed = false;
    this.scan(seg, from, to, (rid, off) => {
      if (!confirmed) {
        if (off !== from || rid !== s.sampleIds[lo]) return false;
        confirmed = true;
      }
      if (rid === id) found.push(off);
      return rid <= id; // past id: the ordered run has no more of it (an out-of-order id here is smaller than id)
    });
    return confirmed ? found : undefined;
  }

  /** Offsets of every record with this id in seg, reading it whole. */
  private scanAll(seg: Seg, id: bigint): number[] {
    const found: number[] = [];
    this.scan(seg, 0, seg.end, (rid, off) => {
      if (rid === id) found.push(off);
      return true;
    });
    return found;
  }

  /** The id of the message record at off in seg, or -1n when none is there. */
  private idAt(seg: Seg, off: number): bigint {
    const log = this.log;
    if (log.readAt(seg.index * SEG + off) <= 0) return -1n;
    const t = recordType(log.rbuf, log.roff);
    return t === RecordType.Message || t === RecordType.Delayed ? recordId(log.rbuf, log.roff) : -1n;
  }

  /** The segment's summary: in memory, else its sidecar, else built by one read of the segment (then saved). */
  private summary(seg: Seg): SegmentSummary {
    let s = seg.summary;
    if (s !== null) {
      touchSummary(seg);
      if (s.scannedTo >= seg.end) return s;
    } else if (seg.sealed) {
      const loaded = loadSidecar(seg);
      if (loaded !== undefined && this.spotCheck(seg, loaded)) {
        keepSummary(seg, loaded);
        return loaded;
      }
    }
    s ??= new SegmentSummary();
    const sum = s;
    const to = this.scan(seg, sum.scannedTo, seg.end, (rid, off) => {
      sum.add(rid, recordIdHi(this.log.rbuf, this.log.roff), recordIdLo(this.log.rbuf, this.log.roff), off);
      return true;
    });
    sum.scannedTo = Math.max(sum.scannedTo, to);
    if (seg.sealed) this.log.adoptSummary(seg, sum);
    else seg.summary = sum;
    return sum;
  }

  /** Whether the first and last sampled records of a loaded summary are where it says. */
  private spotCheck(seg: Seg, s: SegmentSummary): boolean {
    if (s.samples === 0) return s.runCount === 0;
    return this.idAt(seg, s.sampleOffs[0]!) === s.sampleIds[0] && this.idAt(seg, s.sampleOffs[s.samples - 1]!) === s.sampleIds[s.samples - 1];
  }

  /**
   * Visits the message records of seg in [from, to) while visit returns
   * true; returns the offset after the last record read.
   */
  private scan(seg: Seg, from: number, to: number, visit: (id: bigint, off: number) => boolean): number {
    const log = this.log;
    const base = seg.index * SEG;
    let pos = base + from;
    let after = from;
    for (;;) {
      if (pos - base >= to) return after;
      const p = log.readFrom(pos);
      if (p < 0 || posIndex(p) !== seg.index || p - seg.index * SEG >= to) return after;
      const t = recordType(log.rbuf, log.roff);
      const off = p - seg.index * SEG;
      pos = p + align8(log.rlen);
      after = off + align8(log.rlen);
      if (t !== RecordType.Message && t !== RecordType.Delayed) continue;
      if (!visit(recordId(log.rbuf, log.roff), off)) return after;
    }
  }
}

// A message or delay segment's id summary, for lookups by id (id-index.ts):
// every STRIDE-th id of the segment's ordered run of ids with its offset,
// plus the ids out of that order (fired delays, redriven messages, copies
// moved by a reschedule). A lookup then reads one window of at most STRIDE
// records of the run.
//
// The active segment's summary grows as records are written (recovery
// rebuilds it while verifying the segment). When the segment is sealed the
// summary is saved beside it as a sidecar (`0000000001.idx` next to
// `0000000001.seg`), in libuv's thread pool, so a restarted store does not
// read whole segments again. A sidecar is only a cache: it is taken only if
// its checksum holds and it names the segment exactly as its header does
// (index, size, end, seqs, start time); otherwise (missing, torn, damaged,
// stale) the summary is rebuilt by one read of the segment and saved again.
// Summaries of sealed segments are held in memory within one process-wide
// byte budget (least recently used dropped first): no memory per message.
//
// Sidecar (little endian):
//   0  8 bytes magic "GMQIDX\0\x1a"
//   8  u32 version (1)
//  12  u32 segment index     16  u32 segment bytes     20  u32 segment end
//  24  u64 base seq          32  u64 next seq          40  u32 started at (s)
//  44  u32 flags (bit 0: too many out-of-order ids, lookups read the segment whole)
//  48  u32 samples           52  u32 out-of-order ids
//  56  u32 run length        60  u32 message records
//  64  u64 largest id of the run
//  72  samples × u64 id, samples × u32 offset, zero pad to 8,
//      out-of-order × u64 id, out-of-order × u32 offset
//  end u32 crc32c of every byte before it
import * as fs from "node:fs";
import { crc32c } from "@node-rs/crc32";
import { LITTLE, readU64, writeIds, writeU64 } from "./record.js";

/** What a summary needs of its segment (segment.ts's Segment). */
export interface SummarizedSegment {
  readonly index: number;
  readonly path: string;
  readonly bytes: number;
  end: number;
  baseSeq: number;
  nextSeq: number;
  startedAtS: number;
  deleted: boolean;
  summary: SegmentSummary | null;
}
type Segment = SummarizedSegment;

/** Records of the ordered run between two samples. */
export const STRIDE = 32;
/** Out-of-order ids a summary lists; past this, a lookup in that segment reads it whole. */
const MAX_OUTLIERS = 4096;
/** Memory for summaries of sealed segments, process-wide (a 64 MiB segment of 128-byte messages needs ~140 KiB). */
const CACHE_BYTES = 64 << 20;
let budget = CACHE_BYTES;
const MAGIC = Buffer.from([0x47, 0x4d, 0x51, 0x49, 0x44, 0x58, 0x00, 0x1a]);
const VERSION = 1;
const HEAD = 72;

export class SegmentSummary {
  sampleIds: BigUint64Array = new BigUint64Array(64);
  sampleOffs: Uint32Array = new Uint32Array(64);
  samples = 0;
  outIds: BigUint64Array = new BigUint64Array(16);
  outOffs: Uint32Array = new Uint32Array(16);
  outliers = 0;
  /** Too many out-of-order ids: a lookup reads the segment whole. */
  unordered = false;
  /** Largest id of the run, as high and low 32 bits (runHi -1: none yet), compared without BigInt arithmetic per record. */
  runHi = -1;
  runLo = 0;
  runCount = 0;
  /** Offset up to which the segment was read (the active segment grows). */
  scannedTo = 0;
  records = 0;

  /** Largest id of the ordered run, -1n when there is none. */
  get runMax(): bigint {
    return this.runHi < 0 ? -1n : (BigInt(this.runHi) << 32n) | BigInt(this.runLo);
  }

  /** Notes the record with this id (hi, lo: its high and low 32 bits) at offset off. */
  add(id: bigint, hi: number, lo: number, off: number): void {
    this.records++;
    if (hi > this.runHi || (hi === this.runHi && lo >= this.runLo)) {
      if (this.runCount % STRIDE === 0) {
        if (this.samples === this.sampleIds.length) {
          this.sampleIds = grow64(this.sampleIds);
          this.sampleOffs = grow32(this.sampleOffs);
        }
        this.sampleIds[this.samples] = id;
        this.sampleOffs[this.samples++] = off;
      }
      this.runHi = hi;
      this.runLo = lo;
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

  /** Drops the arrays' spare room (a sealed segment's summary no longer grows). */
  trim(): void {
    if (this.sampleIds.length > this.samples) {
      this.sampleIds = this.sampleIds.slice(0, this.samples);
      this.sampleOffs = this.sampleOffs.slice(0, this.samples);
    }
    if (this.outIds.length > this.outliers) {
      this.outIds = this.outIds.slice(0, this.outliers);
      this.outOffs = this.outOffs.slice(0, this.outliers);
    }
  }

  bytes(): number {
    return this.sampleIds.length * 12 + this.outIds.length * 12;
  }
}

function grow64(a: BigUint64Array): BigUint64Array {
  const b = new BigUint64Array(Math.max(16, a.length * 2));
  b.set(a);
  return b;
}
function grow32(a: Uint32Array): Uint32Array {
  const b = new Uint32Array(Math.max(16, a.length * 2));
  b.set(a);
  return b;
}

export const sidecarPath = (segPath: string): string => `${segPath.slice(0, -4)}.idx`;

const pad8 = (n: number): number => (n + 7) & ~7;

export function encodeSidecar(seg: Segment, s: SegmentSummary): Buffer {
  const sampleEnd = HEAD + s.samples * 12;
  const outAt = pad8(sampleEnd);
  const crcAt = outAt + s.outliers * 12;
  const b = Buffer.alloc(crcAt + 4);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(VERSION, 8);
  b.writeUInt32LE(seg.index, 12);
  b.writeUInt32LE(seg.bytes, 16);
  b.writeUInt32LE(seg.end, 20);
  writeU64(b, 24, seg.baseSeq);
  writeU64(b, 32, seg.nextSeq);
  b.writeUInt32LE(seg.startedAtS, 40);
  b.writeUInt32LE(s.unordered ? 1 : 0, 44);
  b.writeUInt32LE(s.samples, 48);
  b.writeUInt32LE(s.outliers, 52);
  b.writeUInt32LE(s.runCount, 56);
  b.writeUInt32LE(s.records, 60);
  b.writeBigUInt64LE(s.runMax < 0n ? 0n : s.runMax, 64);
  writeIds(b, HEAD, s.sampleIds, s.samples);
  for (let i = 0; i < s.samples; i++) b.writeUInt32LE(s.sampleOffs[i]!, HEAD + s.samples * 8 + i * 4);
  writeIds(b, outAt, s.outIds, s.outliers);
  for (let i = 0; i < s.outliers; i++) b.writeUInt32LE(s.outOffs[i]!, outAt + s.outliers * 8 + i * 4);
  b.writeUInt32LE(crc32c(b.subarray(0, crcAt)), crcAt);
  return b;
}

/** The summary a sidecar holds, or undefined when it is not whole or not of this very segment. */
export function decodeSidecar(b: Buffer, seg: Segment): SegmentSummary | undefined {
  if (b.length < HEAD + 4 || !b.subarray(0, 8).equals(MAGIC) || b.readUInt32LE(8) !== VERSION) return undefined;
  const samples = b.readUInt32LE(48);
  const outliers = b.readUInt32LE(52);
  const outAt = pad8(HEAD + samples * 12);
  const crcAt = outAt + outliers * 12;
  if (crcAt + 4 !== b.length || crc32c(b.subarray(0, crcAt)) !== b.readUInt32LE(crcAt)) return undefined;
  if (
    b.readUInt32LE(12) !== seg.index ||
    b.readUInt32LE(16) !== seg.bytes ||
    b.readUInt32LE(20) !== seg.end ||
    readU64(b, 24) !== seg.baseSeq ||
    readU64(b, 32) !== seg.nextSeq ||
    b.readUInt32LE(40) !== seg.startedAtS
  ) {
    return undefined;
  }
  const s = new SegmentSummary();
  s.unordered = (b.readUInt32LE(44) & 1) !== 0;
  s.samples = samples;
  s.outliers = outliers;
  s.runCount = b.readUInt32LE(56);
  s.records = b.readUInt32LE(60);
  if (samples > 0) {
    s.runHi = b.readUInt32LE(68);
    s.runLo = b.readUInt32LE(64);
  }
  s.scannedTo = seg.end;
  if (LITTLE) {
    // The arrays are views of the sidecar's bytes (every part starts 8- or 4-aligned), copied once only if b is not aligned.
    let ab = b.buffer;
    let at = b.byteOffset;
    if (at % 8 !== 0) {
      ab = new ArrayBuffer(crcAt);
      new Uint8Array(ab).set(b.subarray(0, crcAt));
      at = 0;
    }
    s.sampleIds = new BigUint64Array(ab, at + HEAD, samples);
    s.sampleOffs = new Uint32Array(ab, at + HEAD + samples * 8, samples);
    s.outIds = new BigUint64Array(ab, at + outAt, outliers);
    s.outOffs = new Uint32Array(ab, at + outAt + outliers * 8, outliers);
    return s;
  }
  s.sampleIds = new BigUint64Array(samples);
  s.sampleOffs = new Uint32Array(samples);
  s.outIds = new BigUint64Array(outliers);
  s.outOffs = new Uint32Array(outliers);
  for (let i = 0; i < samples; i++) {
    s.sampleIds[i] = b.readBigUInt64LE(HEAD + i * 8);
    s.sampleOffs[i] = b.readUInt32LE(HEAD + samples * 8 + i * 4);
  }
  for (let i = 0; i < outliers; i++) {
    s.outIds[i] = b.readBigUInt64LE(outAt + i * 8);
    s.outOffs[i] = b.readUInt32LE(outAt + outliers * 8 + i * 4);
  }
  return s;
}

/** The sidecar's summary of seg, or undefined when there is none fit to use. */
export function loadSidecar(seg: Segment): SegmentSummary | undefined {
  let b: Buffer;
  try {
    const fd = fs.openSync(sidecarPath(seg.path), "r");
    try {
      // A buffer of its own (offset 0): the summary's arrays are views of it, without a copy.
      const size = fs.fstatSync(fd).size;
      if (size > seg.bytes) return undefined; // a summary is far smaller than its segment
      b = Buffer.allocUnsafeSlow(size);
      if (fs.readSync(fd, b, 0, b.length, 0) !== b.length) return undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  return decodeSidecar(b, seg);
}

/**
 * Saves seg's summary beside it, in the thread pool, under a temporary name
 * renamed when whole. Failures only cost a rebuild later. The promise is
 * tracked in `inFlight` until done (close waits for it).
 */
export function saveSidecar(seg: Segment, s: SegmentSummary, inFlight: Set<Promise<void>>): void {
  const path = sidecarPath(seg.path);
  const tmp = `${path}.tmp`;
  const data = encodeSidecar(seg, s);
  const p = fs.promises
    .writeFile(tmp, data)
    .then(() => fs.promises.rename(tmp, path))
    .then(
      () => {
        // Reclaimed while it was written: no sidecar without its segment.
        if (seg.deleted) fs.rmSync(path, { force: true });
      },
      () => {
        fs.rmSync(tmp, { force: true });
      },
    )
    .finally(() => inFlight.delete(p));
  inFlight.add(p);
}

// ------------------------------------------------- sealed summaries in memory

const cached = new Map<Segment, number>();
let cachedBytes = 0;

/** Keeps seg's summary in memory (most recently used), dropping the oldest past the budget. */
export function keepSummary(seg: Segment, s: SegmentSummary): void {
  forgetSummary(seg);
  seg.summary = s;
  const n = s.bytes();
  cached.set(seg, n);
  cachedBytes += n;
  for (const [old, bytes] of cached) {
    if (cachedBytes <= budget || old === seg) break;
    cached.delete(old);
    cachedBytes -= bytes;
    old.summary = null;
  }
}

/** Marks seg's summary as just used. */
export function touchSummary(seg: Segment): void {
  const n = cached.get(seg);
  if (n === undefined) return;
  cached.delete(seg);
  cached.set(seg, n);
}

/** Drops seg's summary from memory (segment closed, reclaimed, or its summary found wrong). */
export function forgetSummary(seg: Segment): void {
  const n = cached.get(seg);
  if (n !== undefined) {
    cached.delete(seg);
    cachedBytes -= n;
  }
  seg.summary = null;
}

/** Bytes of sealed segments' summaries held in memory (for tests). */
export function summaryCacheBytes(): number {
  return cachedBytes;
}

/** Sets the memory budget for sealed segments' summaries (tests use a small one); returns the previous one. */
export function setSummaryBudget(bytes: number): number {
  const prev = budget;
  budget = bytes;
  return prev;
}

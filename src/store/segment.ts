// One segment file: a fixed-size, preallocated file with a 64-byte header,
// mapped shared while it is written, read through the chunk reader once sealed.
//
// Header:
//   0  8 bytes magic "GMQSEG\0\x1a"
//   8  u32 format version (1)
//  12  u32 log kind (1 messages, 2 delayed, 3 journal)
//  16  u32 segment bytes (the file size)
//  20  u32 segment index (also in the file name)
//  24  u64 base seq (seq of the first record)
//  32  u32 crc32c of bytes [0, 32)
//  36  u32 seal magic 0x5EA1ED01 once sealed, else 0
//  40  u32 end offset (first byte after the last record)
//  44  u32 0
//  48  u64 next seq (seq after the last record)
//  56  u32 crc32c of bytes [36, 56)
//  60  u32 when the segment became the one written, in seconds since the
//      epoch rounded up (0: unknown, written before this field existed).
//      Every record of the segments before it was appended earlier, so a
//      scan for recent records (idempotency keys) can stop there. Outside
//      both checksums: a damaged value only changes how far that scan reads.
import * as fs from "node:fs";
import { crc32c } from "@node-rs/crc32";
import { dropPages, mapShared } from "./mmap.js";
import { readU64, writeU64 } from "./record.js";
import type { SegmentSummary } from "./segment-summary.js";

export const SEGMENT_HEADER_BYTES = 64;
const EMPTY_U32 = new Uint32Array(0);
const EMPTY_F64 = new Float64Array(0);
export const FORMAT_VERSION = 1;
const MAGIC = Buffer.from([0x47, 0x4d, 0x51, 0x53, 0x45, 0x47, 0x00, 0x1a]);
const SEAL_MAGIC = 0x5ea1ed01;

export const LogKind = { Messages: 1, Delayed: 2, Journal: 3 } as const;

export interface SegmentHeader {
  kind: number;
  bytes: number;
  index: number;
  baseSeq: number;
  /** End offset and next seq when the seal block is valid, else undefined. */
  sealedEnd: number | undefined;
  sealedNextSeq: number;
  /** Seconds since the epoch (rounded up) when the segment became active; 0: unknown. */
  startedAtS: number;
}

/** "zero" for an all-zero header (a preallocated file never used), "bad" if unreadable. */
export function parseHeader(h: Buffer): SegmentHeader | "zero" | "bad" {
  if (h.length < SEGMENT_HEADER_BYTES) return "bad";
  if (!h.subarray(0, 8).equals(MAGIC)) {
    return h.subarray(0, SEGMENT_HEADER_BYTES).every((b) => b === 0) ? "zero" : "bad";
  }
  if (crc32c(h.subarray(0, 32)) !== h.readUInt32LE(32)) return "bad";
  if (h.readUInt32LE(8) !== FORMAT_VERSION) return "bad";
  const sealed = h.readUInt32LE(36) === SEAL_MAGIC && crc32c(h.subarray(36, 56)) === h.readUInt32LE(56);
  return {
    kind: h.readUInt32LE(12),
    bytes: h.readUInt32LE(16),
    index: h.readUInt32LE(20),
    baseSeq: readU64(h, 24),
    sealedEnd: sealed ? h.readUInt32LE(40) : undefined,
    sealedNextSeq: sealed ? readU64(h, 48) : 0,
    startedAtS: h.readUInt32LE(60),
  };
}

export class Segment {
  /** The shared mapping while the segment is written or repaired. */
  map: Buffer | null = null;
  /** 32- and 64-bit views of the mapping, for the record writer. */
  u32: Uint32Array = EMPTY_U32;
  f64: Float64Array = EMPTY_F64;
  /** First byte after the last record. */
  end = SEGMENT_HEADER_BYTES;
  sealed = false;
  /** Every record was checksummed at recovery or written by this process. */
  verified = false;
  baseSeq = 0;
  nextSeq = 0;
  /** Seconds since the epoch (rounded up) when it became active; 0: unknown. */
  startedAtS = 0;
  /** Unflushed byte range of the mapping. */
  dirtyLo = Number.MAX_SAFE_INTEGER;
  dirtyHi = 0;
  /** Open while writes may still need an fdatasync (never with fsync "never"). */
  syncFd = -1;
  /** Open while the chunk reader uses it. */
  readFd = -1;
  /** Its id summary, while held in memory (segment-summary.ts). */
  summary: SegmentSummary | null = null;
  /** Reclaimed: its file is going away. */
  deleted = false;
  private syncsInFlight = 0;
  private closeWhenIdle = false;

  constructor(
    readonly index: number,
    readonly path: string,
    readonly bytes: number,
  ) {}

  mapFile(): Buffer {
    if (this.map === null) {
      const fd = fs.openSync(this.path, "r+");
      try {
        this.map = mapShared(fd, this.bytes);
        this.u32 = new Uint32Array(this.map.buffer, this.map.byteOffset, this.bytes >>> 2);
        this.f64 = new Float64Array(this.map.buffer, this.map.byteOffset, this.bytes >>> 3);
      } finally {
        fs.closeSync(fd);
      }
    }
    return this.map;
  }

  markDirty(lo: number, hi: number): void {
    if (lo < this.dirtyLo) this.dirtyLo = lo;
    if (hi > this.dirtyHi) this.dirtyHi = hi;
  }

  writeHeader(kind: number, baseSeq: number, nowMs: number): void {
    const m = this.mapFile();
    m.fill(0, 0, SEGMENT_HEADER_BYTES);
    MAGIC.copy(m, 0);
    m.writeUInt32LE(FORMAT_VERSION, 8);
    m.writeUInt32LE(kind, 12);
    m.writeUInt32LE(this.bytes, 16);
    m.writeUInt32LE(this.index, 20);
    writeU64(m, 24, baseSeq);
    m.writeUInt32LE(crc32c(m.subarray(0, 32)), 32);
    this.startedAtS = Math.ceil(nowMs / 1000);
    m.writeUInt32LE(this.startedAtS, 60);
    this.baseSeq = baseSeq;
    this.nextSeq = baseSeq;
    this.verified = true;
    this.markDirty(0, SEGMENT_HEADER_BYTES);
  }

  writeSeal(): void {
    const m = this.mapFile();
    m.writeUInt32LE(SEAL_MAGIC, 36);
    m.writeUInt32LE(this.end, 40);
    m.writeUInt32LE(0, 44);
    writeU64(m, 48, this.nextSeq);
    m.writeUInt32LE(crc32c(m.subarray(36, 56)), 56);
    this.sealed = true;
    this.markDirty(0, SEGMENT_HEADER_BYTES);
  }

  /** Stops writing: drops the mapping's pages from RSS (they stay in the page cache). */
  unmap(): void {
    if (this.map === null) return;
    dropPages(this.map, 0, this.bytes);
    this.map = null;
    this.u32 = EMPTY_U32;
    this.f64 = EMPTY_F64;
  }

  openForSync(): void {
    if (this.syncFd < 0) this.syncFd = fs.openSync(this.path, "r+");
  }

  /**
   * Starts an fdatasync (in libuv's thread pool) of everything written so
   * far; undefined when there is nothing to sync. On Linux, fdatasync writes
   * back pages dirtied through a shared mapping exactly like msync(MS_SYNC).
   */
  syncAsync(): Promise<void> | undefined {
    if (this.dirtyHi === 0 || this.syncFd < 0) return undefined;
    this.clearDirty();
    const fd = this.syncFd;
    this.syncsInFlight++;
    return new Promise((resolve, reject) => {
      fs.fdatasync(fd, (err) => {
        this.syncsInFlight--;
        if (this.syncsInFlight === 0 && this.closeWhenIdle) this.closeSyncFd();
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** Blocking sync, for close. Returns whether it synced. */
  syncNow(): boolean {
    if (this.dirtyHi === 0 || this.syncFd < 0) return false;
    this.clearDirty();
    fs.fdatasyncSync(this.syncFd);
    return true;
  }

  /** Closes the sync fd now, or once the syncs in flight on it are done. */
  closeSyncFd(): void {
    if (this.syncsInFlight > 0) {
      this.closeWhenIdle = true;
      return;
    }
    this.closeWhenIdle = false;
    if (this.syncFd >= 0) fs.closeSync(this.syncFd);
    this.syncFd = -1;
  }

  clearDirty(): void {
    this.dirtyLo = Number.MAX_SAFE_INTEGER;
    this.dirtyHi = 0;
  }

  closeFds(): void {
    this.closeSyncFd();
    if (this.readFd >= 0) fs.closeSync(this.readFd);
    this.readFd = -1;
  }
}

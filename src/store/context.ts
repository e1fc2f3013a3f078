// State shared by every log of one Storage: the allocation seam, the logger,
// counters reported by stats(), the set of segments with unflushed writes and
// the one chunk buffer used to read segments that are not mapped.
import * as fs from "node:fs";
import { type Clock, StoreError } from "../broker/storage.js";
import type { ChunkReader } from "./chunk-reader.js";
import type { Segment } from "./segment.js";

export type FsyncPolicy = "always" | "interval" | "never";

/** Creates `path` holding `bytes` zero bytes (really written, not sparse). */
export type AllocateSeam = (path: string, bytes: number) => void;

export interface StoreLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface Counters {
  recoveredTruncations: number;
  quarantinedSegments: number;
  corruptRecordsSkipped: number;
  fsyncs: number;
  fsyncMsTotal: number;
  segmentsReclaimed: number;
  messagesLost: number;
  dataDirEntriesSkipped: number;
}

export interface StoreContext {
  /** Time for delays, expiry and segment start times (the broker's clock). */
  clock: Clock;
  allocate: AllocateSeam;
  /** Background twin of allocate, used only with the default allocator. */
  allocateAsync: ((path: string, bytes: number) => Promise<void>) | undefined;
  logger: StoreLogger;
  policy: FsyncPolicy;
  maxBodyBytes: number;
  counters: Counters;
  /** Segments written since the last flush. */
  dirty: Set<Segment>;
  reader: ChunkReader;
  /** Id summaries being saved beside their segments (close waits for them). */
  sidecarWrites: Set<Promise<void>>;
  /** Queue logs holding acks not yet journaled (flushed by commit). */
  pendingAcks: Set<{ flushAcks(): void }>;
}

// Segments are zero-filled by writing, so their blocks exist before they are
// mapped (a mapped write past the disk's space would be a SIGBUS, not an
// error). The page cache sizes its folios by the write, and a mapping faults
// in a whole folio at its first touch. A queue's first, small segments (where
// an idle queue stays) are written a page at a time for their first 64 KiB,
// then 64 KiB at a time, so a queue holding one message keeps about 6 KiB of
// each of its files resident (74 KiB with 64 KiB writes, 2 MiB with one
// write; a node of 150 idle topics held 24 MiB of such pages). Larger segments
// (busy queues) are written in one writev: appends into the folios that makes
// ran 10x faster (4 KiB records) than into 64 KiB or 1 MiB ones.
const SMALL_SEGMENT_BYTES = 2 << 20;
const SMALL_WRITE_BYTES = 64 << 10;
const HEAD_BYTES = 64 << 10;
const PAGE_BYTES = 4 << 10;
/** Bytes of the next zero-filling write of a small segment at `off`. */
const smallStep = (off: number, bytes: number) => Math.min(off < HEAD_BYTES ? PAGE_BYTES : SMALL_WRITE_BYTES, bytes - off);
const ZEROS = Buffer.alloc(1 << 20);

/** Iovecs of zeros covering `bytes` for one writev (all pointing at one zero buffer). */
function zeroIovecs(bytes: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < bytes; off += ZEROS.length) out.push(ZEROS.subarray(0, Math.min(ZEROS.length, bytes - off)));
  return out;
}

// Each loop goes on until the whole file is written: a write the disk cuts
// short is followed by one that fails, never by a mapped hole.
export const allocateZeroed: AllocateSeam = (path, bytes) => {
  const fd = fs.openSync(path, "w");
  try {
    let off = 0;
    if (bytes <= SMALL_SEGMENT_BYTES) while (off < bytes) off += fs.writeSync(fd, ZEROS, 0, smallStep(off, bytes), off);
    else while (off < bytes) off += fs.writevSync(fd, zeroIovecs(bytes - off), off);
  } finally {
    fs.closeSync(fd);
  }
};

/** allocateZeroed in libuv's thread pool, so the event loop goes on meanwhile. */
export async function allocateZeroedAsync(path: string, bytes: number): Promise<void> {
  const fh = await fs.promises.open(path, "w");
  try {
    let off = 0;
    if (bytes <= SMALL_SEGMENT_BYTES) while (off < bytes) off += (await fh.write(ZEROS, 0, smallStep(off, bytes), off)).bytesWritten;
    else while (off < bytes) off += (await fh.writev(zeroIovecs(bytes - off), off)).bytesWritten;
  } finally {
    await fh.close();
  }
}

/** Maps a file-system failure to the store's error codes. */
export function toStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new StoreError("DISK_FULL", `disk full while ${what}`, { cause: err });
  }
  return new StoreError("IO", `I/O error while ${what}${code ? ` (${code})` : ""}`, { cause: err });
}

/** Writes a small file atomically: temp file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, data, 0, data.length, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, path);
  fsyncDir(path.slice(0, path.lastIndexOf("/")) || "/");
}

export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  }
}

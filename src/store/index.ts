// Durable storage for gmq: per-queue append-only segment logs over mmap.
// See docs/storage.md for the on-disk format and the recovery rules.
import { type Clock, type Storage, systemClock } from "../broker/storage.js";
import { type AllocateSeam, type FsyncPolicy, type StoreLogger, allocateZeroed, allocateZeroedAsync } from "./context.js";
import { FileStorage, chunkReaderFor } from "./file-storage.js";
import { SEGMENT_HEADER_BYTES } from "./segment.js";

export type { AllocateSeam, FsyncPolicy, StoreLogger } from "./context.js";
export { allocateZeroed } from "./context.js";

export interface StoreOptions {
  dataDir: string;
  /** Size of each segment file; default 64 MiB. */
  segmentBytes?: number;
  /** Largest message body; default 1 MiB. */
  maxBodyBytes?: number;
  /** Default "interval". */
  fsync?: FsyncPolicy;
  /** Default 1000. */
  fsyncIntervalMs?: number;
  logger?: StoreLogger;
  /** Test seam: creates a zero-filled segment file (replace it to inject ENOSPC). */
  allocate?: AllocateSeam;
  /** Time for delays, expiry and segment start times; default systemClock. Give the broker the same one. */
  clock?: Clock;
}

const silent: StoreLogger = { warn() {}, info() {} };

/** Opens (creating if needed) the data directory and recovers every queue, synchronously. */
export function openStorage(options: StoreOptions): Storage {
  const s = createStorage(options);
  s.recoverNow();
  return s;
}

/** openStorage, recovering queue by queue with event-loop turns in between (a node answers /readyz meanwhile). */
export async function openStorageYielding(options: StoreOptions): Promise<Storage> {
  const s = createStorage(options);
  await s.recoverYielding();
  return s;
}

function createStorage(options: StoreOptions): FileStorage {
  const segmentBytes = options.segmentBytes ?? 64 << 20;
  const maxBodyBytes = options.maxBodyBytes ?? 1 << 20;
  if (!Number.isInteger(segmentBytes) || segmentBytes % 4096 !== 0 || segmentBytes < 64 << 10 || segmentBytes > 1 << 30) {
    throw new RangeError(`segmentBytes must be a multiple of 4096 between 64 KiB and 1 GiB, got ${segmentBytes}`);
  }
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) throw new RangeError(`bad maxBodyBytes ${maxBodyBytes}`);
  return new FileStorage({
    dataDir: options.dataDir,
    segmentBytes,
    fsyncIntervalMs: options.fsyncIntervalMs ?? 1000,
    ctx: {
      clock: options.clock ?? systemClock,
      allocate: options.allocate ?? allocateZeroed,
      allocateAsync: options.allocate === undefined ? allocateZeroedAsync : undefined,
      logger: options.logger ?? silent,
      policy: options.fsync ?? "interval",
      maxBodyBytes,
      counters: {
        recoveredTruncations: 0,
        quarantinedSegments: 0,
        corruptRecordsSkipped: 0,
        fsyncs: 0,
        fsyncMsTotal: 0,
        segmentsReclaimed: 0,
        messagesLost: 0,
        dataDirEntriesSkipped: 0,
      },
      dirty: new Set(),
      pendingAcks: new Set(),
      sidecarWrites: new Set(),
      reader: chunkReaderFor(maxBodyBytes),
    },
  });
}

export { SEGMENT_HEADER_BYTES };

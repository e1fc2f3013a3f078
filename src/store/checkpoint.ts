// A queue's checkpoint: the consumption state at one journal position, so the
// journal before it can be deleted and recovery replays only what follows.
// Written atomically (temp, fsync, rename). Layout (little endian):
//
//   0  8 bytes magic "GMQCKPT\x01"
//   8  u32 format version (1)
//  12  u32 crc32c of bytes [16, end)
//  16  f64 journal position to replay from
//  24  f64 cursor (message log position of the first never-delivered record)
//  32  f64 cursor seq
//  40  f64 delay log position up to which delayed messages are listed below
//  48  u32 entry count, 52 u32 delay count
//  56  entries, 32 bytes each: u64 id, f64 position, f64 time, u32 retry, u8 state, 3 bytes 0
//      (state 1 in flight, 2 ready, 3 delayed; 5 CANCELLED: a never-delivered
//      record at or after the cursor that an operator removed or moved away)
//      delays, 16 bytes each: f64 deliverAtMs, f64 delay log position
import * as fs from "node:fs";
import { crc32c } from "@node-rs/crc32";
import { writeFileAtomic } from "./context.js";

const MAGIC = Buffer.from([0x47, 0x4d, 0x51, 0x43, 0x4b, 0x50, 0x54, 0x01]);
const HEADER_BYTES = 56;
/** Entry state of a removed or moved never-delivered record (queue-steer.ts); the others are EntryState's. */
export const CANCELLED_ENTRY = 5;

export interface CheckpointEntry {
  id: bigint;
  pos: number;
  time: number;
  retry: number;
  state: number;
}

export interface Checkpoint {
  journalPos: number;
  cursor: number;
  cursorSeq: number;
  delayScanPos: number;
  entries: CheckpointEntry[];
  delayAt: readonly number[];
  delayPos: readonly number[];
}

export function writeCheckpoint(path: string, c: Checkpoint): void {
  const n = c.entries.length;
  const d = c.delayAt.length;
  const buf = Buffer.alloc(HEADER_BYTES + n * 32 + d * 16);
  MAGIC.copy(buf, 0);
  buf.writeUInt32LE(1, 8);
  buf.writeDoubleLE(c.journalPos, 16);
  buf.writeDoubleLE(c.cursor, 24);
  buf.writeDoubleLE(c.cursorSeq, 32);
  buf.writeDoubleLE(c.delayScanPos, 40);
  buf.writeUInt32LE(n, 48);
  buf.writeUInt32LE(d, 52);
  let off = HEADER_BYTES;
  for (const e of c.entries) {
    buf.writeBigUInt64LE(e.id, off);
    buf.writeDoubleLE(e.pos, off + 8);
    buf.writeDoubleLE(e.time, off + 16);
    buf.writeUInt32LE(e.retry, off + 24);
    buf[off + 28] = e.state;
    off += 32;
  }
  for (let i = 0; i < d; i++) {
    buf.writeDoubleLE(c.delayAt[i]!, off);
    buf.writeDoubleLE(c.delayPos[i]!, off + 8);
    off += 16;
  }
  buf.writeUInt32LE(crc32c(buf.subarray(16)), 12);
  writeFileAtomic(path, buf);
}

/** The checkpoint at path; undefined if there is none; "bad" if it is damaged. */
export function readCheckpoint(path: string): Checkpoint | undefined | "bad" {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return "bad";
  }
  if (buf.length < HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC) || buf.readUInt32LE(8) !== 1) return "bad";
  if (crc32c(buf.subarray(16)) !== buf.readUInt32LE(12)) return "bad";
  const n = buf.readUInt32LE(48);
  const d = buf.readUInt32LE(52);
  if (buf.length !== HEADER_BYTES + n * 32 + d * 16) return "bad";
  const entries: CheckpointEntry[] = [];
  let off = HEADER_BYTES;
  for (let i = 0; i < n; i++) {
    entries.push({
      id: buf.readBigUInt64LE(off),
      pos: buf.readDoubleLE(off + 8),
      time: buf.readDoubleLE(off + 16),
      retry: buf.readUInt32LE(off + 24),
      state: buf[off + 28]!,
    });
    off += 32;
  }
  const delayAt: number[] = [];
  const delayPos: number[] = [];
  for (let i = 0; i < d; i++) {
    delayAt.push(buf.readDoubleLE(off));
    delayPos.push(buf.readDoubleLE(off + 8));
    off += 16;
  }
  return {
    journalPos: buf.readDoubleLE(16),
    cursor: buf.readDoubleLE(24),
    cursorSeq: buf.readDoubleLE(32),
    delayScanPos: buf.readDoubleLE(40),
    entries,
    delayAt,
    delayPos,
  };
}

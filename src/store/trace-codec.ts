// The trace log's record codec. A record is framed like the message store's:
//   0  u32 payload bytes (n)
//   4  u32 crc32c of the payload
//   8  payload:
//        0  u8  kind (TraceKind)
//        1  u8  flags (bit 0: duplicate)
//        2  u8  consumer (0 none, 1 pop, 2 stream)
//        3  u8  layout: 0 one event (segments of format 1), 1 a run (format 2)
//        4  u32 retry
//        8  f64 atMs
//       16  u64 id (a run: its first id)
//       24  f64 untilMs
//       32  u32 nodeId
//       36  u16 string count, then each string as u16 bytes + UTF-8:
//           bindKey, routeKey, peer, tokenName, then the queues reached
//           (trailing empty strings of the first four are left out)
//   a run, after the strings: zeros up to a multiple of 8 bytes from the
//   record's start, then the ids of its events (u64 each, the first one
//   again), to the payload's end.
// A run is the same event (kind, time, retry, untilMs, strings) of many
// messages: a push batch's Pushed events, a delivery batch's Delivered, the
// acks of a stream's Ack message. Format 2 segments hold only runs and keep
// every record 8-byte aligned, so their ids are written as aligned u64s.
import { crc32c } from "@node-rs/crc32";
import { align8 } from "./record.js";
import type { ConsumerKind, TraceEvent, TraceKind, TraceSubject } from "../broker/storage.js";

export const TRACE_FRAME_BYTES = 8;
const FIXED_BYTES = 38;
/** Bigger payloads are damage, not records (a push reaching every queue of a large topic stays far below). */
export const MAX_TRACE_PAYLOAD_BYTES = 4 * 1024 * 1024;
const MAX_STRING_BYTES = 0xffff;
const LAYOUT_ONE = 0;
const LAYOUT_RUN = 1;

const CONSUMER_CODE: Record<ConsumerKind, number> = { "": 0, pop: 1, stream: 2 };
const CONSUMER_OF: readonly ConsumerKind[] = ["", "pop", "stream"];
/** Longest string kept whole: its UTF-8 form always fits the u16 length. */
const MAX_STRING_CHARS = Math.floor(MAX_STRING_BYTES / 3);

const clip = (s: string): string => (s.length <= MAX_STRING_CHARS ? s : s.slice(0, MAX_STRING_CHARS));

/** Bytes a run's head (frame, fixed fields, strings, padding) may take at most (UTF-8 takes up to 3 bytes per UTF-16 unit). */
export function maxTraceHeadBytes(about: TraceSubject): number {
  let n = TRACE_FRAME_BYTES + FIXED_BYTES + 8 + 7 + 3 * (about.bindKey.length + about.routeKey.length + about.peer.length + about.tokenName.length);
  for (const q of about.queues) n += 2 + 3 * q.length;
  return n;
}

function putString(buf: Buffer, o: number, s: string): number {
  const n = s.length === 0 ? 0 : buf.write(clip(s), o + 2, "utf8");
  buf.writeUInt16LE(n, o);
  return o + 2 + n;
}

/**
 * Writes the head of a run at off in buf (8-aligned, with
 * maxTraceHeadBytes(about) bytes free): everything but its ids and frame.
 * Returns where its ids go (8-aligned); the caller writes them (the first
 * is `id`) and ends the record with sealTraceRun.
 */
export function encodeTraceRunHead(kind: TraceKind, atMs: number, id: bigint, about: TraceSubject, retry: number, untilMs: number, buf: Buffer, off: number): number {
  const p = off + TRACE_FRAME_BYTES;
  buf[p] = kind;
  buf[p + 1] = about.duplicate ? 1 : 0;
  buf[p + 2] = CONSUMER_CODE[about.consumer];
  buf[p + 3] = LAYOUT_RUN;
  buf.writeUInt32LE(retry >>> 0, p + 4);
  buf.writeDoubleLE(atMs, p + 8);
  buf.writeBigUInt64LE(BigInt.asUintN(64, id), p + 16);
  buf.writeDoubleLE(untilMs, p + 24);
  buf.writeUInt32LE(about.nodeId >>> 0, p + 32);
  const queues = about.queues;
  // Trailing empty strings of the first four are left out when no queue follows.
  let count = 4 + queues.length;
  if (queues.length === 0) {
    if (about.tokenName === "") count = about.peer === "" ? (about.routeKey === "" ? (about.bindKey === "" ? 0 : 1) : 2) : 3;
  }
  buf.writeUInt16LE(count, p + 36);
  let o = p + FIXED_BYTES;
  if (count > 0) o = putString(buf, o, about.bindKey);
  if (count > 1) o = putString(buf, o, about.routeKey);
  if (count > 2) o = putString(buf, o, about.peer);
  if (count > 3) o = putString(buf, o, about.tokenName);
  for (const q of queues) o = putString(buf, o, q);
  const ids = off + align8(o - off);
  buf.fill(0, o, ids);
  return ids;
}

/** Frames the run written at off whose ids end at end: its length and checksum. */
export function sealTraceRun(buf: Buffer, off: number, end: number): void {
  const p = off + TRACE_FRAME_BYTES;
  buf.writeUInt32LE(end - p, off);
  buf.writeUInt32LE(crc32c(buf.subarray(p, end)), off + 4);
}

/**
 * Length of the valid record at off (frame included), or -1 when the bytes
 * there are not one: a length out of bounds, past `limit`, or a checksum
 * that does not match.
 */
export function checkTraceRecord(buf: Buffer, off: number, limit: number): number {
  if (off + TRACE_FRAME_BYTES + FIXED_BYTES > limit) return -1;
  const n = buf.readUInt32LE(off);
  if (n < FIXED_BYTES || n > MAX_TRACE_PAYLOAD_BYTES || off + TRACE_FRAME_BYTES + n > limit) return -1;
  if (crc32c(buf.subarray(off + TRACE_FRAME_BYTES, off + TRACE_FRAME_BYTES + n)) !== buf.readUInt32LE(off + 4)) return -1;
  return TRACE_FRAME_BYTES + n;
}

/** The time of the (checked) record at off. */
export function traceRecordAt(buf: Buffer, off: number): number {
  return buf.readDoubleLE(off + TRACE_FRAME_BYTES + 8);
}

/** Where the strings of the (checked) record at off end (its end when they run past it). */
function stringsEnd(buf: Buffer, off: number, end: number): number {
  const p = off + TRACE_FRAME_BYTES;
  const count = buf.readUInt16LE(p + 36);
  let o = p + FIXED_BYTES;
  for (let i = 0; i < count; i++) {
    if (o + 2 > end) return end;
    const next = o + 2 + buf.readUInt16LE(o);
    if (next > end) return end;
    o = next;
  }
  return o;
}

/** Where the ids of the (checked) record at off are: [from, to), u64 LE each (a format-1 record's one id in its fixed part). */
export function traceRecordIds(buf: Buffer, off: number): [number, number] {
  const p = off + TRACE_FRAME_BYTES;
  if (buf[p + 3] !== LAYOUT_RUN) return [p + 16, p + 24];
  const end = p + buf.readUInt32LE(off);
  return [off + align8(stringsEnd(buf, off, end) - off), end];
}

/**
 * Appends to out the events of message `id` in the (checked) record at off
 * (a run may hold one message more than once), up to max events in out.
 * Strings that run past the record's end come back empty.
 */
export function decodeTraceEvents(buf: Buffer, off: number, id: bigint, out: TraceEvent[], max: number): void {
  const p = off + TRACE_FRAME_BYTES;
  const end = p + buf.readUInt32LE(off);
  let times = 0;
  if (buf[p + 3] !== LAYOUT_RUN) times = buf.readBigUInt64LE(p + 16) === id ? 1 : 0;
  else for (let o = off + align8(stringsEnd(buf, off, end) - off); o + 8 <= end; o += 8) if (buf.readBigUInt64LE(o) === id) times++;
  if (times === 0) return;
  const count = buf.readUInt16LE(p + 36);
  const strings: string[] = [];
  let o = p + FIXED_BYTES;
  for (let i = 0; i < count && o + 2 <= end; i++) {
    const len = buf.readUInt16LE(o);
    if (o + 2 + len > end) break;
    strings.push(buf.toString("utf8", o + 2, o + 2 + len));
    o += 2 + len;
  }
  for (let i = 0; i < times && out.length < max; i++) {
    out.push({
      kind: buf.readUInt8(p) as TraceKind,
      duplicate: (buf.readUInt8(p + 1) & 1) === 1,
      consumer: CONSUMER_OF[buf.readUInt8(p + 2)] ?? "",
      retry: buf.readUInt32LE(p + 4),
      atMs: buf.readDoubleLE(p + 8),
      id,
      untilMs: buf.readDoubleLE(p + 24),
      nodeId: buf.readUInt32LE(p + 32),
      bindKey: strings[0] ?? "",
      routeKey: strings[1] ?? "",
      peer: strings[2] ?? "",
      tokenName: strings[3] ?? "",
      queues: strings.slice(4),
    });
  }
}

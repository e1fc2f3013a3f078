// The trace log's record codec. A record is framed like the message store's:
//   0  u32 payload bytes (n)
//   4  u32 crc32c of the payload
//   8  payload:
//        0  u8  kind (TraceKind)
//        1  u8  flags (bit 0: duplicate)
//        2  u8  consumer (0 none, 1 pop, 2 stream)
//        3  u8  0
//        4  u32 retry
//        8  f64 atMs
//       16  u64 id
//       24  f64 untilMs
//       32  u32 nodeId
//       36  u16 string count, then each string as u16 bytes + UTF-8:
//           bindKey, routeKey, peer, tokenName, then the queues reached
//           (trailing empty strings of the first four are left out)
// Typical sizes: 44 bytes + the strings (a delivery over gRPC with a bind key
// of 8 characters: about 75 bytes).
import { crc32c } from "@node-rs/crc32";
import type { ConsumerKind, TraceEvent, TraceKind } from "../broker/storage.js";

export const TRACE_FRAME_BYTES = 8;
const FIXED_BYTES = 38;
/** Bigger payloads are damage, not records (a push reaching every queue of a large topic stays far below). */
export const MAX_TRACE_PAYLOAD_BYTES = 4 * 1024 * 1024;
const MAX_STRING_BYTES = 0xffff;

const CONSUMER_CODE: Record<ConsumerKind, number> = { "": 0, pop: 1, stream: 2 };
const CONSUMER_OF: readonly ConsumerKind[] = ["", "pop", "stream"];
/** Longest string kept whole: its UTF-8 form always fits the u16 length. */
const MAX_STRING_CHARS = Math.floor(MAX_STRING_BYTES / 3);

const clip = (s: string): string => (s.length <= MAX_STRING_CHARS ? s : s.slice(0, MAX_STRING_CHARS));

/** Bytes the event's record may take at most (UTF-8 takes up to 3 bytes per UTF-16 unit). */
export function maxTraceRecordBytes(e: TraceEvent): number {
  let n = TRACE_FRAME_BYTES + FIXED_BYTES + 8 + 3 * (e.bindKey.length + e.routeKey.length + e.peer.length + e.tokenName.length);
  for (const q of e.queues) n += 2 + 3 * q.length;
  return n;
}

function putString(buf: Buffer, o: number, s: string): number {
  const n = s.length === 0 ? 0 : buf.write(clip(s), o + 2, "utf8");
  buf.writeUInt16LE(n, o);
  return o + 2 + n;
}

/**
 * Writes the event's record, framed and checksummed, at off in buf (which
 * has maxTraceRecordBytes(e) bytes free there); returns its length.
 */
export function encodeTraceRecord(e: TraceEvent, buf: Buffer, off: number): number {
  const p = off + TRACE_FRAME_BYTES;
  buf.writeUInt8(e.kind, p);
  buf.writeUInt8(e.duplicate ? 1 : 0, p + 1);
  buf.writeUInt8(CONSUMER_CODE[e.consumer], p + 2);
  buf.writeUInt8(0, p + 3);
  buf.writeUInt32LE(e.retry >>> 0, p + 4);
  buf.writeDoubleLE(e.atMs, p + 8);
  buf.writeBigUInt64LE(BigInt.asUintN(64, e.id), p + 16);
  buf.writeDoubleLE(e.untilMs, p + 24);
  buf.writeUInt32LE(e.nodeId >>> 0, p + 32);
  // Trailing empty strings of the first four are left out when no queue follows.
  let count = 4 + e.queues.length;
  if (e.queues.length === 0) {
    if (e.tokenName === "") count = e.peer === "" ? (e.routeKey === "" ? (e.bindKey === "" ? 0 : 1) : 2) : 3;
  }
  buf.writeUInt16LE(count, p + 36);
  let o = p + FIXED_BYTES;
  if (count > 0) o = putString(buf, o, e.bindKey);
  if (count > 1) o = putString(buf, o, e.routeKey);
  if (count > 2) o = putString(buf, o, e.peer);
  if (count > 3) o = putString(buf, o, e.tokenName);
  for (const q of e.queues) o = putString(buf, o, q);
  const n = o - p;
  buf.writeUInt32LE(n, off);
  buf.writeUInt32LE(crc32c(buf.subarray(p, o)), off + 4);
  return o - off;
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

/** The id of the (checked) record at off. */
export function traceRecordId(buf: Buffer, off: number): bigint {
  return buf.readBigUInt64LE(off + TRACE_FRAME_BYTES + 16);
}

/** The time of the (checked) record at off. */
export function traceRecordAt(buf: Buffer, off: number): number {
  return buf.readDoubleLE(off + TRACE_FRAME_BYTES + 8);
}

/** Decodes the (checked) record at off; strings that run past its end come back empty. */
export function decodeTraceRecord(buf: Buffer, off: number): TraceEvent {
  const n = buf.readUInt32LE(off);
  const p = off + TRACE_FRAME_BYTES;
  const end = p + n;
  const count = buf.readUInt16LE(p + 36);
  const strings: string[] = [];
  let o = p + FIXED_BYTES;
  for (let i = 0; i < count && o + 2 <= end; i++) {
    const len = buf.readUInt16LE(o);
    if (o + 2 + len > end) break;
    strings.push(buf.toString("utf8", o + 2, o + 2 + len));
    o += 2 + len;
  }
  return {
    kind: buf.readUInt8(p) as TraceKind,
    duplicate: (buf.readUInt8(p + 1) & 1) === 1,
    consumer: CONSUMER_OF[buf.readUInt8(p + 2)] ?? "",
    retry: buf.readUInt32LE(p + 4),
    atMs: buf.readDoubleLE(p + 8),
    id: buf.readBigUInt64LE(p + 16),
    untilMs: buf.readDoubleLE(p + 24),
    nodeId: buf.readUInt32LE(p + 32),
    bindKey: strings[0] ?? "",
    routeKey: strings[1] ?? "",
    peer: strings[2] ?? "",
    tokenName: strings[3] ?? "",
    queues: strings.slice(4),
  };
}

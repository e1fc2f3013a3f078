// Record codec. Every log (messages, delayed messages, state journal) is a
// sequence of records with the same 48-byte header:
//
//   0  u32 length     header + route key + body, in bytes (0 = end of data)
//   4  u32 crc32c     over bytes [8, length)
//   8  u8  type
//   9  u8  flags      bit 0: an 8-byte expiry extension follows the header
//                     bit 1: an idempotency key extension follows (after
//                     the expiry extension when both are present)
//  10  u16 routeKeyLen
//  12  u32 retry
//  16  u64 a          message: seq; journal: a position
//  24  u64 id         message id
//  32  f64 b          message: createdAtMs
//  40  f64 c          message: deliverAtMs; journal: a time
//  48  [f64 expiresAtMs, only with flag bit 0]
//      [u16 keyLen, keyLen bytes of utf8 idempotency key, only with flag bit 1]
//      routeKey (utf8), body
//
// Records start at 8-byte aligned offsets; the gap is zero. `length` counts
// the extensions and the checksum covers them. A record without expiry or key
// is byte-identical to one written before the extensions existed.
import { endianness } from "node:os";
import { crc32c } from "@node-rs/crc32";

export const RECORD_HEADER_BYTES = 48;
export const MAX_ROUTE_KEY_BYTES = 0xffff;
/** Longest idempotency key the format holds (the broker allows far less). */
export const MAX_KEY_BYTES = 0xffff;

export const RecordType = {
  Message: 1,
  Delayed: 2,
  /** Fills a damaged region recovery could step over; readers skip it. */
  Pad: 3,
  DeliverRange: 16,
  Deliver: 17,
  Ack: 18,
  Release: 19,
  Touch: 20,
  Requeue: 21,
  DelayDone: 22,
  /** retry = count; body = count ids (u64 each). */
  AckBatch: 23,
  /** A ready or delayed message removed or moved by an operator (see journal.ts). */
  Cancel: 24,
  /** Every ready (retry 1) or delayed (retry 2) message up to a position removed. */
  Purge: 25,
} as const;

/** Bits of the flags byte. */
export const RecordFlag = {
  /** The record carries expiresAtMs (f64) in the 8 bytes after the header. */
  Expires: 1,
  /** The record carries an idempotency key (u16 length + utf8) after the expiry extension, if any. */
  Key: 2,
} as const;
/** Size of the expiry extension. */
export const EXPIRY_BYTES = 8;
/** Size of the key extension's length prefix. */
export const KEY_PREFIX_BYTES = 2;
/** Bytes a key of keyBytes takes in a record (0: no key, no extension). */
export function keyExtBytes(keyBytes: number): number {
  return keyBytes > 0 ? KEY_PREFIX_BYTES + keyBytes : 0;
}

const MAX_TYPE = 25;
const TWO_32 = 4294967296;

export function align8(n: number): number {
  return (n + 7) & ~7;
}

export function recordBytes(routeKeyBytes: number, bodyBytes: number, expiresAtMs = 0, keyBytes = 0): number {
  return RECORD_HEADER_BYTES + (expiresAtMs > 0 ? EXPIRY_BYTES : 0) + keyExtBytes(keyBytes) + routeKeyBytes + bodyBytes;
}

// Ids go through a scratch BigUint64Array: no BigInt arithmetic per record.
const idScratch = new BigUint64Array(1);
const idWords = new Uint32Array(idScratch.buffer);
/** Whether this host is little-endian, as the on-disk format is: typed-array views then read fields as they lie. */
export const LITTLE = endianness() === "LE";

export function writeId(buf: Buffer, off: number, id: bigint): void {
  if (!LITTLE) {
    buf.writeBigUInt64LE(id, off);
    return;
  }
  idScratch[0] = id;
  buf.writeUInt32LE(idWords[0]!, off);
  buf.writeUInt32LE(idWords[1]!, off + 4);
}

export function readId(buf: Buffer, off: number): bigint {
  if (!LITTLE) return buf.readBigUInt64LE(off);
  idWords[0] = buf.readUInt32LE(off);
  idWords[1] = buf.readUInt32LE(off + 4);
  return idScratch[0]!;
}

export function writeU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
}

/** Writes ids[0..n) as u64 little endian into buf at off. */
export function writeIds(buf: Buffer, off: number, ids: BigUint64Array, n: number): void {
  if (LITTLE) buf.set(new Uint8Array(ids.buffer, ids.byteOffset, n * 8), off);
  else for (let i = 0; i < n; i++) buf.writeBigUInt64LE(ids[i]!, off + i * 8);
}

export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32;
}

/**
 * Writes one record at buf[off]. routeKeyBytes must be
 * Buffer.byteLength(routeKey). Returns the record length (unaligned).
 */
export function writeRecord(
  buf: Buffer,
  off: number,
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
  const bodyBytes = body === null ? 0 : body.length;
  const exp = expiresAtMs > 0 ? EXPIRY_BYTES : 0;
  const keyExt = key === null ? 0 : keyExtBytes(key.length);
  const length = recordBytes(routeKeyBytes, bodyBytes, expiresAtMs, key === null ? 0 : key.length);
  buf.writeUInt32LE(length, off);
  buf[off + 8] = type;
  buf[off + 9] = (exp > 0 ? RecordFlag.Expires : 0) | (keyExt > 0 ? RecordFlag.Key : 0);
  buf.writeUInt16LE(routeKeyBytes, off + 10);
  buf.writeUInt32LE(retry, off + 12);
  writeU64(buf, off + 16, a);
  writeId(buf, off + 24, id);
  buf.writeDoubleLE(b, off + 32);
  buf.writeDoubleLE(c, off + 40);
  if (exp > 0) buf.writeDoubleLE(expiresAtMs, off + RECORD_HEADER_BYTES);
  if (keyExt > 0) writeKeyExt(buf, off + RECORD_HEADER_BYTES + exp, key!);
  const k = off + RECORD_HEADER_BYTES + exp + keyExt;
  if (routeKeyBytes > 0) buf.write(routeKey, k, routeKeyBytes, "utf8");
  if (body !== null && bodyBytes > 0) buf.set(body, k + routeKeyBytes);
  buf.writeUInt32LE(crc32c(buf.subarray(off + 8, off + length)), off + 4);
  return length;
}

/**
 * Checks the record at buf[off] (limit = end of readable data). Returns its
 * length if it is whole and its checksum matches, 0 if the length field is
 * zero (end of data), -1 if it is damaged.
 */
export function checkRecord(buf: Buffer, off: number, limit: number): number {
  const length = checkFraming(buf, off, limit);
  if (length <= 0) return length;
  // The key's length prefix must lie inside the record before it is read.
  if ((buf[off + 9]! & RecordFlag.Key) !== 0 && RECORD_HEADER_BYTES + expiryBytes(buf, off) + KEY_PREFIX_BYTES > length) return -1;
  if (RECORD_HEADER_BYTES + extBytes(buf, off) + buf.readUInt16LE(off + 10) > length) return -1;
  if (crc32c(buf.subarray(off + 8, off + length)) !== buf.readUInt32LE(off + 4)) return -1;
  return length;
}

/**
 * writeRecord through 32- and 64-bit views of the same memory (buf must start
 * 8-byte aligned, as mappings do; off is 8-byte aligned): no per-field bounds
 * checks, which matters at a million records per second. Little-endian hosts
 * only; others use writeRecord.
 */
export function writeRecordAligned(
  buf: Buffer,
  u32: Uint32Array,
  f64: Float64Array,
  off: number,
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
  if (!LITTLE) return writeRecord(buf, off, type, retry, a, id, b, c, routeKey, routeKeyBytes, body, expiresAtMs, key);
  const bodyBytes = body === null ? 0 : body.length;
  const exp = expiresAtMs > 0 ? EXPIRY_BYTES : 0;
  const keyExt = key === null ? 0 : keyExtBytes(key.length);
  const length = recordBytes(routeKeyBytes, bodyBytes, expiresAtMs, key === null ? 0 : key.length);
  const w = off >>> 2;
  u32[w] = length;
  // type, flags (bit 0 when exp: 8 << 5 = 1 << 8; bit 1 = 1 << 9), route key length
  u32[w + 2] = type | (exp << 5) | (keyExt > 0 ? 0x200 : 0) | (routeKeyBytes << 16);
  u32[w + 3] = retry;
  u32[w + 4] = a >>> 0;
  u32[w + 5] = Math.floor(a / TWO_32);
  idScratch[0] = id;
  u32[w + 6] = idWords[0]!;
  u32[w + 7] = idWords[1]!;
  const d = off >>> 3;
  f64[d + 4] = b;
  f64[d + 5] = c;
  if (exp > 0) f64[d + 6] = expiresAtMs;
  if (keyExt > 0) writeKeyExt(buf, off + RECORD_HEADER_BYTES + exp, key!);
  const k = off + RECORD_HEADER_BYTES + exp + keyExt;
  if (routeKeyBytes === routeKey.length) {
    for (let i = 0; i < routeKeyBytes; i++) buf[k + i] = routeKey.charCodeAt(i);
  } else if (routeKeyBytes > 0) {
    buf.write(routeKey, k, routeKeyBytes, "utf8");
  }
  if (body !== null && bodyBytes > 0) buf.set(body, k + routeKeyBytes);
  u32[w + 1] = crc32c(buf.subarray(off + 8, off + length));
  return length;
}

function writeKeyExt(buf: Buffer, at: number, key: Uint8Array): void {
  buf.writeUInt16LE(key.length, at);
  buf.set(key, at + KEY_PREFIX_BYTES);
}

/** UTF-8 length of s, without a call into C++ for the common ASCII case. */
export function utf8Length(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, "utf8");
  return n;
}

/**
 * checkRecord without the checksum, for segments already verified or written
 * by this process: only the framing is checked.
 */
export function checkFraming(buf: Buffer, off: number, limit: number): number {
  if (off + RECORD_HEADER_BYTES > limit) return off + 4 <= limit && buf.readUInt32LE(off) === 0 ? 0 : -1;
  const length = buf.readUInt32LE(off);
  if (length === 0) return 0;
  if (length < RECORD_HEADER_BYTES || off + length > limit) return -1;
  const type = buf[off + 8]!;
  return type === 0 || type > MAX_TYPE ? -1 : length;
}

export function recordType(buf: Buffer, off: number): number {
  return buf[off + 8]!;
}
export function recordRetry(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 12);
}
export function recordA(buf: Buffer, off: number): number {
  return readU64(buf, off + 16);
}
export function recordId(buf: Buffer, off: number): bigint {
  return readId(buf, off + 24);
}
/** High and low 32 bits of the id: ids compared without BigInt arithmetic (the hot path's id summaries). */
export function recordIdHi(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 28);
}
export function recordIdLo(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 24);
}
export function recordB(buf: Buffer, off: number): number {
  return buf.readDoubleLE(off + 32);
}
export function recordC(buf: Buffer, off: number): number {
  return buf.readDoubleLE(off + 40);
}
/** Bytes of the expiry extension: 8 when the Expires flag is set, else 0. */
export function expiryBytes(buf: Buffer, off: number): number {
  return (buf[off + 9]! & RecordFlag.Expires) * EXPIRY_BYTES;
}
/** Bytes of all extensions (expiry and key) between the header and the route key. */
export function extBytes(buf: Buffer, off: number): number {
  const flags = buf[off + 9]!;
  const exp = (flags & RecordFlag.Expires) * EXPIRY_BYTES;
  if ((flags & RecordFlag.Key) === 0) return exp;
  return exp + KEY_PREFIX_BYTES + buf.readUInt16LE(off + RECORD_HEADER_BYTES + exp);
}
/** The record's idempotency key; "" when it has none. */
export function recordKey(buf: Buffer, off: number): string {
  const flags = buf[off + 9]!;
  if ((flags & RecordFlag.Key) === 0) return "";
  const at = off + RECORD_HEADER_BYTES + (flags & RecordFlag.Expires) * EXPIRY_BYTES;
  const n = buf.readUInt16LE(at);
  return buf.toString("utf8", at + KEY_PREFIX_BYTES, at + KEY_PREFIX_BYTES + n);
}
/** The key's utf8 bytes (a view into buf), to copy a record with its key; null when it has none. */
export function recordKeyBytes(buf: Buffer, off: number): Buffer | null {
  const flags = buf[off + 9]!;
  if ((flags & RecordFlag.Key) === 0) return null;
  const at = off + RECORD_HEADER_BYTES + (flags & RecordFlag.Expires) * EXPIRY_BYTES + KEY_PREFIX_BYTES;
  return buf.subarray(at, at + buf.readUInt16LE(at - KEY_PREFIX_BYTES));
}
/** Whether the record carries an idempotency key. */
export function recordHasKey(buf: Buffer, off: number): boolean {
  return (buf[off + 9]! & RecordFlag.Key) !== 0;
}
/** Bytes of the record's route key (utf8). */
export function recordRouteKeyBytes(buf: Buffer, off: number): number {
  return buf.readUInt16LE(off + 10);
}
/** The body as a view into buf (no copy). */
export function recordBodyView(buf: Buffer, off: number): Buffer {
  const start = off + RECORD_HEADER_BYTES + extBytes(buf, off) + buf.readUInt16LE(off + 10);
  return buf.subarray(start, off + buf.readUInt32LE(off));
}
/** expiresAtMs of a record; 0 when it has no expiry. */
export function recordExpiresAt(buf: Buffer, off: number): number {
  return (buf[off + 9]! & RecordFlag.Expires) !== 0 ? buf.readDoubleLE(off + RECORD_HEADER_BYTES) : 0;
}
// Consecutive records usually carry the same route key: reuse the last
// decoded one when the bytes match (ASCII keys only, compared in JS).
let lastKey = "";

export function recordRouteKey(buf: Buffer, off: number): string {
  const n = buf.readUInt16LE(off + 10);
  if (n === 0) return "";
  const start = off + RECORD_HEADER_BYTES + extBytes(buf, off);
  if (n === lastKey.length) {
    let i = 0;
    while (i < n && buf[start + i] === lastKey.charCodeAt(i)) i++;
    if (i === n) return lastKey;
  }
  const key = buf.toString("utf8", start, start + n);
  if (key.length === n && n <= 256) lastKey = key;
  return key;
}
/** A copy of the body, owned by the caller. */
export function recordBody(buf: Buffer, off: number): Buffer {
  const length = buf.readUInt32LE(off);
  const start = off + RECORD_HEADER_BYTES + extBytes(buf, off) + buf.readUInt16LE(off + 10);
  const body = Buffer.allocUnsafe(off + length - start);
  buf.copy(body, 0, start, off + length);
  return body;
}
export function recordBodyBytes(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) - RECORD_HEADER_BYTES - extBytes(buf, off) - buf.readUInt16LE(off + 10);
}

// Readers through 32/64-bit views of a buffer that starts 8-byte aligned
// (mappings and the chunk buffer do); records are 8-byte aligned. They skip
// Buffer's per-call bounds checks on the delivery hot path.
export interface RecordViews {
  rbuf: Buffer;
  ru32: Uint32Array;
  rf64: Float64Array;
}

export function viewId(v: RecordViews, off: number): bigint {
  if (!LITTLE) return v.rbuf.readBigUInt64LE(off + 24);
  const w = off >>> 2;
  idWords[0] = v.ru32[w + 6]!;
  idWords[1] = v.ru32[w + 7]!;
  return idScratch[0]!;
}

export function viewRetry(v: RecordViews, off: number): number {
  return LITTLE ? v.ru32[(off >>> 2) + 3]! : v.rbuf.readUInt32LE(off + 12);
}

export function viewA(v: RecordViews, off: number): number {
  if (!LITTLE) return readU64(v.rbuf, off + 16);
  const w = off >>> 2;
  return v.ru32[w + 4]! + v.ru32[w + 5]! * TWO_32;
}

export function viewB(v: RecordViews, off: number): number {
  return LITTLE ? v.rf64[(off >>> 3) + 4]! : v.rbuf.readDoubleLE(off + 32);
}

// Word 2 holds type | flags << 8 | routeKeyLen << 16: (word >>> 5) & 8 is the
// expiry extension's size (flag bit 0 is bit 8 of the word); bit 9 (flag bit
// 1) marks a key extension, whose size is read only then.
function viewExtBytes(v: RecordViews, off: number, t: number): number {
  const exp = (t >>> 5) & EXPIRY_BYTES;
  return (t & 0x200) === 0 ? exp : exp + KEY_PREFIX_BYTES + v.rbuf.readUInt16LE(off + RECORD_HEADER_BYTES + exp);
}

export function viewBodyBytes(v: RecordViews, off: number): number {
  if (!LITTLE) return recordBodyBytes(v.rbuf, off);
  const w = off >>> 2;
  const t = v.ru32[w + 2]!;
  return v.ru32[w]! - RECORD_HEADER_BYTES - viewExtBytes(v, off, t) - (t >>> 16);
}

/** expiresAtMs of a record; 0 when it has no expiry (one flag test for records without). */
export function viewExpiresAt(v: RecordViews, off: number): number {
  if (!LITTLE) return recordExpiresAt(v.rbuf, off);
  return (v.ru32[(off >>> 2) + 2]! & 0x100) !== 0 ? v.rf64[(off >>> 3) + 6]! : 0;
}

/** A copy of the body, owned by the caller. */
export function viewBody(v: RecordViews, off: number): Buffer {
  if (!LITTLE) return recordBody(v.rbuf, off);
  const w = off >>> 2;
  const end = off + v.ru32[w]!;
  const t = v.ru32[w + 2]!;
  const start = off + RECORD_HEADER_BYTES + viewExtBytes(v, off, t) + (t >>> 16);
  const body = Buffer.allocUnsafe(end - start);
  v.rbuf.copy(body, 0, start, end);
  return body;
}

/** Writes a Pad record covering [off, off + length) (length >= 48). */
export function writePad(buf: Buffer, off: number, length: number): void {
  buf.fill(0, off, off + length);
  buf.writeUInt32LE(length, off);
  buf[off + 8] = RecordType.Pad;
  buf.writeUInt32LE(crc32c(buf.subarray(off + 8, off + length)), off + 4);
}

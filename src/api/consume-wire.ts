// ConsumeResponse encoded by hand on the node: one Buffer of its exact size
// for a batch of deliveries, where the generated encoder forked a writer per
// message and encoded the same topic and bind key again for each.
// test/unit/consume-wire.test.ts checks the bytes against the generated encoder.
import type { ConsumeResponse, Message } from "../gen/gmq/v1/broker.js";
import { bigVarintSize, bytesFieldSize, copyBytes, varintSize, writeBigVarint, writeVarint } from "../wire/protobuf.js";

/** int64 on the wire: a negative value as its 64-bit two's complement. */
const int64Size = (v: bigint) => bigVarintSize(v >= 0n ? v : BigInt.asUintN(64, v));
const writeInt64 = (buf: Buffer, pos: number, v: bigint) => writeBigVarint(buf, pos, v >= 0n ? v : BigInt.asUintN(64, v));

/** A string's UTF-8 bytes, measured once while the same string repeats (the topic and bind key of every delivery). */
class Utf8 {
  private last: string | undefined;
  private bytes = Buffer.alloc(0);
  of(s: string): Buffer {
    if (s !== this.last) {
      this.last = s;
      this.bytes = Buffer.from(s, "utf8");
    }
    return this.bytes;
  }
}

const stringField = bytesFieldSize;

/** The bytes of a ConsumeResponse, in a buffer from `alloc` of exactly their size. */
export function encodeConsumeResponse(res: ConsumeResponse, alloc: (bytes: number) => Buffer = Buffer.allocUnsafe): Buffer {
  const ms = res.messages;
  const n = ms.length;
  const topics = new Utf8();
  const binds = new Utf8();
  const routes = new Utf8();
  const sizes = new Array<number>(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const m = ms[i]!;
    const size =
      (m.id !== 0n ? 1 + bigVarintSize(m.id) : 0) +
      stringField(topics.of(m.topic).length) +
      stringField(binds.of(m.bindKey).length) +
      stringField(routes.of(m.routeKey).length) +
      stringField(m.body.length) +
      (m.retry !== 0 ? 1 + varintSize(m.retry) : 0) +
      (m.createdAtMs !== 0n ? 1 + int64Size(m.createdAtMs) : 0) +
      (m.deadlineMs !== 0n ? 1 + int64Size(m.deadlineMs) : 0) +
      (m.expiresAtMs !== 0n ? 1 + int64Size(m.expiresAtMs) : 0) +
      (m.priority !== 0 ? 1 + varintSize(m.priority) : 0);
    sizes[i] = size;
    total += 1 + varintSize(size) + size;
  }
  const buf = alloc(total);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const m = ms[i]!;
    buf[pos++] = 10;
    pos = writeVarint(buf, pos, sizes[i]!);
    pos = writeMessage(buf, pos, m, topics, binds, routes);
  }
  return buf;
}

function writeBytesField(buf: Buffer, pos: number, tag: number, bytes: Uint8Array): number {
  if (bytes.length === 0) return pos;
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, bytes.length);
  return copyBytes(bytes, buf, pos);
}

function writeMessage(buf: Buffer, pos: number, m: Message, topics: Utf8, binds: Utf8, routes: Utf8): number {
  if (m.id !== 0n) {
    buf[pos++] = 8;
    pos = writeBigVarint(buf, pos, m.id);
  }
  pos = writeBytesField(buf, pos, 18, topics.of(m.topic));
  pos = writeBytesField(buf, pos, 26, binds.of(m.bindKey));
  pos = writeBytesField(buf, pos, 34, routes.of(m.routeKey));
  pos = writeBytesField(buf, pos, 42, m.body);
  if (m.retry !== 0) {
    buf[pos++] = 48;
    pos = writeVarint(buf, pos, m.retry);
  }
  if (m.createdAtMs !== 0n) {
    buf[pos++] = 56;
    pos = writeInt64(buf, pos, m.createdAtMs);
  }
  if (m.deadlineMs !== 0n) {
    buf[pos++] = 64;
    pos = writeInt64(buf, pos, m.deadlineMs);
  }
  if (m.expiresAtMs !== 0n) {
    buf[pos++] = 72;
    pos = writeInt64(buf, pos, m.expiresAtMs);
  }
  if (m.priority !== 0) {
    buf[pos++] = 80;
    pos = writeVarint(buf, pos, m.priority);
  }
  return pos;
}

/**
 * A ConsumeResponse for grpc-js (the Consume method's responseSerialize),
 * written into one buffer reused from response to response: grpc-js copies
 * the bytes into its own frame as soon as this returns (serializeMessage),
 * so nothing reads them later. A fresh buffer per response (up to 1 MiB)
 * had its pages faulted in anew each time: a tenth of the node's CPU while
 * draining a queue.
 */
export function serializeConsumeResponse(res: ConsumeResponse): Buffer {
  return encodeConsumeResponse(res, scratch);
}

/** Responses larger than this get a buffer of their own, so one huge batch does not stay pinned. */
const MAX_SCRATCH_BYTES = 4 << 20;
let scratchBuf = Buffer.allocUnsafeSlow(64 << 10);
function scratch(bytes: number): Buffer {
  if (bytes > MAX_SCRATCH_BYTES) return Buffer.allocUnsafe(bytes);
  if (bytes > scratchBuf.length) scratchBuf = Buffer.allocUnsafeSlow(Math.min(MAX_SCRATCH_BYTES, Math.max(bytes, 2 * scratchBuf.length)));
  return scratchBuf.subarray(0, bytes);
}

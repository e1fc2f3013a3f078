// PushStream's messages on the node, encoded and decoded by hand. At a
// window of coalesced pushes the generated code was a fifth of the node's
// CPU per push: a BinaryWriter fork per answer in `results`, and per push
// read a fresh object with its own empty body Buffer and pushes array.
// Field numbers are gmq.v1's (proto/gmq/v1/broker.proto);
// test/unit/push-stream-wire.test.ts checks both against the generated code,
// bytes for bytes and field for field.
import type { PushStreamRequest, PushStreamResponse } from "../gen/gmq/v1/broker.js";
import { Reader, RepeatedString, bigVarintSize, varintSize, writeBigVarint, writeVarint } from "../wire/protobuf.js";

const EMPTY = Buffer.alloc(0);
/** Shared by every request without pushes; frozen, so nothing can add to it. */
const NO_PUSHES = Object.freeze([]) as unknown as PushStreamRequest[];
/** Nesting the generated decoder allows before it refuses a message. */
const MAX_DEPTH = 100;

/** int32 on the wire: a negative value as the 64-bit two's complement varint. */
const int32Size = (n: number) => (n < 0 ? 10 : varintSize(n));
const writeInt32 = (buf: Buffer, pos: number, n: number) => (n < 0 ? writeBigVarint(buf, pos, BigInt.asUintN(64, BigInt(n))) : writeVarint(buf, pos, n));

function responseSize(r: PushStreamResponse): number {
  let size = 0;
  if (r.seq !== 0n) size += 1 + bigVarintSize(r.seq);
  if (r.id !== 0n) size += 1 + bigVarintSize(r.id);
  if (r.errorCode !== 0) size += 1 + int32Size(r.errorCode);
  if (r.errorMessage !== "") {
    const n = Buffer.byteLength(r.errorMessage);
    size += 1 + varintSize(n) + n;
  }
  if (r.duplicate) size += 2;
  if (r.errorReason !== "") {
    const n = Buffer.byteLength(r.errorReason);
    size += 1 + varintSize(n) + n;
  }
  for (let i = 0; i < r.results.length; i++) {
    const n = responseSize(r.results[i]!);
    size += 1 + varintSize(n) + n;
  }
  if (r.takesPushes) size += 2;
  return size;
}

function writeResponse(buf: Buffer, pos: number, r: PushStreamResponse): number {
  if (r.seq !== 0n) {
    buf[pos++] = 8;
    pos = writeBigVarint(buf, pos, r.seq);
  }
  if (r.id !== 0n) {
    buf[pos++] = 16;
    pos = writeBigVarint(buf, pos, r.id);
  }
  if (r.errorCode !== 0) {
    buf[pos++] = 24;
    pos = writeInt32(buf, pos, r.errorCode);
  }
  if (r.errorMessage !== "") {
    buf[pos++] = 34;
    pos = writeVarint(buf, pos, Buffer.byteLength(r.errorMessage));
    pos += buf.write(r.errorMessage, pos, "utf8");
  }
  if (r.duplicate) {
    buf[pos++] = 40;
    buf[pos++] = 1;
  }
  if (r.errorReason !== "") {
    buf[pos++] = 50;
    pos = writeVarint(buf, pos, Buffer.byteLength(r.errorReason));
    pos += buf.write(r.errorReason, pos, "utf8");
  }
  for (let i = 0; i < r.results.length; i++) {
    const res = r.results[i]!;
    buf[pos++] = 58;
    pos = writeVarint(buf, pos, responseSize(res));
    pos = writeResponse(buf, pos, res);
  }
  if (r.takesPushes) {
    buf[pos++] = 64;
    buf[pos++] = 1;
  }
  return pos;
}

/** A PushStreamResponse in one Buffer of its exact size, the generated encoder's bytes. */
export function encodePushStreamResponse(r: PushStreamResponse): Buffer {
  const buf = Buffer.allocUnsafe(responseSize(r));
  writeResponse(buf, 0, r);
  return buf;
}

function readRequest(r: Reader, end: number, depth: number, topics: RepeatedString, routes: RepeatedString): PushStreamRequest {
  if (depth >= MAX_DEPTH) throw new Error("protobuf decode recursion limit exceeded");
  // Every field in one literal, in the generated order: one hidden class for every request.
  const m: PushStreamRequest = { seq: 0n, topic: "", routeKey: "", body: EMPTY, delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: NO_PUSHES, priority: undefined };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 8:
        m.seq = r.varint64();
        break;
      case 18:
        m.topic = r.string(end, topics);
        break;
      case 26:
        m.routeKey = r.string(end, routes);
        break;
      case 34:
        m.body = r.bytes(end);
        break;
      case 40:
        m.delayMs = r.varint64();
        break;
      case 48:
        m.ttlMs = r.varint64();
        break;
      case 58:
        m.idempotencyKey = r.string(end);
        break;
      case 66: {
        const stop = r.length(end);
        if (m.pushes === NO_PUSHES) m.pushes = [];
        m.pushes.push(readRequest(r, stop, depth + 1, topics, routes));
        break;
      }
      case 72:
        m.priority = r.uint32();
        break;
      default:
        r.skipUnknown(tag, end);
    }
  }
  if (r.pos !== end) throw new RangeError("premature EOF");
  return m;
}

/** A PushStreamRequest as the generated decoder reads it; throws on what it would refuse. */
export function decodePushStreamRequest(buf: Buffer): PushStreamRequest {
  return readRequest(new Reader(buf), buf.length, 0, new RepeatedString(), new RepeatedString());
}

// PushStream's messages on the node, encoded and decoded by hand. At a
// window of coalesced pushes the generated code was a fifth of the node's
// CPU per push: a BinaryWriter fork per answer in `results`, and per push
// read a fresh object with its own empty body Buffer and pushes array.
// Field numbers are gmq.v1's (proto/gmq/v1/broker.proto);
// test/unit/push-stream-wire.test.ts checks both against the generated code,
// bytes for bytes and field for field.
import type { PushStreamRequest, PushStreamResponse } from "../gen/gmq/v1/broker.js";
import { bigVarintSize, varintSize, writeBigVarint, writeVarint } from "./wire-varint.js";

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

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(): number {
    const buf = this.buf;
    let n = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= buf.length) throw new RangeError("premature EOF");
      const b = buf[this.pos++]!;
      n += (b & 127) * mul;
      if (b < 128) return n;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error("invalid varint");
    }
  }

  /** A varint as uint64, exact. */
  varint64(): bigint {
    const start = this.pos;
    const n = this.varint();
    if (n <= Number.MAX_SAFE_INTEGER) return BigInt(n);
    // Past 53 bits the number above lost bits: read the bytes again exactly.
    let v = 0n;
    let shift = 0n;
    for (let p = start; p < this.pos; p++, shift += 7n) v |= BigInt(this.buf[p]! & 127) << shift;
    return BigInt.asUintN(64, v);
  }

  /** A length and the end it gives, within `end`. */
  length(end: number): number {
    const len = this.varint();
    const stop = this.pos + len;
    if (stop > end) throw new RangeError("premature EOF");
    return stop;
  }

  skip(wireType: number, end: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.length(end);
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new Error(`cant skip wire type ${wireType}`);
    }
    if (this.pos > end) throw new RangeError("premature EOF");
  }
}

/** The pushes of one stream name the same topic and route key over and over: the previous strings are reused when the bytes repeat. */
class Names {
  private start = -1;
  private len = 0;
  private value = "";

  read(buf: Buffer, start: number, stop: number): string {
    const len = stop - start;
    if (this.start >= 0 && len === this.len && len <= 64) {
      let i = 0;
      while (i < len && buf[start + i] === buf[this.start + i]) i++;
      if (i === len) return this.value;
    }
    this.start = start;
    this.len = len;
    this.value = buf.toString("utf8", start, stop);
    return this.value;
  }
}

function readRequest(r: Reader, end: number, depth: number, topics: Names, routes: Names): PushStreamRequest {
  if (depth >= MAX_DEPTH) throw new Error("protobuf decode recursion limit exceeded");
  const buf = r.buf;
  // Every field in one literal, in the generated order: one hidden class for every request.
  const m: PushStreamRequest = { seq: 0n, topic: "", routeKey: "", body: EMPTY, delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: NO_PUSHES, priority: undefined };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 8:
        m.seq = r.varint64();
        break;
      case 18: {
        const stop = r.length(end);
        m.topic = topics.read(buf, r.pos, stop);
        r.pos = stop;
        break;
      }
      case 26: {
        const stop = r.length(end);
        m.routeKey = routes.read(buf, r.pos, stop);
        r.pos = stop;
        break;
      }
      case 34: {
        const stop = r.length(end);
        m.body = buf.subarray(r.pos, stop);
        r.pos = stop;
        break;
      }
      case 40:
        m.delayMs = r.varint64();
        break;
      case 48:
        m.ttlMs = r.varint64();
        break;
      case 58: {
        const stop = r.length(end);
        m.idempotencyKey = buf.toString("utf8", r.pos, stop);
        r.pos = stop;
        break;
      }
      case 66: {
        const stop = r.length(end);
        if (m.pushes === NO_PUSHES) m.pushes = [];
        m.pushes.push(readRequest(r, stop, depth + 1, topics, routes));
        break;
      }
      case 72:
        // uint32: the low 32 bits of the varint, as the generated decoder keeps them.
        m.priority = Number(r.varint64() & 0xffffffffn);
        break;
      default:
        // An end-group tag or tag 0 stops the generated decoder mid-message; here it refuses the request.
        if ((tag & 7) === 4 || tag === 0) throw new Error("illegal tag");
        r.skip(tag & 7, end);
    }
  }
  if (r.pos !== end) throw new RangeError("premature EOF");
  return m;
}

/** A PushStreamRequest as the generated decoder reads it; throws on what it would refuse. */
export function decodePushStreamRequest(buf: Buffer): PushStreamRequest {
  return readRequest(new Reader(buf), buf.length, 0, new Names(), new Names());
}

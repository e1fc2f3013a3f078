// The SDK's two bulk paths on the wire, encoded and decoded by hand: a
// PushBatchRequest written straight into one Buffer of its exact size, and a
// ConsumeResponse read straight into the Delivery objects handed to handlers,
// plus the acks going back. The generated code builds an object per message,
// a BinaryWriter with a fork per message and a copy of every body
// (PERFORMANCE.md, point 3); on a batch of 1000 that cost more of the
// producer's CPU than the node spends storing it. Field numbers are
// gmq.v1's (proto/gmq/v1/broker.proto); test/unit/client-wire.test.ts checks
// both directions against the generated code.
import type { Message } from "../gen/gmq/v1/broker.js";
import { Reader, RepeatedString, bytesFieldSize, copyBytes, varintSize, writeVarint } from "../wire/protobuf.js";
import { Code, GmqError } from "./errors.js";

/** A message of a pushBatch as the caller gives it: its body as bytes or text, its times in milliseconds. */
export interface BatchInput {
  body: Uint8Array | string;
  routeKey?: string;
  /** Milliseconds (rounded; negative is 0). */
  delayMs?: number;
  ttlMs?: number;
  idempotencyKey?: string;
  /** 0..9; undefined leaves the field out (the topic's default_priority). */
  priority?: number;
}

/** Whole milliseconds >= 0 for a uint64 field, or INVALID_ARGUMENT. */
export function msNumber(ms: number | undefined): number {
  const n = Math.max(0, Math.round(ms ?? 0));
  if (!Number.isSafeInteger(n)) throw new GmqError(Code.INVALID_ARGUMENT, `${ms} is not a number of milliseconds`);
  return n;
}

/** A delivered message, with the node it came from. */
export interface Delivery extends Message {
  /** Key of the node that delivered it (acks go back there). */
  node: string;
}

const stringFieldSize = bytesFieldSize;
const uintFieldSize = (n: number) => (n === 0 ? 0 : 1 + varintSize(n));

/**
 * Short strings as their UTF-8 bytes, so a route key repeated over a batch
 * is measured and encoded once, and copied as bytes after that (a native
 * call per string per message was a third of the encoder's time).
 */
const utf8Cache = new Map<string, Buffer>();
function utf8Of(s: string): Buffer {
  let b = utf8Cache.get(s);
  if (b === undefined) {
    b = Buffer.from(s, "utf8");
    if (s.length <= 256) {
      if (utf8Cache.size >= 1024) utf8Cache.clear();
      utf8Cache.set(s, b);
    }
  }
  return b;
}

/**
 * Per-message sizes of the batch being encoded, kept between calls: the
 * encoder runs to its end synchronously, and arrays per call were a third of
 * a batch's garbage.
 */
let sizes = new Int32Array(1024);
let bodyBytes = new Int32Array(1024);
let keyBytes = new Int32Array(1024);
let delays = new Float64Array(1024);
let ttls = new Float64Array(1024);
const routes: Buffer[] = [];
const NO_BYTES = Buffer.alloc(0);

/**
 * PushBatchRequest { topic = 1; repeated BatchMessage messages = 2 }, in one
 * Buffer of its exact size taken from `alloc`, straight from the caller's
 * messages (no object per message). Throws INVALID_ARGUMENT for a time that
 * is not a number of milliseconds.
 */
export function encodePushBatch(topic: string, messages: readonly BatchInput[], alloc: (bytes: number) => Buffer = Buffer.allocUnsafe): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const n = messages.length;
  if (sizes.length < n) {
    sizes = new Int32Array(n);
    bodyBytes = new Int32Array(n);
    keyBytes = new Int32Array(n);
    delays = new Float64Array(n);
    ttls = new Float64Array(n);
  }
  // Sizes are computed once and kept: each message's length prefix needs its size before its bytes.
  let total = stringFieldSize(topicBytes);
  try {
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      const route = utf8Of(m.routeKey ?? "");
      const key = m.idempotencyKey;
      const k = key === undefined || key === "" ? 0 : Buffer.byteLength(key);
      const body = m.body;
      const b = typeof body === "string" ? Buffer.byteLength(body) : body.length;
      routes[i] = route;
      bodyBytes[i] = b;
      keyBytes[i] = k;
      // priority is `optional`: present (even 0) whenever it is set.
      const delayMs = (delays[i] = msNumber(m.delayMs));
      const ttlMs = (ttls[i] = msNumber(m.ttlMs));
      const size = stringFieldSize(route.length) + stringFieldSize(b) + uintFieldSize(delayMs) + uintFieldSize(ttlMs) + stringFieldSize(k) + (m.priority === undefined ? 0 : 1 + varintSize(m.priority));
      sizes[i] = size;
      total += 1 + varintSize(size) + size;
    }
    const buf = alloc(total);
    let pos = 0;
    if (topicBytes > 0) {
      buf[pos++] = 10;
      pos = writeVarint(buf, pos, topicBytes);
      pos += buf.write(topic, pos, topicBytes, "utf8");
    }
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      buf[pos++] = 18;
      pos = writeVarint(buf, pos, sizes[i]!);
      const route = routes[i]!;
      if (route.length > 0) {
        buf[pos++] = 10;
        pos = writeVarint(buf, pos, route.length);
        pos = copyBytes(route, buf, pos);
      }
      const b = bodyBytes[i]!;
      if (b > 0) {
        buf[pos++] = 18;
        pos = writeVarint(buf, pos, b);
        const body = m.body;
        pos = typeof body === "string" ? pos + buf.write(body, pos, b, "utf8") : copyBytes(body, buf, pos);
      }
      const delayMs = delays[i]!;
      if (delayMs !== 0) {
        buf[pos++] = 24;
        pos = writeVarint(buf, pos, delayMs);
      }
      const ttlMs = ttls[i]!;
      if (ttlMs !== 0) {
        buf[pos++] = 32;
        pos = writeVarint(buf, pos, ttlMs);
      }
      const k = keyBytes[i]!;
      if (k > 0) {
        buf[pos++] = 42;
        pos = writeVarint(buf, pos, k);
        pos += buf.write(m.idempotencyKey!, pos, k, "utf8");
      }
      if (m.priority !== undefined) {
        buf[pos++] = 48;
        pos = writeVarint(buf, pos, m.priority);
      }
    }
    return buf;
  } finally {
    // Dropped so a large batch's route keys are not pinned; the array keeps its length (regrowing it per batch was its own garbage).
    routes.fill(NO_BYTES, 0, n);
  }
}

/** PushBatchResponse { repeated uint64 ids = 1; uint32 duplicates = 2 }, ids packed or not. */
export function decodePushBatchResponse(buf: Buffer): { ids: bigint[]; duplicates: number } {
  const r = new Reader(buf);
  let ids: bigint[] = [];
  let duplicates = 0;
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 10) {
      const end = r.length(buf.length);
      // Sized first (a varint ends at each byte under 128): growing the array by push was half the decode's garbage.
      let count = 0;
      for (let i = r.pos; i < end; i++) if (buf[i]! < 128) count++;
      let at = ids.length;
      if (at === 0) ids = new Array<bigint>(count);
      while (r.pos < end) ids[at++] = r.varint64();
    } else if (tag === 8) ids.push(r.varint64());
    else if (tag === 16) duplicates = Number(r.varint64() & 0xffffffffn);
    else r.skip(tag & 7);
  }
  return { ids, duplicates };
}

/**
 * Reads ConsumeResponse { repeated Message messages = 1 } into Deliveries of
 * `node`. Bodies are views into the received buffer, not copies: a handler
 * that keeps a body keeps its response's bytes alive with it.
 */
export function decodeConsumeResponse(buf: Buffer, node: string): Delivery[] {
  const out: Delivery[] = [];
  const r = new DeliveryReader(buf);
  while (r.pos < buf.length) {
    const tag = r.varint();
    if (tag === 10) {
      const len = r.varint();
      out.push(r.message(r.pos + len, node));
    } else r.skip(tag & 7);
  }
  return out;
}

/** Reads ConsumeResponses: the deliveries of one stream repeat their topic, bind key and route key. */
class DeliveryReader extends Reader {
  private readonly topic = new RepeatedString();
  private readonly bindKey = new RepeatedString();
  private readonly routeKey = new RepeatedString();

  message(end: number, node: string): Delivery {
    if (end > this.buf.length) throw new RangeError("message runs past the response");
    // Every field in one literal, in one order: one hidden class for every delivery.
    const d: Delivery = {
      id: 0n,
      topic: "",
      bindKey: "",
      routeKey: "",
      body: EMPTY,
      retry: 0,
      createdAtMs: 0n,
      deadlineMs: 0n,
      expiresAtMs: 0n,
      priority: 0,
      node,
    };
    while (this.pos < end) {
      const tag = this.varint();
      switch (tag) {
        case 8:
          d.id = this.varint64(false);
          break;
        case 18:
          d.topic = this.string(end, this.topic);
          break;
        case 26:
          d.bindKey = this.string(end, this.bindKey);
          break;
        case 34:
          d.routeKey = this.string(end, this.routeKey);
          break;
        case 42:
          d.body = this.bytes(end);
          break;
        case 48:
          d.retry = this.varint() % 2 ** 32;
          break;
        case 56:
          d.createdAtMs = this.varint64(true);
          break;
        case 64:
          d.deadlineMs = this.varint64(true);
          break;
        case 72:
          d.expiresAtMs = this.varint64(true);
          break;
        case 80:
          d.priority = this.varint() % 2 ** 32;
          break;
        default:
          this.skip(tag & 7);
      }
    }
    if (this.pos !== end) throw new RangeError("field runs past its message");
    return d;
  }
}

const EMPTY = Buffer.alloc(0);

/** ConsumeRequest { update = 2: ConsumeUpdate { ack_ids = 2; nack_ids = 3 } } with packed ids; credit and touches unset. */
export function encodeSettlements(acks: readonly bigint[], nacks: readonly bigint[]): Buffer {
  const a = splitAll(acks);
  const n = splitAll(nacks);
  const ackBytes = idsSize(a);
  const nackBytes = idsSize(n);
  const inner = (ackBytes > 0 ? 1 + varintSize(ackBytes) + ackBytes : 0) + (nackBytes > 0 ? 1 + varintSize(nackBytes) + nackBytes : 0);
  const buf = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  let pos = 0;
  buf[pos++] = 18;
  pos = writeVarint(buf, pos, inner);
  if (ackBytes > 0) {
    buf[pos++] = 18;
    pos = writeVarint(buf, pos, ackBytes);
    pos = writeIds(buf, pos, a);
  }
  if (nackBytes > 0) {
    buf[pos++] = 26;
    pos = writeVarint(buf, pos, nackBytes);
    pos = writeIds(buf, pos, n);
  }
  return buf;
}

/**
 * Ids as exact numbers, two per id: the low 32 bits and the rest. Split
 * once and used twice (sizing, writing): BigInt arithmetic allocates.
 */
function splitAll(ids: readonly bigint[]): Float64Array {
  const out = new Float64Array(2 * ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const u = id >= 0n ? id : BigInt.asUintN(64, id);
    // Below 2^53 one conversion gives both halves.
    if (u <= 9_007_199_254_740_991n) {
      const v = Number(u);
      out[2 * i] = v % 4_294_967_296;
      out[2 * i + 1] = Math.floor(v / 4_294_967_296);
    } else {
      out[2 * i] = Number(u & 0xffffffffn);
      out[2 * i + 1] = Number(u >> 32n);
    }
  }
  return out;
}

function idsSize(split: Float64Array): number {
  let size = 0;
  for (let i = 0; i < split.length; i += 2) {
    const lo = split[i]!;
    const hi = split[i + 1]!;
    const bits = hi > 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(lo);
    size += bits === 0 ? 1 : Math.ceil(bits / 7);
  }
  return size;
}

function writeIds(buf: Buffer, pos: number, split: Float64Array): number {
  for (let i = 0; i < split.length; i += 2) {
    let lo = split[i]! >>> 0;
    let hi = split[i + 1]! >>> 0;
    // 7 bits at a time from the 64-bit value held as hi:lo, exactly.
    while (hi > 0 || lo >= 128) {
      buf[pos++] = (lo & 127) | 128;
      lo = (lo >>> 7) | ((hi & 127) << 25);
      lo >>>= 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
  }
  return pos;
}

/** One push on a PushStream, its options resolved to wire values. */
export interface StreamPush {
  seq: number;
  topic: string;
  routeKey: string;
  body: Buffer;
  /** Whole milliseconds, >= 0. */
  delayMs: number;
  ttlMs: number;
  idempotencyKey: string;
  /** 0..9; undefined leaves the field out. */
  priority: number | undefined;
}

/** A PushStreamRequest's fields for one push: seq 1, topic 2, route_key 3, body 4, delay_ms 5, ttl_ms 6, idempotency_key 7, priority 9. */
function pushFieldsSize(p: StreamPush, topicBytes: number, routeBytes: number, keyBytes: number): number {
  return (
    uintFieldSize(p.seq) +
    stringFieldSize(topicBytes) +
    stringFieldSize(routeBytes) +
    stringFieldSize(p.body.length) +
    uintFieldSize(p.delayMs) +
    uintFieldSize(p.ttlMs) +
    stringFieldSize(keyBytes) +
    (p.priority === undefined ? 0 : 1 + varintSize(p.priority))
  );
}

function writePushFields(buf: Buffer, pos: number, p: StreamPush, topicBytes: number, routeBytes: number, keyBytes: number): number {
  if (p.seq !== 0) {
    buf[pos++] = 8;
    pos = writeVarint(buf, pos, p.seq);
  }
  if (topicBytes > 0) {
    buf[pos++] = 18;
    pos = writeVarint(buf, pos, topicBytes);
    pos = copyBytes(utf8Of(p.topic), buf, pos);
  }
  if (routeBytes > 0) {
    buf[pos++] = 26;
    pos = writeVarint(buf, pos, routeBytes);
    pos = copyBytes(utf8Of(p.routeKey), buf, pos);
  }
  const b = p.body.length;
  if (b > 0) {
    buf[pos++] = 34;
    pos = writeVarint(buf, pos, b);
    pos = copyBytes(p.body, buf, pos);
  }
  if (p.delayMs !== 0) {
    buf[pos++] = 40;
    pos = writeVarint(buf, pos, p.delayMs);
  }
  if (p.ttlMs !== 0) {
    buf[pos++] = 48;
    pos = writeVarint(buf, pos, p.ttlMs);
  }
  if (keyBytes > 0) {
    buf[pos++] = 58;
    pos = writeVarint(buf, pos, keyBytes);
    pos += buf.write(p.idempotencyKey, pos, keyBytes, "utf8");
  }
  if (p.priority !== undefined) {
    buf[pos++] = 72;
    pos = writeVarint(buf, pos, p.priority);
  }
  return pos;
}

const utf8Length = (s: string): number => (s === "" ? 0 : utf8Of(s).length);

/**
 * A PushStreamRequest in one Buffer of its exact size: one push as the
 * request's own fields, several as its `pushes` (field 8), in order.
 */
export function encodePushStreamRequest(pushes: readonly StreamPush[]): Buffer {
  if (pushes.length === 1) {
    const p = pushes[0]!;
    const t = utf8Length(p.topic);
    const r = utf8Length(p.routeKey);
    const k = p.idempotencyKey === "" ? 0 : Buffer.byteLength(p.idempotencyKey);
    const buf = Buffer.allocUnsafe(pushFieldsSize(p, t, r, k));
    writePushFields(buf, 0, p, t, r, k);
    return buf;
  }
  const n = pushes.length;
  // Four numbers per push (topic, route key and key lengths, size), kept for the writing pass.
  const lengths = new Array<number>(4 * n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const p = pushes[i]!;
    const t = utf8Length(p.topic);
    const r = utf8Length(p.routeKey);
    const k = p.idempotencyKey === "" ? 0 : Buffer.byteLength(p.idempotencyKey);
    const size = pushFieldsSize(p, t, r, k);
    lengths[4 * i] = t;
    lengths[4 * i + 1] = r;
    lengths[4 * i + 2] = k;
    lengths[4 * i + 3] = size;
    total += 1 + varintSize(size) + size;
  }
  const buf = Buffer.allocUnsafe(total);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    buf[pos++] = 66;
    pos = writeVarint(buf, pos, lengths[4 * i + 3]!);
    pos = writePushFields(buf, pos, pushes[i]!, lengths[4 * i]!, lengths[4 * i + 1]!, lengths[4 * i + 2]!);
  }
  return buf;
}

/** One push's answer as read off the wire. */
export type PushAnswer = (seq: number, id: bigint, duplicate: boolean, errorCode: number, errorMessage: string, errorReason: string) => void;

/**
 * Reads a PushStreamResponse, calling `answer` for each push it answers: the
 * entries of `results` in order, or the response itself when it has none.
 * Returns its takes_pushes. No object is built per answer.
 */
export function decodePushStreamResponse(buf: Buffer, answer: PushAnswer): boolean {
  const r = new Reader(buf);
  let takesPushes = false;
  let results = 0;
  const top = readAnswer(r, buf.length, (end) => {
    results++;
    const a = readAnswer(r, end, undefined);
    answer(a.seq, a.id, a.duplicate, a.errorCode, a.errorMessage, a.errorReason);
  });
  takesPushes = top.takesPushes;
  if (results === 0) answer(top.seq, top.id, top.duplicate, top.errorCode, top.errorMessage, top.errorReason);
  return takesPushes;
}

/** The fields of one answer, reused: read and passed on before the next is read. */
const scratch = { seq: 0, id: 0n, duplicate: false, errorCode: 0, errorMessage: "", errorReason: "", takesPushes: false };

function readAnswer(r: Reader, end: number, onResult: ((end: number) => void) | undefined): typeof scratch {
  let seq = 0;
  let id = 0n;
  let duplicate = false;
  let errorCode = 0;
  let errorMessage = "";
  let errorReason = "";
  let takesPushes = false;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 8:
        seq = r.varint();
        break;
      case 16:
        id = r.varint64(false);
        break;
      case 24:
        // int32: a negative value is sent as a 64-bit varint.
        errorCode = Number(BigInt.asIntN(32, r.varint64(false)));
        break;
      case 34:
        errorMessage = r.string(end);
        break;
      case 40:
        duplicate = r.varint() !== 0;
        break;
      case 50:
        errorReason = r.string(end);
        break;
      case 58: {
        const len = r.varint();
        const resultEnd = r.pos + len;
        if (resultEnd > end) throw new RangeError("result runs past its response");
        if (onResult === undefined) r.pos = resultEnd;
        else onResult(resultEnd);
        if (r.pos !== resultEnd) throw new RangeError("field runs past its result");
        break;
      }
      case 64:
        takesPushes = r.varint() !== 0;
        break;
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw new RangeError("field runs past its message");
  scratch.seq = seq;
  scratch.id = id;
  scratch.duplicate = duplicate;
  scratch.errorCode = errorCode;
  scratch.errorMessage = errorMessage;
  scratch.errorReason = errorReason;
  scratch.takesPushes = takesPushes;
  return scratch;
}

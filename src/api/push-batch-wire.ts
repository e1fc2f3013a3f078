// PushBatch's messages on the node, decoded and encoded by hand. The
// generated decoder made every message's body twice: an empty Buffer first
// (Buffer.alloc(0), ~230 ns), then a copy of the bytes read (Buffer.from),
// about a sixth of the node's CPU per message of a batch. Here a body is a
// view of the request, which lives only until the batch is appended (the
// store copies each body into its log). Field numbers are gmq.v1's
// (proto/gmq/v1/broker.proto); test/unit/push-batch-wire.test.ts checks both
// directions against the generated code.
import type { BatchMessage, PushBatchRequest, PushBatchResponse } from "../gen/gmq/v1/broker.js";
import { Reader, RepeatedString, bigVarintSize, varintSize, writeBigVarint, writeVarint } from "../wire/protobuf.js";

const EMPTY = Buffer.alloc(0);

function readMessage(r: Reader, end: number, routes: RepeatedString): BatchMessage {
  // Every field in one literal, in the generated order: one hidden class for every message.
  const m: BatchMessage = { routeKey: "", body: EMPTY, delayMs: 0n, ttlMs: 0n, idempotencyKey: "", priority: undefined };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10:
        m.routeKey = r.string(end, routes);
        break;
      case 18:
        m.body = r.bytes(end);
        break;
      case 24:
        m.delayMs = r.varint64();
        break;
      case 32:
        m.ttlMs = r.varint64();
        break;
      case 42:
        m.idempotencyKey = r.string(end);
        break;
      case 48:
        m.priority = r.uint32();
        break;
      default:
        r.skipUnknown(tag, end);
    }
  }
  if (r.pos !== end) throw new RangeError("premature EOF");
  return m;
}

/** A PushBatchRequest as the generated decoder reads it; throws on what it would refuse. */
export function decodePushBatchRequest(buf: Buffer): PushBatchRequest {
  const r = new Reader(buf);
  const end = buf.length;
  const routes = new RepeatedString();
  const req: PushBatchRequest = { topic: "", messages: [] };
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10:
        req.topic = r.string(end);
        break;
      case 18: {
        const stop = r.length(end);
        req.messages.push(readMessage(r, stop, routes));
        break;
      }
      default:
        r.skipUnknown(tag, end);
    }
  }
  return req;
}
/** A PushBatchResponse in one Buffer of its exact size, the generated encoder's bytes (ids packed). */
export function encodePushBatchResponse(res: PushBatchResponse): Buffer {
  const { ids, duplicates } = res;
  let packed = 0;
  for (let i = 0; i < ids.length; i++) packed += bigVarintSize(ids[i]!);
  const size = (ids.length > 0 ? 1 + varintSize(packed) + packed : 0) + (duplicates !== 0 ? 1 + varintSize(duplicates) : 0);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (ids.length > 0) {
    buf[pos++] = 10;
    pos = writeVarint(buf, pos, packed);
    for (let i = 0; i < ids.length; i++) pos = writeBigVarint(buf, pos, ids[i]!);
  }
  if (duplicates !== 0) {
    buf[pos++] = 16;
    pos = writeVarint(buf, pos, duplicates);
  }
  return buf;
}

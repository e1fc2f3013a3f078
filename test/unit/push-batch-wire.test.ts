// The node's hand codec of PushBatch (src/api/push-batch-wire.ts) against
// the generated code: the same requests in, the same bytes out, and a
// refusal (never a crash or a read past the end) for what does not decode.
import { expect } from "chai";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { decodePushBatchRequest, encodePushBatchResponse } from "../../src/api/push-batch-wire.js";
import { BatchMessage, PushBatchRequest, PushBatchResponse } from "../../src/gen/gmq/v1/broker.js";

const message = (over: Partial<BatchMessage>): BatchMessage => ({ routeKey: "", body: Buffer.alloc(0), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", priority: undefined, ...over });
const plain = (r: PushBatchRequest): unknown => ({ ...r, messages: r.messages.map((m) => ({ ...m, body: Buffer.from(m.body).toString("hex") })) });

describe("node PushBatch wire codec", () => {
  it("decodes requests as the generated decoder does", () => {
    const messages = [
      message({ routeKey: "q", body: Buffer.from("hello") }),
      message({}),
      message({ routeKey: "päid.€", body: Buffer.alloc(300, 7), delayMs: 2n ** 63n, ttlMs: 2n ** 40n, idempotencyKey: "ключ-🔑", priority: 0 }),
      message({ routeKey: "päid.€", body: Buffer.from("again"), delayMs: 1000n, priority: 9 }),
      message({ routeKey: "q", idempotencyKey: "k".repeat(256) }),
    ];
    const requests = [
      PushBatchRequest.fromPartial({}),
      PushBatchRequest.fromPartial({ topic: "tópico" }),
      PushBatchRequest.fromPartial({ topic: "orders", messages }),
      PushBatchRequest.fromPartial({ topic: "orders", messages: Array.from({ length: 1000 }, (_, i) => message({ routeKey: `k${i % 3}`, body: Buffer.alloc(i % 200, i) })) }),
    ];
    for (const r of requests) {
      const bytes = Buffer.from(PushBatchRequest.encode(r).finish());
      expect(plain(decodePushBatchRequest(bytes))).to.deep.equal(plain(PushBatchRequest.decode(bytes)));
    }
  });

  it("reads each body as a view of the request, not a copy", () => {
    const bytes = Buffer.from(PushBatchRequest.encode(PushBatchRequest.fromPartial({ topic: "t", messages: [message({ routeKey: "q", body: Buffer.from("abc") })] })).finish());
    const body = decodePushBatchRequest(bytes).messages[0]!.body;
    expect(body.buffer).to.equal(bytes.buffer);
    expect(Buffer.from(body).toString()).to.equal("abc");
  });

  it("skips fields it does not know and keeps the low 32 bits of an overlong priority, as the generated decoder does", () => {
    const inner = new BinaryWriter();
    inner.uint32(10).string("q");
    inner.uint32(98).string("a field from a newer client"); // 12, length-delimited
    inner.uint32(105).fixed64(1n); // 13, fixed64
    inner.uint32(117).fixed32(1); // 14, fixed32
    inner.uint32(120).uint64(2n ** 63n); // 15, varint
    inner.uint32(48).uint64(2n ** 32n + 4n);
    const w = new BinaryWriter();
    w.uint32(10).string("t");
    w.uint32(24).uint64(5n); // 3, varint, unknown at the top level
    w.uint32(18).bytes(inner.finish());
    const bytes = Buffer.from(w.finish());
    expect(plain(decodePushBatchRequest(bytes))).to.deep.equal(plain(PushBatchRequest.decode(bytes)));
    expect(decodePushBatchRequest(bytes).messages[0]!.priority).to.equal(4);
  });

  it("refuses a request cut inside a field rather than reading past it", () => {
    const bytes = Buffer.from(PushBatchRequest.encode(PushBatchRequest.fromPartial({ topic: "t", messages: [message({ routeKey: "q", body: Buffer.from("abc"), delayMs: 300n })] })).finish());
    // [10, 1, "t"] is the topic; every other cut falls inside it or inside the one message.
    for (let cut = 1; cut < bytes.length; cut++) {
      if (cut === 3) expect(plain(decodePushBatchRequest(bytes.subarray(0, cut)))).to.deep.equal({ topic: "t", messages: [] });
      else expect(() => decodePushBatchRequest(bytes.subarray(0, cut)), `cut at ${cut}`).to.throw();
    }
  });

  it("encodes answers with the generated encoder's bytes", () => {
    const answers: PushBatchResponse[] = [
      { ids: [], duplicates: 0 },
      { ids: [1n], duplicates: 0 },
      { ids: [0n, 127n, 128n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, 1_234_567_890_123_456_789n], duplicates: 3 },
      { ids: Array.from({ length: 1000 }, (_, i) => 7_000_000_000_000_000_000n + BigInt(i)), duplicates: 1000 },
      { ids: [], duplicates: 300 },
    ];
    for (const a of answers) expect(encodePushBatchResponse(a).equals(Buffer.from(PushBatchResponse.encode(a).finish())), `${a.ids.length} ids, ${a.duplicates}`).to.equal(true);
  });
});

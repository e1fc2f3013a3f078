// The node's hand codec of PushStream (src/api/push-stream-wire.ts) against
// the generated code: the same bytes out, the same requests in, and a
// refusal (never a crash or a read past the end) for what does not decode.
import { expect } from "chai";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { decodePushStreamRequest, encodePushStreamResponse } from "../../src/api/push-stream-wire.js";
import { PushStreamRequest, PushStreamResponse } from "../../src/gen/gmq/v1/broker.js";

const answer = (over: Partial<PushStreamResponse>): PushStreamResponse => ({ seq: 0n, id: 0n, errorCode: 0, errorMessage: "", errorReason: "", duplicate: false, results: [], takesPushes: false, ...over });
const request = (over: Partial<PushStreamRequest>): PushStreamRequest => ({ seq: 0n, topic: "", routeKey: "", body: Buffer.alloc(0), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [], priority: undefined, ...over });
const plain = (r: PushStreamRequest): unknown => ({ ...r, body: Buffer.from(r.body).toString("hex"), pushes: r.pushes.map(plain) });

describe("node PushStream wire codec", () => {
  it("encodes every kind of answer with the generated encoder's bytes", () => {
    const answers = [
      answer({}),
      answer({ seq: 1n, id: 2n ** 64n - 1n, takesPushes: true }),
      answer({ seq: 2n ** 53n + 1n, id: 1_234_567_890_123_456_789n, duplicate: true }),
      answer({ seq: 9n, errorCode: 3, errorMessage: "no queue bound to route key “x” 🔑", errorReason: "NO_ROUTE" }),
      answer({ seq: 10n, errorCode: -1 }),
      answer({ takesPushes: true, results: [answer({ seq: 1n, id: 5n }), answer({ seq: 2n, errorCode: 8, errorMessage: "full", errorReason: "DISK_FULL" }), answer({ seq: 300n, id: 2n ** 63n, duplicate: true })] }),
    ];
    for (const a of answers) expect(encodePushStreamResponse(a).equals(Buffer.from(PushStreamResponse.encode(a).finish())), JSON.stringify(a, (_k, v) => (typeof v === "bigint" ? `${v}` : v))).to.equal(true);
  });

  it("decodes single and coalesced requests as the generated decoder does", () => {
    const pushes = [
      request({ seq: 1n, topic: "orders", routeKey: "q", body: Buffer.from("hello") }),
      request({ seq: 2n ** 64n - 1n, topic: "tópico", routeKey: "", delayMs: 1000n, ttlMs: 2n ** 40n, idempotencyKey: "ключ-🔑", priority: 0 }),
      request({ seq: 128n, topic: "orders", routeKey: "päid.€", body: Buffer.alloc(300, 7), delayMs: 2n ** 63n, idempotencyKey: "k".repeat(256), priority: 9 }),
      request({ seq: 129n, topic: "orders", routeKey: "päid.€", body: Buffer.from("again") }),
    ];
    const all = [...pushes, request({ pushes }), request({ seq: 5n, pushes: [request({ pushes: [pushes[0]!] })] })];
    for (const r of all) {
      const bytes = Buffer.from(PushStreamRequest.encode(r).finish());
      expect(plain(decodePushStreamRequest(bytes))).to.deep.equal(plain(PushStreamRequest.decode(bytes)));
    }
  });

  it("skips fields it does not know and keeps the low 32 bits of an overlong priority, as the generated decoder does", () => {
    const w = new BinaryWriter();
    w.uint32(8).uint64(7n);
    w.uint32(98).string("a field from a newer client"); // 12, length-delimited
    w.uint32(105).fixed64(1n); // 13, fixed64
    w.uint32(117).fixed32(1); // 14, fixed32
    w.uint32(120).uint64(2n ** 63n); // 15, varint
    w.uint32(72).uint64(2n ** 32n + 4n);
    w.uint32(18).string("t");
    const bytes = Buffer.from(w.finish());
    expect(plain(decodePushStreamRequest(bytes))).to.deep.equal(plain(PushStreamRequest.decode(bytes)));
    expect(decodePushStreamRequest(bytes).priority).to.equal(4);
  });

  it("refuses a truncated request rather than reading past it", () => {
    const bytes = Buffer.from(PushStreamRequest.encode(request({ pushes: [request({ seq: 300n, topic: "t", body: Buffer.from("abc") })] })).finish());
    // Every cut falls inside the one nested push.
    for (let cut = 1; cut < bytes.length; cut++) expect(() => decodePushStreamRequest(bytes.subarray(0, cut)), `cut at ${cut}`).to.throw();
  });
});

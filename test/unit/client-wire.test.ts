// The SDK's hand-written encoder and decoder (src/client/wire.ts) against the
// generated code: what one writes the other reads back, field for field,
// including what the generated code must skip or widen.
import { expect } from "chai";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { decodeConsumeResponse, decodePushBatchResponse, decodePushStreamResponse, encodePushBatch, encodePushStreamRequest, encodeSettlements, type StreamPush } from "../../src/client/wire.js";
import { Code, GmqError } from "../../src/client/errors.js";
import { ConsumeRequest, ConsumeResponse, Message, PushBatchRequest, PushBatchResponse, PushStreamRequest, PushStreamResponse } from "../../src/gen/gmq/v1/broker.js";

describe("client wire encoding", () => {
  it("encodes a PushBatchRequest the generated decoder reads back exactly", () => {
    const messages = [
      { routeKey: "q", body: Buffer.from("hello"), delayMs: 0, ttlMs: 0, idempotencyKey: "" },
      { routeKey: "", body: Buffer.alloc(0), delayMs: 1000, ttlMs: 2 ** 40, idempotencyKey: "ключ-🔑", priority: 0 },
      { routeKey: "päid.€", body: Buffer.alloc(300, 7), delayMs: 127, ttlMs: 128, idempotencyKey: "k".repeat(256), priority: 9 },
      { routeKey: "r", body: Buffer.alloc(70_000, 1), delayMs: Number.MAX_SAFE_INTEGER, ttlMs: 16_383, idempotencyKey: "x" },
    ];
    for (const topic of ["orders", "", "tópico"]) {
      const bytes = encodePushBatch(topic, messages);
      const decoded = PushBatchRequest.decode(bytes);
      expect(decoded.topic).to.equal(topic);
      expect(decoded.messages.map((m) => ({ ...m, body: Buffer.from(m.body).toString("hex") }))).to.deep.equal(
        messages.map((m) => ({ ...m, body: m.body.toString("hex"), delayMs: BigInt(m.delayMs), ttlMs: BigInt(m.ttlMs), priority: m.priority })),
      );
      // The same bytes as the generated encoder: nothing extra, nothing missing.
      const generated = Buffer.from(PushBatchRequest.encode({ topic, messages: decoded.messages }).finish());
      expect(bytes.equals(generated)).to.equal(true);
    }
    expect(PushBatchRequest.decode(encodePushBatch("t", [])).messages).to.deep.equal([]);
  });

  it("encodes text and Uint8Array bodies, unset options and rounded times as the generated encoder does the same messages", () => {
    const bytes = encodePushBatch("t", [
      { body: "héllo 🔑" },
      { body: new Uint8Array([1, 2, 3]), routeKey: "r", delayMs: 1.6, ttlMs: -5 },
      { body: "", idempotencyKey: "" },
    ]);
    const expected = PushBatchRequest.encode({
      topic: "t",
      messages: [
        { routeKey: "", body: Buffer.from("héllo 🔑"), delayMs: 0n, ttlMs: 0n, idempotencyKey: "" },
        { routeKey: "r", body: Buffer.from([1, 2, 3]), delayMs: 2n, ttlMs: 0n, idempotencyKey: "" },
        { routeKey: "", body: Buffer.alloc(0), delayMs: 0n, ttlMs: 0n, idempotencyKey: "" },
      ],
    }).finish();
    expect(bytes.equals(Buffer.from(expected))).to.equal(true);
  });

  it("refuses a time that is not a number of milliseconds with INVALID_ARGUMENT, before anything is allocated", () => {
    let allocated = 0;
    const encode = () => encodePushBatch("t", [{ body: "a" }, { body: "b", delayMs: Number.NaN }], (n) => (allocated++, Buffer.alloc(n)));
    expect(encode).to.throw(GmqError).with.property("code", Code.INVALID_ARGUMENT);
    expect(allocated).to.equal(0);
  });

  it("writes into the buffer it is given, exactly the request's length", () => {
    const backing = Buffer.alloc(64 << 10, 0xee);
    const bytes = encodePushBatch("t", [{ body: Buffer.alloc(100, 1), routeKey: "q" }], (n) => backing.subarray(0, n));
    expect(bytes.buffer).to.equal(backing.buffer);
    expect(PushBatchRequest.decode(bytes).messages[0]!.body).to.have.length(100);
  });

  it("decodes a PushBatchResponse's ids (packed or one by one, every width up to 2^64-1) and duplicates as the generated decoder does", () => {
    const ids = [0n, 1n, 127n, 128n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 60n + 12345n, 2n ** 63n, 2n ** 64n - 1n];
    const packed = Buffer.from(PushBatchResponse.encode({ ids, duplicates: 3 }).finish());
    expect(decodePushBatchResponse(packed)).to.deep.equal({ ids, duplicates: 3 });
    const w = new BinaryWriter();
    for (const id of ids) w.uint32(8).uint64(id);
    w.uint32(16).uint32(2);
    w.uint32(26).string("a field from a newer node");
    const unpacked = Buffer.from(w.finish());
    expect(decodePushBatchResponse(unpacked)).to.deep.equal(PushBatchResponse.decode(unpacked));
    expect(decodePushBatchResponse(Buffer.alloc(0))).to.deep.equal({ ids: [], duplicates: 0 });
    expect(() => decodePushBatchResponse(packed.subarray(0, packed.length - 3))).to.throw(RangeError);
  });

  it("decodes a ConsumeResponse into the same deliveries the generated decoder gives, with the node", () => {
    const messages: Message[] = [
      { id: 2n ** 64n - 1n, topic: "orders", bindKey: "paid", routeKey: "paid", body: Buffer.from("a"), retry: 3, createdAtMs: 1_795_554_897_160n, deadlineMs: 1_795_554_927_160n, expiresAtMs: 0n, priority: 0 },
      { id: 7n, topic: "orders", bindKey: "paid", routeKey: "paid.eu", body: Buffer.alloc(0), retry: 0, createdAtMs: 0n, deadlineMs: 0n, expiresAtMs: 2n ** 62n, priority: 0 },
      { id: 1_234_567_890_123_456_789n, topic: "orders", bindKey: "paid", routeKey: "", body: Buffer.alloc(200, 9), retry: 2 ** 32 - 1, createdAtMs: -5n, deadlineMs: -(2n ** 63n), expiresAtMs: 2n ** 63n - 1n, priority: 0 },
      { id: 8n, topic: "tópico", bindKey: "ключ", routeKey: "ключ", body: Buffer.from("z"), retry: 1, createdAtMs: 1n, deadlineMs: 2n, expiresAtMs: 3n, priority: 0 },
    ];
    const bytes = Buffer.from(ConsumeResponse.encode({ messages }).finish());
    const got = decodeConsumeResponse(bytes, "node-1");
    const plain = (ms: { body: Uint8Array }[]) => ms.map((m) => ({ ...m, body: Buffer.from(m.body).toString("hex") }));
    expect(plain(got)).to.deep.equal(plain(ConsumeResponse.decode(bytes).messages.map((m) => ({ ...m, node: "node-1" }))));
    expect(decodeConsumeResponse(Buffer.alloc(0), "n")).to.deep.equal([]);
  });

  it("skips fields it does not know, as the generated decoder does", () => {
    const w = new BinaryWriter();
    w.uint32(10).fork();
    w.uint32(8).uint64(5n);
    w.uint32(98).string("a field from a newer node"); // 12, length-delimited
    w.uint32(105).fixed64(1n); // 13, fixed64
    w.uint32(117).fixed32(1); // 14, fixed32
    w.uint32(120).uint64(2n ** 63n); // 15, varint
    w.uint32(42).bytes(Buffer.from("body"));
    w.join();
    w.uint32(18).string("unknown at the top");
    const [d, ...rest] = decodeConsumeResponse(Buffer.from(w.finish()), "n");
    expect(rest).to.deep.equal([]);
    expect({ id: d!.id, body: d!.body.toString() }).to.deep.equal({ id: 5n, body: "body" });
  });

  it("refuses a truncated response rather than reading past it", () => {
    const bytes = Buffer.from(ConsumeResponse.encode({ messages: [Message.fromPartial({ id: 300n, body: Buffer.from("abc") })] }).finish());
    for (let cut = 1; cut < bytes.length; cut++) expect(() => decodeConsumeResponse(bytes.subarray(0, cut), "n"), `cut at ${cut}`).to.throw(RangeError);
  });

  it("encodes acks and nacks as the ConsumeUpdate the generated decoder reads", () => {
    const acks = [0n, 1n, 127n, 128n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 64n - 1n, 1_234_567_890_123_456_789n];
    for (const [a, n] of [
      [acks, []],
      [[], [5n]],
      [acks, acks.slice(3)],
    ] as const) {
      const req = ConsumeRequest.decode(encodeSettlements(a, n));
      expect(req.kind).to.deep.equal({ $case: "update", value: { credit: 0, ackIds: [...a], nackIds: [...n], touchIds: [] } });
    }
  });

  const pushes: StreamPush[] = [
    { seq: 1, topic: "orders", routeKey: "q", body: Buffer.from("hello"), delayMs: 0, ttlMs: 0, idempotencyKey: "", priority: undefined },
    { seq: 2 ** 40, topic: "tópico", routeKey: "", body: Buffer.alloc(0), delayMs: 1000, ttlMs: 2 ** 40, idempotencyKey: "ключ-🔑", priority: 0 },
    { seq: 128, topic: "", routeKey: "päid.€", body: Buffer.alloc(300, 7), delayMs: Number.MAX_SAFE_INTEGER, ttlMs: 16_383, idempotencyKey: "k".repeat(256), priority: 9 },
  ];
  const asRequest = (p: StreamPush): PushStreamRequest => ({
    seq: BigInt(p.seq),
    topic: p.topic,
    routeKey: p.routeKey,
    body: p.body,
    delayMs: BigInt(p.delayMs),
    ttlMs: BigInt(p.ttlMs),
    idempotencyKey: p.idempotencyKey,
    pushes: [],
    priority: p.priority,
  });

  it("encodes a PushStreamRequest, one push or several, with the generated encoder's bytes", () => {
    for (const p of pushes) {
      const bytes = encodePushStreamRequest([p]);
      expect(bytes.equals(Buffer.from(PushStreamRequest.encode(asRequest(p)).finish())), `push ${p.seq}`).to.equal(true);
    }
    const batch = encodePushStreamRequest(pushes);
    const generated = PushStreamRequest.encode({ ...asRequest({ ...pushes[0]!, seq: 0, topic: "", routeKey: "", body: Buffer.alloc(0) }), pushes: pushes.map(asRequest) }).finish();
    expect(batch.equals(Buffer.from(generated))).to.equal(true);
    const decoded = PushStreamRequest.decode(batch);
    expect(decoded.seq).to.equal(0n);
    expect(decoded.pushes.map((p) => ({ ...p, body: Buffer.from(p.body).toString("hex") }))).to.deep.equal(pushes.map((p) => ({ ...asRequest(p), body: p.body.toString("hex") })));
  });

  it("reads each answer of a PushStreamResponse: the response itself, or each of its results in order", () => {
    const answers: unknown[][] = [];
    const collect = (...a: unknown[]) => void answers.push(a);
    const single: PushStreamResponse = { seq: 7n, id: 2n ** 64n - 1n, errorCode: 0, errorMessage: "", errorReason: "", duplicate: true, results: [], takesPushes: true };
    expect(decodePushStreamResponse(Buffer.from(PushStreamResponse.encode(single).finish()), collect)).to.equal(true);
    expect(answers).to.deep.equal([[7, 2n ** 64n - 1n, true, 0, "", ""]]);

    answers.length = 0;
    const results: PushStreamResponse[] = [
      { ...single, seq: 1n, id: 300n, duplicate: false, takesPushes: false },
      { seq: 2n, id: 0n, errorCode: 3, errorMessage: "no queue bound to route key “x”", errorReason: "NO_ROUTE", duplicate: false, results: [], takesPushes: false },
      { ...single, seq: 2n ** 40n, id: 1_234_567_890_123_456_789n, takesPushes: false },
    ];
    const batch = { seq: 0n, id: 0n, errorCode: 0, errorMessage: "", errorReason: "", duplicate: false, results, takesPushes: true };
    expect(decodePushStreamResponse(Buffer.from(PushStreamResponse.encode(batch).finish()), collect)).to.equal(true);
    expect(answers).to.deep.equal(results.map((r) => [Number(r.seq), r.id, r.duplicate, r.errorCode, r.errorMessage, r.errorReason]));

    // A node that does not take coalesced pushes leaves takes_pushes out.
    answers.length = 0;
    expect(decodePushStreamResponse(Buffer.from(PushStreamResponse.encode({ ...single, takesPushes: false }).finish()), collect)).to.equal(false);
    expect(answers).to.have.length(1);
  });

  it("skips PushStreamResponse fields it does not know and refuses a truncated one", () => {
    const w = new BinaryWriter();
    w.uint32(8).uint64(9n);
    w.uint32(98).string("a field from a newer node");
    w.uint32(16).uint64(11n);
    const answers: unknown[][] = [];
    decodePushStreamResponse(Buffer.from(w.finish()), (...a) => void answers.push(a));
    expect(answers).to.deep.equal([[9, 11n, false, 0, "", ""]]);
    const bytes = Buffer.from(PushStreamResponse.encode({ seq: 0n, id: 0n, errorCode: 0, errorMessage: "", errorReason: "", duplicate: false, results: [{ seq: 300n, id: 5n, errorCode: 0, errorMessage: "", errorReason: "", duplicate: false, results: [], takesPushes: false }], takesPushes: false }).finish());
    // Every cut falls inside the one result (a cut at a field boundary would be a shorter valid message).
    for (let cut = 1; cut < bytes.length; cut++) expect(() => decodePushStreamResponse(bytes.subarray(0, cut), () => undefined), `cut at ${cut}`).to.throw(RangeError);
  });
});

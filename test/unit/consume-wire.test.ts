// The node's hand encoder of ConsumeResponse (src/api/consume-wire.ts): the
// generated encoder's bytes for every field's edge values.
import { expect } from "chai";
import { encodeConsumeResponse, serializeConsumeResponse } from "../../src/api/consume-wire.js";
import { ConsumeResponse, type Message } from "../../src/gen/gmq/v1/broker.js";

describe("node ConsumeResponse encoder", () => {
  it("writes the generated encoder's bytes", () => {
    const messages: Message[] = [
      { id: 2n ** 64n - 1n, topic: "orders", bindKey: "paid", routeKey: "paid", body: Buffer.from("a"), retry: 3, createdAtMs: 1_795_554_897_160n, deadlineMs: 1_795_554_927_160n, expiresAtMs: 0n, priority: 0 },
      { id: 7n, topic: "orders", bindKey: "paid", routeKey: "paid.eu", body: Buffer.alloc(0), retry: 0, createdAtMs: 0n, deadlineMs: 0n, expiresAtMs: 2n ** 62n, priority: 9 },
      { id: 0n, topic: "orders", bindKey: "paid", routeKey: "", body: Buffer.alloc(200, 9), retry: 2 ** 32 - 1, createdAtMs: -5n, deadlineMs: -(2n ** 63n), expiresAtMs: 2n ** 63n - 1n, priority: 0 },
      { id: 8n, topic: "tópico", bindKey: "ключ", routeKey: "ключ-🔑", body: Buffer.from("z"), retry: 1, createdAtMs: 2n ** 53n + 1n, deadlineMs: 2n, expiresAtMs: 3n, priority: 1 },
    ];
    for (const batch of [messages, messages.slice(1, 2), []]) {
      expect(encodeConsumeResponse({ messages: batch }).equals(Buffer.from(ConsumeResponse.encode({ messages: batch }).finish()))).to.equal(true);
    }
  });

  it("writes the same bytes into its reused buffer for grpc-js, response after response, a large one included", () => {
    const small: Message = { id: 1n, topic: "t", bindKey: "q", routeKey: "q", body: Buffer.from("x"), retry: 0, createdAtMs: 1n, deadlineMs: 2n, expiresAtMs: 0n, priority: 0 };
    const large: Message = { ...small, id: 2n, body: Buffer.alloc(200_000, 5) };
    const huge: Message = { ...small, id: 3n, body: Buffer.alloc(5 << 20, 6) };
    for (const batch of [[small], [large, small], [small], [huge], [small, small]]) {
      // Compared at once: the next response is written over it, as grpc-js has copied it by then.
      expect(serializeConsumeResponse({ messages: batch }).equals(Buffer.from(ConsumeResponse.encode({ messages: batch }).finish()))).to.equal(true);
    }
  });
});

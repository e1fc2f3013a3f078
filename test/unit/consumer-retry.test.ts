import { expect } from "chai";
import { Code } from "../../src/client/index.js";
import { retryable } from "../../src/client/consumer.js";

describe("consumer stream retry classification", () => {
  it("does not retry refusals that stay true, by gRPC code", () => {
    for (const c of [Code.PERMISSION_DENIED, Code.UNAUTHENTICATED, Code.NOT_FOUND, Code.INVALID_ARGUMENT]) expect(retryable(c), Code[c]).to.equal(false);
  });

  it("retries transient failures", () => {
    for (const c of [Code.UNAVAILABLE, Code.CANCELLED, Code.DEADLINE_EXCEEDED, Code.RESOURCE_EXHAUSTED, Code.INTERNAL, Code.UNKNOWN, Code.ABORTED]) {
      expect(retryable(c), Code[c]).to.equal(true);
    }
  });
});

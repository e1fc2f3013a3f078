import { expect } from "chai";
import { BrokerError, ErrorCode } from "../../src/broker/errors.js";

describe("BrokerError", () => {
  it("keeps its cause apart from the message a client sees", () => {
    const cause = new Error("EIO at /data/x.seg");
    const err = new BrokerError(ErrorCode.INTERNAL, "storage failed", { cause });
    expect(err.message).to.equal("storage failed");
    expect(err.cause).to.equal(cause);
    expect(err.code).to.equal("INTERNAL");
  });
});

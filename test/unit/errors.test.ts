import { expect } from "chai";
import { BrokerError, ErrorReason, REASON_CODES } from "../../src/broker/errors.js";

describe("BrokerError", () => {
  it("keeps its cause apart from the message a client sees", () => {
    const cause = new Error("EIO at /data/x.seg");
    const err = new BrokerError(ErrorReason.STORAGE_FAILED, "storage failed", { cause });
    expect(err.message).to.equal("storage failed");
    expect(err.cause).to.equal(cause);
    expect(err.reason).to.equal("STORAGE_FAILED");
    expect(err.code).to.equal("UNAVAILABLE");
  });

  it("takes its code from its reason", () => {
    for (const [reason, code] of Object.entries(REASON_CODES)) {
      expect(new BrokerError(reason as ErrorReason, "x").code, reason).to.equal(code);
    }
  });
});

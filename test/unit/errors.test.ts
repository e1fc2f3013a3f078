import { expect } from "chai";
import { BrokerError, ErrorReason, REASON_CODES } from "../../src/broker/errors.js";
import { storeFailure } from "../../src/broker/guarded-storage.js";
import { StoreError, type StoreErrorCode } from "../../src/broker/storage.js";

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

describe("store failures as the errors clients see", () => {
  const logged: object[] = [];
  const log = { error: (obj: object) => logged.push(obj) };
  const cases: [StoreErrorCode, string, string][] = [
    ["DISK_FULL", "DISK_FULL", "RESOURCE_EXHAUSTED"],
    ["TOO_LARGE", "BODY_TOO_LARGE", "RESOURCE_EXHAUSTED"],
    ["IO", "STORAGE_FAILED", "UNAVAILABLE"],
    ["CORRUPT", "STORAGE_FAILED", "UNAVAILABLE"],
  ];
  for (const [storeCode, reason, code] of cases) {
    it(`maps StoreError ${storeCode} to ${code} / ${reason}, keeping it as the logged cause`, () => {
      const cause = new StoreError(storeCode, "disk full while journaling acks at /data/q/journal");
      const err = storeFailure(cause, log) as BrokerError;
      expect(err).to.be.instanceOf(BrokerError);
      expect([err.reason, err.code]).to.deep.equal([reason, code]);
      expect(err.cause).to.equal(cause);
      expect(logged.at(-1)).to.deep.equal({ err: cause });
      if (storeCode !== "TOO_LARGE") expect(err.message).not.to.include("/data");
    });
  }

  it("passes anything else through unchanged", () => {
    const other = new Error("not the store's");
    expect(storeFailure(other, log)).to.equal(other);
  });
});

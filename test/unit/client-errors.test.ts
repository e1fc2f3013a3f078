import { expect } from "chai";
import { Code, GmqError } from "../../src/client/errors.js";
import { failedBeforeSend, toGmqError } from "../../src/client/errors.js";
import { retryableElsewhere } from "../../src/client/producer.js";
import { Reason } from "../../src/client/errors.js";
import { BrokerError, ErrorReason } from "../../src/broker/errors.js";
import { grpcStatusOf } from "../../src/api/status.js";
import { Metadata } from "@grpc/grpc-js";
import { BinaryWriter } from "@bufbuild/protobuf/wire";

describe("client errors", () => {
  it("carries the gRPC code and its name", () => {
    const e = toGmqError({ code: Code.NOT_FOUND, details: "queue orders_paid not found", message: "5 NOT_FOUND: queue orders_paid not found" }, "node-1");
    expect(e).to.be.instanceOf(GmqError);
    expect(e.code).to.equal(Code.NOT_FOUND);
    expect(e.codeName).to.equal("NOT_FOUND");
    expect(e.message).to.equal("queue orders_paid not found");
    expect(e.node).to.equal("node-1");
    expect(retryableElsewhere(e)).to.equal(false);
  });

  it("retries elsewhere only failures that happened before the request was sent", () => {
    const refused = { code: Code.UNAVAILABLE, details: "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:9. Resolution note: " };
    const dropped = { code: Code.UNAVAILABLE, details: "Connection dropped" };
    expect(failedBeforeSend(refused)).to.equal(true);
    expect(failedBeforeSend(dropped)).to.equal(false);
    expect(retryableElsewhere(toGmqError(refused))).to.equal(true);
    expect(toGmqError(refused).message).to.not.match(/Resolution note/);
    const unknown = toGmqError(dropped);
    expect(unknown.outcomeUnknown).to.equal(true);
    expect(retryableElsewhere(unknown)).to.equal(false);
  });

  it("treats a channel closed because its node left as UNAVAILABLE and retryable", () => {
    const e = toGmqError(new Error("Channel has been shut down"), "node-2");
    expect(e.code).to.equal(Code.UNAVAILABLE);
    expect(retryableElsewhere(e)).to.equal(true);
  });

  it("reads the node's reason from the status details trailer, and none from a trailer of another domain", () => {
    const { metadata } = grpcStatusOf(new BrokerError(ErrorReason.QUEUE_NOT_FOUND, "queue orders_pai does not exist"), { error() {} }, "x");
    const e = toGmqError({ code: Code.NOT_FOUND, details: "queue orders_pai does not exist", metadata });
    expect(e.reason).to.equal(Reason.QUEUE_NOT_FOUND);
    const foreign = new Metadata();
    // google.rpc.Status{code 5, details [Any{ErrorInfo{reason "QUEUE_NOT_FOUND", domain "example.com"}}]}
    const info = new BinaryWriter().uint32(10).string("QUEUE_NOT_FOUND").uint32(18).string("example.com").finish();
    const any = new BinaryWriter().uint32(10).string("type.googleapis.com/google.rpc.ErrorInfo").uint32(18).bytes(info).finish();
    foreign.set("grpc-status-details-bin", Buffer.from(new BinaryWriter().uint32(8).int32(5).uint32(26).bytes(any).finish()));
    expect(toGmqError({ code: Code.NOT_FOUND, details: "x", metadata: foreign }).reason).to.equal("");
    expect(toGmqError({ code: Code.UNAVAILABLE, details: "No connection established" }).reason).to.equal("");
  });
});

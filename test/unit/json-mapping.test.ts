import { expect } from "chai";
import { BrokerError } from "../../src/broker/errors.js";
import { buildRequest } from "../../src/api/http-gateway.js";
import { RouteTable } from "../../src/api/http-routes.js";
import { messageFromJson, messageToJson } from "../../src/api/json-mapping.js";
import { loadProtoSchema } from "../../src/api/proto-schema.js";
import * as pb from "../../src/gen/gmq/v1/broker.js";

const schema = loadProtoSchema();
const extra = loadProtoSchema("gmqtest/v1/extra.proto", ["test/fixtures/proto", "proto", "node_modules/google-proto-files"]);

function invalidArgument(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(BrokerError);
    expect((err as BrokerError).code).to.equal("INVALID_ARGUMENT");
    return (err as BrokerError).message;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

describe("proto3 JSON mapping", () => {
  const push = schema.message("gmq.v1.PushRequest");

  it("accepts lowerCamel and original field names and yields the same object as ts-proto's fromJSON", () => {
    const a = messageFromJson(push, { topic: "t", routeKey: "r", body: "aGVsbG8=", delayMs: "1500" });
    const b = messageFromJson(push, { topic: "t", route_key: "r", body: "aGVsbG8=", delay_ms: 1500 });
    expect(a).to.deep.equal(b);
    expect(a).to.deep.equal(pb.PushRequest.fromJSON({ topic: "t", routeKey: "r", body: "aGVsbG8=", delayMs: "1500" }));
    expect((a["body"] as Buffer).toString()).to.equal("hello");
    expect(a["delayMs"]).to.equal(1500n);
  });

  it("fills unset fields with proto3 defaults and leaves optional fields unset", () => {
    expect(messageFromJson(push, {})).to.deep.equal(pb.PushRequest.fromPartial({}));
    const cfg = messageFromJson(schema.message("gmq.v1.ConfigRequest"), { topic: "t" });
    expect(cfg).to.deep.equal(pb.ConfigRequest.fromPartial({ topic: "t" }));
    expect(cfg["autoAck"]).to.equal(undefined);
  });

  it("accepts enums by name or number", () => {
    const cfg = schema.message("gmq.v1.ConfigRequest");
    expect(messageFromJson(cfg, { routeMode: "ROUTE_MODE_REGEX" })["routeMode"]).to.equal(2);
    expect(messageFromJson(cfg, { route_mode: 3 })["routeMode"]).to.equal(3);
    expect(invalidArgument(() => messageFromJson(cfg, { routeMode: "FUZZY" }))).to.match(/routeMode.*ROUTE_MODE_FULL/);
  });

  it("rejects wrong types with the field named", () => {
    expect(invalidArgument(() => messageFromJson(push, { topic: 5 }))).to.match(/field topic: expected a string, got 5/);
    expect(invalidArgument(() => messageFromJson(push, { delayMs: "abc" }))).to.match(/field delayMs: expected .*64-bit/);
    expect(invalidArgument(() => messageFromJson(push, { delayMs: "-1" }))).to.match(/delayMs/);
    expect(invalidArgument(() => messageFromJson(push, { delayMs: 1.5 }))).to.match(/delayMs/);
    expect(invalidArgument(() => messageFromJson(push, { body: "not base64!" }))).to.match(/body: expected base64/);
    expect(invalidArgument(() => messageFromJson(push, { nope: 1 }))).to.match(/unknown field nope/);
    expect(invalidArgument(() => messageFromJson(push, [1]))).to.match(/expected a JSON object/);
    const pop = schema.message("gmq.v1.PopRequest");
    expect(invalidArgument(() => messageFromJson(pop, { waitMs: 4294967296 }))).to.match(/waitMs: expected an integer in 0..4294967295/);
    expect(invalidArgument(() => messageFromJson(schema.message("gmq.v1.ConfigRequest"), { autoAck: "yes" }))).to.match(/autoAck/);
  });

  it("accepts 64-bit integers up to 2^64-1 as strings and refuses beyond", () => {
    const ack = schema.message("gmq.v1.AckRequest");
    expect(messageFromJson(ack, { id: "18446744073709551615" })["id"]).to.equal(18446744073709551615n);
    expect(invalidArgument(() => messageFromJson(ack, { id: "18446744073709551616" }))).to.match(/id/);
  });

  it("writes lowerCamel names, 64-bit integers as strings, bytes as base64, enums by name, and zero values", () => {
    const msg = pb.Message.fromPartial({ id: 384261148721025024n, topic: "t", body: Buffer.from("hi"), createdAtMs: 5n });
    const json = messageToJson(schema.message("gmq.v1.Message"), msg as never);
    expect(json).to.deep.equal({
      id: "384261148721025024",
      topic: "t",
      bindKey: "",
      routeKey: "",
      body: "aGk=",
      retry: 0,
      createdAtMs: "5",
      deadlineMs: "0",
      expiresAtMs: "0",
      priority: 0,
    });
    const cfg = messageToJson(schema.message("gmq.v1.ConfigResponse"), { config: { autoAck: true, routeMode: 1, msgTtr: 30, msgRetry: 5, retryBackoffMs: 200, retryBackoffMaxMs: 0 } });
    expect(cfg).to.deep.equal({ config: { autoAck: true, routeMode: "ROUTE_MODE_FULL", msgTtr: 30, msgRetry: 5, retryBackoffMs: 200, retryBackoffMaxMs: 0, msgTtlMs: "0", dedupWindowMs: "0", defaultPriority: 0, trace: false, traceRetentionMs: "0", traceRetentionBytes: "0" } });
    // Round trip through ts-proto agrees.
    expect(pb.Message.fromJSON(json)).to.deep.equal(msg);
  });

  it("leaves unset messages and optional fields out", () => {
    expect(messageToJson(schema.message("gmq.v1.ConfigResponse"), { config: undefined })).to.deep.equal({});
    expect(messageToJson(schema.message("gmq.v1.ConfigRequest"), pb.ConfigRequest.fromPartial({}))).to.not.have.property("autoAck");
  });
});

describe("HTTP request to RPC request", () => {
  const table = new RouteTable(schema.rpcs);
  const extraTable = new RouteTable(extra.rpcs);
  const route = (t: RouteTable, method: string, path: string) => {
    const m = t.match(method, path);
    if (m.kind !== "found") throw new Error(`no route for ${method} ${path}`);
    return m;
  };

  it("takes path variables and the remaining fields from the query string", () => {
    const m = route(table, "GET", "/v1/topics/ketang/queues/homework:pop");
    const req = buildRequest(m.route, m.values, new URLSearchParams("wait_ms=250"), undefined);
    expect(req).to.deep.equal(pb.PopRequest.fromPartial({ topic: "ketang", bindKey: "homework", waitMs: 250 }));
    const camel = buildRequest(m.route, m.values, new URLSearchParams("waitMs=250"), undefined);
    expect(camel).to.deep.equal(req);
  });

  it("takes body '*' as the whole request, with path variables overriding", () => {
    const m = route(table, "POST", "/v1/topics/t1/messages");
    const req = buildRequest(m.route, m.values, new URLSearchParams(), { topic: "other", body: "aGk=", route_key: "rk" });
    expect(req["topic"]).to.equal("t1");
    expect(req["routeKey"]).to.equal("rk");
  });

  it("sets nested fields by dotted query names and repeated fields by repeating the name", () => {
    const m = route(extraTable, "GET", "/v1/extra/bob/echo");
    const q = new URLSearchParams("counts=1&counts=2&inner.big=-9007199254740993&inner.labels=a&inner.labels=b&mode=ROUTE_MODE_WILDCARD&flag=true&id=7&ratio=0.5");
    const req = buildRequest(m.route, m.values, q, undefined);
    expect(req["name"]).to.equal("bob");
    expect(req["counts"]).to.deep.equal([1, 2]);
    expect(req["inner"]).to.deep.equal({ big: -9007199254740993n, labels: ["a", "b"] });
    expect(req["mode"]).to.equal(3);
    expect(req["flag"]).to.equal(true);
    expect(req["id"]).to.equal(7n);
    expect(req["ratio"]).to.equal(0.5);
    expect(buildRequest(m.route, m.values, new URLSearchParams("mode=2"), undefined)["mode"]).to.equal(2);
  });

  it("takes a body field rule's body into that field and the rest from the query", () => {
    const m = route(extraTable, "PUT", "/v1/extra/x/inner");
    const req = buildRequest(m.route, m.values, new URLSearchParams("id=3"), { big: "12", labels: ["z"] });
    expect(req["inner"]).to.deep.equal({ big: 12n, labels: ["z"] });
    expect(req["id"]).to.equal(3n);
  });

  it("rejects unknown or malformed query parameters", () => {
    const m = route(table, "GET", "/v1/topics/t/queues/q:pop");
    expect(invalidArgument(() => buildRequest(m.route, m.values, new URLSearchParams("nope=1"), undefined))).to.match(/unknown field nope/);
    expect(invalidArgument(() => buildRequest(m.route, m.values, new URLSearchParams("wait_ms=abc"), undefined))).to.match(/waitMs: expected an integer/);
    expect(invalidArgument(() => buildRequest(m.route, m.values, new URLSearchParams("wait_ms=1&wait_ms=2"), undefined))).to.match(/not repeated/);
    const ack = route(table, "POST", "/v1/topics/t/queues/q/messages/abc:ack");
    expect(invalidArgument(() => buildRequest(ack.route, ack.values, new URLSearchParams(), undefined))).to.match(/field id/);
  });
});

import { expect } from "chai";
import { RouteTable, compileTemplate } from "../../src/api/http-routes.js";
import { loadProtoSchema } from "../../src/api/proto-schema.js";

describe("gateway route compilation", () => {
  const schema = loadProtoSchema();
  const table = new RouteTable(schema.rpcs);

  it("compiles one route per google.api.http rule of every annotated RPC, and none for streaming RPCs", () => {
    const annotated = schema.rpcs.filter((r) => r.bindings.length > 0).map((r) => r.name).sort();
    expect(annotated).to.include.members(["Push", "Pop", "DeclareQueue", "Ack", "Publish", "Ping", "Config"]);
    expect(annotated).not.to.include.members(["PushStream", "Consume", "Subscribe"]);
    expect(table.routes.map((r) => r.rpc.name).sort()).to.deep.equal(annotated);
  });

  it("reads rules from the proto, with the body rule", () => {
    const push = table.routes.find((r) => r.rpc.name === "Push")!;
    expect(push.method).to.equal("POST");
    expect(push.template).to.equal("/v1/topics/{topic}/messages");
    expect(push.body).to.equal("*");
  });

  it("matches variables and the :verb suffix", () => {
    const m = table.match("GET", "/v1/topics/ketang/queues/homework:pop");
    expect(m.kind).to.equal("found");
    if (m.kind !== "found") return;
    expect(m.route.rpc.name).to.equal("Pop");
    expect(m.values).to.deep.equal(["ketang", "homework"]);
  });

  it("prefers the verb route and keeps a percent-encoded colon inside a variable", () => {
    const m = table.match("PUT", "/v1/topics/t/queues/a%3Apop");
    expect(m.kind).to.equal("found");
    if (m.kind !== "found") return;
    expect(m.route.rpc.name).to.equal("DeclareQueue");
    expect(m.values).to.deep.equal(["t", "a:pop"]);
    const batch = table.match("POST", "/v1/topics/t/messages:batch");
    expect(batch.kind === "found" && batch.route.rpc.name).to.equal("PushBatch");
  });

  it("decodes percent-encoded variables such as a wildcard bind key", () => {
    const m = table.match("PUT", "/v1/topics/orders/queues/order.%2A.%23");
    expect(m.kind === "found" && m.values[1]).to.equal("order.*.#");
  });

  it("answers method-not-allowed with the allowed methods when only the method differs", () => {
    const m = table.match("POST", "/v1/topics/t/queues/q");
    expect(m.kind).to.equal("method-not-allowed");
    if (m.kind === "method-not-allowed") expect(m.allow.sort()).to.deep.equal(["DELETE", "PUT"]);
  });

  it("answers not-found for unknown paths", () => {
    expect(table.match("GET", "/v1/nope").kind).to.equal("not-found");
    expect(table.match("GET", "/v1/topics/a/b/c/queues/q:pop").kind).to.equal("not-found");
  });

  it("compiles * and ** segments and {var=pattern}", () => {
    const t = compileTemplate("/v1/{name=things/*}/x/**:go");
    expect(t.variables).to.deep.equal(["name"]);
    expect(t.regex.test("/v1/things/abc/x/a/b/c:go")).to.equal(true);
    expect(t.regex.test("/v1/other/abc/x/a:go")).to.equal(false);
  });

  it("reads additional_bindings and rules of other services from a test-only proto", () => {
    const extra = loadProtoSchema("gmqtest/v1/extra.proto", ["test/fixtures/proto", "proto", "node_modules/google-proto-files"]);
    const echo = extra.rpcs.find((r) => r.name === "Echo")!;
    expect(echo.service).to.equal("gmqtest.v1.ExtraService");
    expect(echo.bindings.map((b) => `${b.method} ${b.path} ${b.body}`)).to.deep.equal([
      "GET /v1/extra/{name}/echo ",
      "POST /v1/extra/{name}:echo *",
      "PUT /v1/extra/{name}/inner inner",
    ]);
  });
});

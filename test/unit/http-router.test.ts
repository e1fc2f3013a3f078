import { expect } from "chai";
import { HttpRouter, type Endpoint } from "../../src/api/http-router.js";
import { compileTemplate } from "../../src/api/http-routes.js";

const endpoint = (label: string): Endpoint => ({ label, serve: () => undefined });

describe("the HTTP route table", () => {
  const router = new HttpRouter()
    .template("PUT", compileTemplate("/v1/topics/{topic}/queues/{bind_key}"), endpoint("DeclareQueue"))
    .template("DELETE", compileTemplate("/v1/topics/{topic}/queues/{bind_key}"), endpoint("DeleteQueue"))
    .template("GET", compileTemplate("/v1/topics/{topic}/queues/{bind_key}:consume"), endpoint("Consume"))
    .path("/healthz", ["GET"], endpoint("/healthz"))
    .path("/push", undefined, endpoint("/push"));

  it("finds a stream's template before a less literal RPC template that also matches the path", () => {
    const m = router.match("GET", "/v1/topics/t/queues/q:consume");
    expect(m.kind === "found" && m.value.label).to.equal("Consume");
    expect(m.kind === "found" && m.values).to.deep.equal(["t", "q"]);
  });

  it("serves a fixed path by exact lookup, HEAD as GET, and any method where none is listed", () => {
    const head = router.match("HEAD", "/healthz");
    expect(head.kind === "found" && head.value.label).to.equal("/healthz");
    const push = router.match("POST", "/push");
    expect(push.kind === "found" && push.value.label).to.equal("/push");
  });

  it("answers method-not-allowed with the allowed methods for fixed paths and templates alike", () => {
    expect(router.match("POST", "/healthz")).to.deep.equal({ kind: "method-not-allowed", allow: ["GET"] });
    const m = router.match("POST", "/v1/topics/t/queues/q");
    expect(m.kind === "method-not-allowed" && [...m.allow].sort()).to.deep.equal(["DELETE", "PUT"]);
  });

  it("answers not-found for a path nobody serves and refuses a path defined twice", () => {
    expect(router.match("GET", "/nowhere").kind).to.equal("not-found");
    expect(() => router.path("/push", undefined, endpoint("again"))).to.throw(/twice/);
  });
});

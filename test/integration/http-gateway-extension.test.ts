// The gateway serves whatever the proto annotates: a test-only proto adds an
// annotated RPC, a test handler table implements it, and it is reachable over
// HTTP with no gateway change. Also covers the gateway's error replies.
import { expect } from "chai";
import { BrokerError, ErrorReason } from "../../src/broker/errors.js";
import { startHttpServer, type HttpBroker, type RunningHttpServer } from "../../src/api/http-server.js";
import { loadProtoSchema } from "../../src/api/proto-schema.js";
import { defaults } from "../../src/config.js";

const stubBroker: HttpBroker = {
  isReady: () => true,
  subscribe: () => () => {},
  consume: () => ({ grant() {}, ack: () => 0, nack: () => 0, touch: () => 0, close() {} }),
};

describe("HTTP gateway with a test-only annotated RPC (in process)", () => {
  let http: RunningHttpServer;
  let base: string;

  before(async () => {
    const schema = loadProtoSchema("gmqtest/v1/extra.proto", ["test/fixtures/proto", "proto", "node_modules/google-proto-files"]);
    const handlers = {
      async Echo(req: { name: string; counts: number[] }) {
        if (req.name === "missing") throw new BrokerError(ErrorReason.TOPIC_NOT_FOUND, "no such thing");
        if (req.name === "boom") throw new Error("secret internal detail");
        return { request: req, total: BigInt(req.counts.reduce((a, b) => a + b, 0)) };
      },
    };
    http = await startHttpServer({
      config: { ...defaults, httpAddr: "127.0.0.1:0", maxHttpBodyBytes: 1024, metrics: false, pprof: false, dashboard: false },
      broker: stubBroker,
      handlers,
      schema,
    });
    base = `http://${http.addr}`;
  });
  after(() => http.close(100));

  it("serves the GET binding with query parameters (nested, repeated, enum, 64-bit)", async () => {
    const res = await fetch(`${base}/v1/extra/ann/echo?counts=2&counts=5&inner.big=-3&mode=ROUTE_MODE_REGEX&id=18446744073709551615&data=aGk%3D`);
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { request: Record<string, unknown>; total: string };
    expect(body.total).to.equal("7");
    expect(body.request).to.deep.include({ name: "ann", id: "18446744073709551615", data: "aGk=", mode: "ROUTE_MODE_REGEX", counts: [2, 5] });
    expect(body.request["inner"]).to.deep.equal({ big: "-3", labels: [] });
  });

  it("serves an additional binding with body '*' and both field-name styles", async () => {
    const res = await fetch(`${base}/v1/extra/bob:echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ counts: [1], inner: { big: "9", labels: ["x"] }, flag: false, ratio: 0.25 }),
    });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { request: Record<string, unknown> };
    expect(body.request).to.deep.include({ name: "bob", flag: false, ratio: 0.25 });
  });

  it("answers errors as {code, reason, message, details} with the mapped HTTP status", async () => {
    const cases: [string, RequestInit, number, string, string, RegExp][] = [
      ["/v1/extra/missing/echo", {}, 404, "NOT_FOUND", "TOPIC_NOT_FOUND", /no such thing/],
      ["/v1/extra/boom/echo", {}, 500, "INTERNAL", "INTERNAL_ERROR", /internal error/],
      ["/v1/extra/x/echo?id=abc", {}, 400, "INVALID_ARGUMENT", "MALFORMED_REQUEST", /field id/],
      ["/v1/extra/x:echo", { method: "POST", body: "{not json", headers: { "content-type": "application/json" } }, 400, "INVALID_ARGUMENT", "MALFORMED_REQUEST", /not valid JSON/],
      ["/v1/extra/x:echo", { method: "POST", body: JSON.stringify({ counts: "1" }), headers: { "content-type": "application/json" } }, 400, "INVALID_ARGUMENT", "MALFORMED_REQUEST", /counts: expected an array/],
      ["/v1/extra/x:echo", { method: "POST", body: JSON.stringify({ inner: { labels: [5] } }), headers: { "content-type": "application/json" } }, 400, "INVALID_ARGUMENT", "MALFORMED_REQUEST", /inner.labels\[0\]: expected a string, got 5/],
      ["/v1/extra/x:echo", { method: "POST", body: JSON.stringify({ data: "x".repeat(2000) }), headers: { "content-type": "application/json" } }, 413, "RESOURCE_EXHAUSTED", "REQUEST_TOO_LARGE", /exceeds/],
      ["/v1/extra/x/echo", { method: "DELETE" }, 405, "INVALID_ARGUMENT", "METHOD_NOT_ALLOWED", /not allowed/],
      ["/v1/nowhere", {}, 404, "NOT_FOUND", "PATH_NOT_FOUND", /no route/],
    ];
    for (const [path, init, status, code, reason, message] of cases) {
      const res = await fetch(`${base}${path}`, init);
      const body = (await res.json()) as { code: string; reason: string; message: string; details: unknown[] };
      expect(res.status, path).to.equal(status);
      expect(body.code, path).to.equal(code);
      expect(body.reason, path).to.equal(reason);
      expect(body.message, path).to.match(message);
      expect(body.details, path).to.deep.equal([
        { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason, domain: "gmq.v1", metadata: reason === "METHOD_NOT_ALLOWED" ? { allow: "GET" } : {} },
      ]);
      expect(body.message).not.to.include("secret");
    }
  });

  it("sends Allow on 405", async () => {
    const res = await fetch(`${base}/v1/extra/x/echo`, { method: "PATCH" });
    expect(res.status).to.equal(405);
    expect(res.headers.get("allow")).to.equal("GET");
  });

  it("lists the test RPC's routes in /openapi.json", async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, object> };
    expect(doc.paths).to.include.keys("/v1/extra/{name}/echo", "/v1/extra/{name}:echo", "/v1/extra/{name}/inner");
  });
});

describe("/readyz while the broker is not ready (in process)", () => {
  it("answers 503 {ready:false} while recovering or draining, and /healthz stays 200", async () => {
    let ready = false;
    const http = await startHttpServer({
      config: { ...defaults, httpAddr: "127.0.0.1:0", maxHttpBodyBytes: 1024, metrics: false, pprof: false, dashboard: false },
      broker: { ...stubBroker, isReady: () => ready },
      handlers: {},
    });
    try {
      const base = `http://${http.addr}`;
      const notReady = await fetch(`${base}/readyz`);
      expect(notReady.status).to.equal(503);
      expect(await notReady.json()).to.deep.equal({ ready: false });
      expect((await fetch(`${base}/healthz`)).status).to.equal(200);
      ready = true;
      expect((await fetch(`${base}/readyz`)).status).to.equal(200);
      // An RPC without a handler on this node answers 501.
      const unimplemented = await fetch(`${base}/v1/ping`);
      expect(unimplemented.status).to.equal(501);
      expect(((await unimplemented.json()) as { code: string }).code).to.equal("UNIMPLEMENTED");
    } finally {
      await http.close(100);
    }
  });
});

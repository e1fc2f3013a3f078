// Every unary RPC over HTTP/JSON, the streams over NDJSON and SSE, and the
// error replies, against a real node process.
import { expect } from "chai";
import { EventReader, b64, call, unb64 } from "../helpers/http.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { connect, uniqueTopic } from "../helpers/grpc-client.js";
import { waitFor } from "../helpers/wait-for.js";

describe("HTTP/JSON gateway (real node)", function () {
  this.timeout(90_000);
  let node: NodeProcess;
  let base: string;

  before(async () => {
    node = await startNodeProcess({ args: ["--max-http-body-bytes", "4096"] });
    base = `http://${node.httpAddr}`;
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
  });
  /** The topic's stat as the gateway shows it (64-bit counts as strings). */
  const stat = async (topic: string) => (await call(base, "GET", `/v1/topics/${topic}/stat`)).body.stat;

  it("configures a topic, declares a queue, pushes, pops and acks", async () => {
    const topic = uniqueTopic("http");
    const cfg = await call(base, "PUT", `/v1/topics/${topic}/config`, { autoAck: false, routeMode: "ROUTE_MODE_FULL", msgTtr: 30, msg_retry: 2 });
    expect(cfg.status).to.equal(200);
    expect(cfg.body.config).to.deep.equal({ autoAck: false, routeMode: "ROUTE_MODE_FULL", msgTtr: 30, msgRetry: 2, retryBackoffMs: 0, retryBackoffMaxMs: 0, msgTtlMs: "0", dedupWindowMs: "120000", defaultPriority: 0 });
    const decl = await call(base, "PUT", `/v1/topics/${topic}/queues/work`);
    expect(decl.body).to.deep.equal({ name: `${topic}_work`, created: true });
    expect((await call(base, "PUT", `/v1/topics/${topic}/queues/work`)).body.created).to.equal(false);

    const push = await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "work", body: b64("hello") });
    expect(push.status).to.equal(200);
    expect(push.body.id).to.match(/^\d+$/);
    expect(push.body.queues).to.equal(1);

    const pop = await call(base, "GET", `/v1/topics/${topic}/queues/work:pop`);
    expect(pop.status).to.equal(200);
    expect(pop.body.message.id).to.equal(push.body.id);
    expect(unb64(pop.body.message.body)).to.equal("hello");
    expect(pop.body.message).to.include({ topic, bindKey: "work", routeKey: "work", retry: 0 });

    const ack = await call(base, "POST", `/v1/topics/${topic}/queues/work/messages/${push.body.id}:ack`);
    expect(ack.status).to.equal(200);
    expect(ack.body).to.deep.equal({});
    const empty = await call(base, "GET", `/v1/topics/${topic}/queues/work:pop`);
    expect(empty.status).to.equal(404);
    expect(empty.body.code).to.equal("NOT_FOUND");
  });

  it("long-polls a pop with wait_ms from the query string", async () => {
    const topic = uniqueTopic("http");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    // Delayed, so the pop finds the queue empty and has to wait for it.
    await call(base, "POST", `/v1/topics/${topic}/messages`, { route_key: "q", body: b64("late"), delay_ms: "200" });
    const got = await call(base, "GET", `/v1/topics/${topic}/queues/q:pop?wait_ms=15000`);
    expect(got.status).to.equal(200);
    expect(unb64(got.body.message.body)).to.equal("late");
  });

  it("pushes a batch, lists topics and queues, reads stats, nacks and touches", async () => {
    const topic = uniqueTopic("http");
    await call(base, "PUT", `/v1/topics/${topic}/queues/a`);
    await call(base, "PUT", `/v1/topics/${topic}/queues/b`);
    const batch = await call(base, "POST", `/v1/topics/${topic}/messages:batch`, {
      messages: [{ routeKey: "a", body: b64("1") }, { routeKey: "b", body: b64("2"), delayMs: "60000" }],
    });
    expect(batch.status).to.equal(200);
    expect(batch.body.ids).to.have.length(2);
    expect((await call(base, "GET", `/v1/topics/${topic}/queues`)).body.bindKeys).to.deep.equal(["a", "b"]);
    const topics = await call(base, "GET", `/v1/topics`);
    expect(topics.body.topics.map((t: { topic: string }) => t.topic)).to.include(topic);
    const stat = await call(base, "GET", `/v1/topics/${topic}/stat`);
    expect(stat.body.stat.topic).to.equal(topic);
    expect(stat.body.stat.pushed).to.equal("2");
    expect(stat.body.stat.delayed).to.equal("1");

    const popped = await call(base, "GET", `/v1/topics/${topic}/queues/a:pop`);
    const id = popped.body.message.id;
    const touch = await call(base, "POST", `/v1/topics/${topic}/queues/a/messages/${id}:touch`, { ttrMs: "60000" });
    expect(touch.status).to.equal(200);
    expect(Number(touch.body.deadlineMs)).to.be.greaterThan(Date.now() + 50_000);
    expect((await call(base, "POST", `/v1/topics/${topic}/queues/a/messages/${id}:nack`, {})).status).to.equal(200);
    const again = await call(base, "GET", `/v1/topics/${topic}/queues/a:pop`);
    expect(again.body.message.id).to.equal(id);
  });

  it("reaches dead letters, redrive, delete queue and ping", async () => {
    const topic = uniqueTopic("http");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    expect((await call(base, "GET", `/v1/topics/${topic}/queues/q/dead`)).body).to.deep.equal({ messages: [] });
    expect((await call(base, "POST", `/v1/topics/${topic}/queues/q/dead:pop`)).status).to.equal(404);
    expect((await call(base, "POST", `/v1/topics/${topic}/queues/q/dead:redrive`)).body).to.deep.equal({ moved: "0" });
    expect((await call(base, "DELETE", `/v1/topics/${topic}/queues/q`)).status).to.equal(200);
    expect((await call(base, "GET", `/v1/topics/${topic}/queues`)).body.bindKeys).to.deep.equal([]);
    const ping = await call(base, "GET", `/v1/ping`);
    expect(ping.body.nodeId).to.equal(1);
    expect(ping.body.startedAtMs).to.match(/^\d+$/);
  });

  it("maps broker errors to HTTP statuses with {code, reason, message, details}", async () => {
    const topic = uniqueTopic("http");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    const nomatch = await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "zzz", body: b64("x") });
    expect(nomatch.status).to.equal(400);
    expect(nomatch.body.code).to.equal("FAILED_PRECONDITION");
    expect(nomatch.body.reason).to.equal("NO_ROUTE");
    expect(nomatch.body.details).to.deep.equal([{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "NO_ROUTE", domain: "gmq.v1", metadata: {} }]);
    const unknownQueue = await call(base, "GET", `/v1/topics/${topic}/queues/nope:pop`);
    expect(unknownQueue.status).to.equal(404);
    expect(unknownQueue.body.reason).to.equal("QUEUE_NOT_FOUND");
    const empty = await call(base, "GET", `/v1/topics/${topic}/queues/q:pop`);
    expect(empty.status).to.equal(404);
    expect(empty.body.reason).to.equal("QUEUE_EMPTY");
    const badName = await call(base, "PUT", `/v1/topics/bad%20name!/queues/q`);
    expect(badName.status).to.equal(400);
    expect(badName.body.code).to.equal("INVALID_ARGUMENT");
  });

  it("refuses malformed input with 4xx and stays up", async () => {
    const topic = uniqueTopic("http");
    const raw = async (path: string, init: RequestInit) => {
      const res = await fetch(`${base}${path}`, init);
      return { status: res.status, body: (await res.json()) as { code: string; message: string } };
    };
    const json = { "content-type": "application/json" };
    const cases: [string, RequestInit, number, RegExp][] = [
      [`/v1/topics/${topic}/messages`, { method: "POST", headers: json, body: "{oops" }, 400, /not valid JSON/],
      [`/v1/topics/${topic}/messages`, { method: "POST", headers: json, body: '{"routeKey": 5}' }, 400, /routeKey: expected a string/],
      [`/v1/topics/${topic}/messages`, { method: "POST", headers: json, body: '{"delayMs": "abc"}' }, 400, /delayMs/],
      [`/v1/topics/${topic}/messages`, { method: "POST", headers: json, body: "[1,2]" }, 400, /JSON object/],
      [`/v1/topics/${topic}/messages`, { method: "POST", headers: json, body: JSON.stringify({ body: b64("x".repeat(5000)) }) }, 413, /exceeds/],
      [`/v1/topics/${topic}/messages`, { method: "GET" }, 405, /not allowed/],
      [`/v1/topics/${topic}/queues/q:pop?wait_ms=-1`, { method: "GET" }, 400, /waitMs/],
      [`/v1/topics/${topic}/queues/q/messages/abc:ack`, { method: "POST" }, 400, /id/],
      [`/v1/topics/%E0%A4%A/queues/q`, { method: "PUT" }, 400, /percent-encoding/],
      [`/no/such/route`, { method: "GET" }, 404, /no route/],
    ];
    for (const [path, init, status, message] of cases) {
      const r = await raw(path, init);
      expect(r.status, `${init.method} ${path}`).to.equal(status);
      expect(r.body.message, path).to.match(message);
    }
    expect((await call(base, "GET", "/healthz")).status).to.equal(200);
  });

  for (const sse of [false, true]) {
    const framing = sse ? "Server-Sent Events" : "NDJSON";

    it(`subscribes to channels over ${framing} and unsubscribes when the client goes away`, async () => {
      const channel = uniqueTopic("ch");
      const res = await fetch(`${base}/v1/channels:subscribe?channels=${channel}`, { headers: sse ? { accept: "text/event-stream" } : {} });
      expect(res.status).to.equal(200);
      expect(res.headers.get("content-type")).to.include(sse ? "text/event-stream" : "application/x-ndjson");
      const events = new EventReader(res, sse);
      const pub = await call(base, "POST", `/v1/channels/${channel}:publish`, { body: b64("news") });
      expect(pub.body.receivers).to.equal(1);
      const ev = await events.next();
      expect(ev.channel).to.equal(channel);
      expect(unb64(ev.body)).to.equal("news");
      expect(ev.publishedAtMs).to.match(/^\d+$/);
      await events.cancel();
      await waitFor(async () => (await call(base, "POST", `/v1/channels/${channel}:publish`, { body: b64("x") })).body.receivers === 0, {
        what: "the subscription to end when the client went away",
      });
    });

    it(`consumes a queue over ${framing} within max_in_flight; an ack through the gateway returns credit`, async () => {
      const topic = uniqueTopic("consume");
      await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
      for (const s of ["m1", "m2", "m3"]) await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64(s) });
      const res = await fetch(`${base}/v1/topics/${topic}/queues/q:consume?max_in_flight=2`, { headers: sse ? { accept: "text/event-stream" } : {} });
      expect(res.status).to.equal(200);
      const events = new EventReader(res, sse);
      const first = await events.next();
      const second = await events.next();
      expect([unb64(first.body), unb64(second.body)]).to.deep.equal(["m1", "m2"]);
      expect(first).to.include({ topic, bindKey: "q" });
      // The node's own count is exact: a third delivery would show as 3 in flight.
      expect(await stat(topic)).to.include({ inFlight: "2", backlog: "1" });
      expect((await call(base, "POST", `/v1/topics/${topic}/queues/q/messages/${first.id}:ack`)).status).to.equal(200);
      expect(unb64((await events.next()).body)).to.equal("m3");
      // Going away releases what is still unacked to the queue at once.
      await events.cancel();
      const popped: string[] = [];
      await waitFor(
        async () => {
          const p = await call(base, "GET", `/v1/topics/${topic}/queues/q:pop`);
          if (p.status === 200) popped.push(unb64(p.body.message.body));
          return popped.length >= 2;
        },
        { what: "the stream's unacked messages back in the queue" },
      );
      expect(popped.sort()).to.deep.equal(["m2", "m3"]);
    });
  }

  it("consumes with ack=auto: each message is acked once written", async () => {
    const topic = uniqueTopic("consume");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    for (let i = 0; i < 5; i++) await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64(`m${i}`) });
    const res = await fetch(`${base}/v1/topics/${topic}/queues/q:consume?max_in_flight=2&ack=auto`);
    const events = new EventReader(res);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(unb64((await events.next()).body));
    expect(got).to.deep.equal(["m0", "m1", "m2", "m3", "m4"]);
    await events.cancel();
    const acked = await waitFor(async () => ((await stat(topic)).acked === "5" ? stat(topic) : undefined), { what: "5 acks" });
    expect(acked).to.include({ acked: "5", inFlight: "0" });
  });

  it("redelivers a message nacked through the gateway on the same consume stream, without acking it", async () => {
    const topic = uniqueTopic("consume");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    for (const s of ["m1", "m2"]) await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64(s) });
    const events = new EventReader(await fetch(`${base}/v1/topics/${topic}/queues/q:consume?max_in_flight=1`));
    const first = await events.next();
    expect(unb64(first.body)).to.equal("m1");
    expect((await call(base, "POST", `/v1/topics/${topic}/queues/q/messages/${first.id}:nack`, {})).status).to.equal(200);
    const again = await events.next();
    expect(again.id).to.equal(first.id);
    expect((await call(base, "POST", `/v1/topics/${topic}/queues/q/messages/${again.id}:ack`)).status).to.equal(200);
    expect(unb64((await events.next()).body)).to.equal("m2");
    // Acking twice is NOT_FOUND, as over gRPC.
    expect((await call(base, "POST", `/v1/topics/${topic}/queues/q/messages/${again.id}:ack`)).status).to.equal(404);
    await events.cancel();
  });

  for (const via of ["the original API's /ack", "a unary gRPC Ack"]) {
    it(`returns a stream's credit on an ack through ${via}`, async () => {
      const topic = uniqueTopic("consume");
      await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
      for (const s of ["m1", "m2"]) await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64(s) });
      const events = new EventReader(await fetch(`${base}/v1/topics/${topic}/queues/q:consume?max_in_flight=1`));
      const first = await events.next();
      expect(await stat(topic)).to.include({ inFlight: "1", backlog: "1" });
      if (via.includes("gRPC")) {
        const c = connect(node.grpcAddr);
        try {
          await c.call("ack", { topic, bindKey: "q", id: BigInt(first.id) });
        } finally {
          c.close();
        }
      } else {
        expect((await call(base, "GET", `/ack?msgId=${first.id}&topic=${topic}&bindKey=q`)).body).to.deep.include({ code: 0 });
      }
      expect(unb64((await events.next()).body)).to.equal("m2");
      await events.cancel();
    });
  }

  it("returns a stream's credit on a delayed nack through the gateway and redelivers after the delay", async () => {
    const topic = uniqueTopic("consume");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    for (const s of ["m1", "m2"]) await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64(s) });
    const events = new EventReader(await fetch(`${base}/v1/topics/${topic}/queues/q:consume?max_in_flight=1`));
    const first = await events.next();
    expect((await call(base, "POST", `/v1/topics/${topic}/queues/q/messages/${first.id}:nack`, { delayMs: "300" })).status).to.equal(200);
    const second = await events.next();
    expect(unb64(second.body)).to.equal("m2");
    await call(base, "POST", `/v1/topics/${topic}/queues/q/messages/${second.id}:ack`);
    const later = await events.next();
    expect(later.id).to.equal(first.id);
    await events.cancel();
  });

  it("keeps consuming past max_in_flight on an auto-ack topic, where there is nothing to ack", async () => {
    const topic = uniqueTopic("consume");
    await call(base, "PUT", `/v1/topics/${topic}/config`, { autoAck: true });
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    for (let i = 0; i < 5; i++) await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64(`m${i}`) });
    const events = new EventReader(await fetch(`${base}/v1/topics/${topic}/queues/q:consume?max_in_flight=2`));
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(unb64((await events.next()).body));
    expect(got).to.deep.equal(["m0", "m1", "m2", "m3", "m4"]);
    await events.cancel();
  });

  it("serves /openapi.json listing every served route, and every listed route is served", async () => {
    const doc = (await call(base, "GET", "/openapi.json")).body as { paths: Record<string, Record<string, unknown>> };
    const ops = Object.entries(doc.paths).flatMap(([p, o]) => Object.keys(o).map((m) => [m.toUpperCase(), p] as const));
    // Every annotated RPC of the proto is listed.
    for (const p of ["/v1/topics/{topic}/messages", "/v1/topics/{topic}/queues/{bind_key}:pop", "/v1/channels/{channel}:publish", "/v1/ping"]) {
      expect(doc.paths, p).to.have.property(p);
    }
    // Every listed operation is routed: a request gets anything but "no route" (404 with that message) or 405.
    for (const [method, p] of ops) {
      if (p.startsWith("/debug/pprof/profile") || p.endsWith(":consume") || p.endsWith(":subscribe")) continue; // long-running
      const concrete = p.replace(/\{[^}]+\}/g, (v) => (v === "{id}" ? "1" : "x"));
      const res = await fetch(`${base}${concrete}`, { method, ...(method === "GET" || method === "DELETE" ? {} : { body: "{}", headers: { "content-type": "application/json" } }) });
      const text = await res.text();
      expect(res.status, `${method} ${p}`).not.to.equal(405);
      expect(text, `${method} ${p}`).not.to.include("no route for");
    }
    // And an unlisted path is not served.
    expect((await call(base, "GET", "/v1/unlisted")).status).to.equal(404);
  });
});

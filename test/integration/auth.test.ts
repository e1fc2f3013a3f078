// Token auth on a real node started with --auth-file: every entry point
// (gRPC unary and streams, the HTTP gateway and its streams, the original's
// API, the operator endpoints, the SDK) asks for a token and honours its
// per-topic push / consume / admin grants.
import { createHash } from "node:crypto";
import { expect } from "chai";
import { GmqClient } from "../../src/client/index.js";
import { bearerToken } from "../../src/client/connection.js";
import type { ConsumeResponse, PushStreamResponse } from "../../src/gen/gmq/v1/broker.js";
import { codeOf, connect, grpc, type Client } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { AuthFile, opsToken, TokenClients } from "../helpers/auth-file.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;
const TOKENS = {
  admin: "admin-token-0123456789",
  producer: "producer-token-0123456789",
  worker: "worker-token-0123456789",
  hashed: "hashed-token-0123456789",
};

describe("token auth (real node, --auth-file)", function () {
  this.timeout(120_000);
  let auth: AuthFile;
  let node: NodeProcess;
  let base: string;
  const clients = new TokenClients(() => node.grpcAddr);
  const as = (token?: string): Client => clients.as(token);
  const http = (path: string, token?: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { ...(token && { authorization: `Bearer ${token}` }), ...(init.headers as object) } });

  before(async () => {
    auth = new AuthFile([
      opsToken(TOKENS.admin),
      { name: "orders-api", token: TOKENS.producer, push: ["orders", "orders.*", "news"] },
      { name: "orders-worker", token: TOKENS.worker, consume: ["orders", "news"] },
      { name: "hashed", tokenSha256: createHash("sha256").update(TOKENS.hashed).digest("hex"), admin: ["orders"] },
    ]);
    node = await startNodeProcess({ args: ["--auth-file", auth.file] });
    base = `http://${node.httpAddr}`;
    await as(TOKENS.admin).call("declareQueue", { topic: "orders", bindKey: "paid" });
    await as(TOKENS.admin).call("declareQueue", { topic: "billing", bindKey: "q" });
  });

  after(async () => {
    clients.closeAll();
    await node?.stop();
    node?.cleanup();
    auth?.remove();
  });

  describe("over gRPC", () => {
    it("refuses a call without a token or with an unknown one (UNAUTHENTICATED), but answers Ping", async () => {
      expect(await codeOf(as().call("push", { topic: "orders", routeKey: "paid", body: Buffer.from("x") }))).to.equal(S.UNAUTHENTICATED);
      expect(await codeOf(as("not-a-known-token-at-all").call("push", { topic: "orders", routeKey: "paid", body: Buffer.from("x") }))).to.equal(
        S.UNAUTHENTICATED,
      );
      expect(await codeOf(as().call("listTopics", {}))).to.equal(S.UNAUTHENTICATED);
      const pong = await as().call<object, { nodeId: number }>("ping", {});
      expect(pong.nodeId).to.equal(1);
    });

    it("lets each token do what its grants name, on the topics they match, and nothing else (PERMISSION_DENIED)", async () => {
      const producer = as(TOKENS.producer);
      const worker = as(TOKENS.worker);
      await as(TOKENS.admin).call("declareQueue", { topic: "orders", bindKey: "grants" });
      const pushed = await producer.call<object, { id: bigint }>("push", { topic: "orders", routeKey: "grants", body: Buffer.from("o1") });
      expect(await codeOf(producer.call("push", { topic: "billing", routeKey: "q", body: Buffer.from("b") }))).to.equal(S.PERMISSION_DENIED);
      expect(await codeOf(producer.call("pop", { topic: "orders", bindKey: "grants" }))).to.equal(S.PERMISSION_DENIED);
      expect(await codeOf(producer.call("config", { topic: "orders", autoAck: true }))).to.equal(S.PERMISSION_DENIED);

      const popped = await worker.call<object, { message: { id: bigint } }>("pop", { topic: "orders", bindKey: "grants" });
      expect(popped.message.id).to.equal(pushed.id);
      await worker.call("ack", { topic: "orders", bindKey: "grants", id: pushed.id });
      expect(await codeOf(worker.call("push", { topic: "orders", routeKey: "paid", body: Buffer.from("x") }))).to.equal(S.PERMISSION_DENIED);
      expect(await codeOf(worker.call("pop", { topic: "billing", bindKey: "q" }))).to.equal(S.PERMISSION_DENIED);
      expect(await codeOf(worker.call("declareQueue", { topic: "orders", bindKey: "other" }))).to.equal(S.PERMISSION_DENIED);
    });

    it("lets a trace be read with consume or admin, and names the token a message was delivered to", async () => {
      await as(TOKENS.admin).call("config", { topic: "orders", trace: true });
      await as(TOKENS.admin).call("declareQueue", { topic: "orders", bindKey: "traced" });
      const { id } = await as(TOKENS.producer).call<object, { id: bigint }>("push", { topic: "orders", routeKey: "traced", body: Buffer.from("t") });
      await as(TOKENS.worker).call("pop", { topic: "orders", bindKey: "traced" });
      const { events } = await as(TOKENS.worker).call<object, { events: { kind: number; tokenName: string }[] }>("traceMessage", { topic: "orders", id });
      expect(events.map((e) => e.tokenName)).to.deep.equal(["", "orders-worker"]);
      const byAdmin = await as(TOKENS.hashed).call<object, { events: unknown[] }>("traceMessage", { topic: "orders", id });
      expect(byAdmin.events).to.deep.equal(events);
      expect(await codeOf(as(TOKENS.producer).call("traceMessage", { topic: "orders", id }))).to.equal(S.PERMISSION_DENIED);
      await as(TOKENS.admin).call("config", { topic: "orders", trace: false });
    });

    it("matches topic patterns with *, and keeps node-wide calls for grants on every topic", async () => {
      const producer = as(TOKENS.producer);
      await as(TOKENS.admin).call("declareQueue", { topic: "orders.eu", bindKey: "q" });
      await producer.call("push", { topic: "orders.eu", routeKey: "q", body: Buffer.from("eu") });
      expect(await codeOf(producer.call("push", { topic: "ordersx", routeKey: "q", body: Buffer.from("x") }))).to.equal(S.PERMISSION_DENIED);

      const hashed = as(TOKENS.hashed); // admin on "orders" only, given as a SHA-256 digest
      const stat = await hashed.call<object, { stat: { topic: string } }>("getTopicStat", { topic: "orders" });
      expect(stat.stat.topic).to.equal("orders");
      expect(await codeOf(hashed.call("getTopicStat", { topic: "billing" }))).to.equal(S.PERMISSION_DENIED);
      expect(await codeOf(hashed.call("listTopics", {}))).to.equal(S.PERMISSION_DENIED);
      const all = await as(TOKENS.admin).call<object, { topics: { topic: string }[] }>("listTopics", {});
      expect(all.topics.map((t) => t.topic)).to.include.members(["orders", "billing"]);
    });

    it("lets only admin on the topic delete it (DeleteTopic)", async () => {
      await as(TOKENS.admin).call("declareQueue", { topic: "orders.doomed", bindKey: "q" });
      for (const token of [TOKENS.producer, TOKENS.worker, TOKENS.hashed]) {
        expect(await codeOf(as(token).call("deleteTopic", { topic: "orders.doomed" })), token).to.equal(S.PERMISSION_DENIED);
      }
      const reply = await as(TOKENS.admin).call<object, { bindKeys: string[] }>("deleteTopic", { topic: "orders.doomed" });
      expect(reply.bindKeys).to.deep.equal(["q"]);
    });

    it("checks every message of a PushStream: refused topics get an error reply, the others are stored", async () => {
      const stream = as(TOKENS.producer).pushStream();
      const replies: PushStreamResponse[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on("data", (r: PushStreamResponse) => replies.push(r));
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      stream.write({ seq: 1n, topic: "orders", routeKey: "paid", body: Buffer.from("ok"), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
      stream.write({ seq: 2n, topic: "billing", routeKey: "q", body: Buffer.from("no"), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
      stream.end();
      await done;
      const bySeq = new Map(replies.map((r) => [r.seq, r]));
      expect(bySeq.get(1n)?.errorCode).to.equal(0);
      expect(bySeq.get(2n)?.errorCode).to.equal(S.PERMISSION_DENIED);
      expect(bySeq.get(2n)?.errorMessage).to.match(/orders-api may not push on topic "billing"/);
      const stat = await as(TOKENS.admin).call<object, { stat: { backlog: bigint } }>("getTopicStat", { topic: "billing" });
      expect(stat.stat.backlog).to.equal(0n);
    });

    it("refuses a Consume or Subscribe stream outside the token's grants", async () => {
      const fails = (stream: grpc.ClientDuplexStream<unknown, unknown> | grpc.ClientReadableStream<unknown>) =>
        new Promise<number>((resolve) => {
          stream.on("data", () => {});
          stream.on("error", (err: grpc.ServiceError) => resolve(err.code));
        });
      const consume = as(TOKENS.producer).consume();
      const consumeFailed = fails(consume);
      consume.write({ kind: { $case: "subscribe", value: { topic: "orders", bindKey: "paid", maxInFlight: 10, maxBatchBytes: 0 } } });
      expect(await consumeFailed).to.equal(S.PERMISSION_DENIED);
      expect(await fails(as(TOKENS.worker).subscribe({ channels: ["news", "secret"] }))).to.equal(S.PERMISSION_DENIED);

      // Within its grants the same worker consumes.
      const admin = as(TOKENS.admin);
      const topic = "orders";
      await admin.call("declareQueue", { topic, bindKey: "stream" });
      await admin.call("push", { topic, routeKey: "stream", body: Buffer.from("streamed") });
      const ok = as(TOKENS.worker).consume();
      const got: string[] = [];
      ok.on("data", (r: ConsumeResponse) => got.push(...r.messages.map((m) => m.body.toString())));
      ok.on("error", () => {});
      ok.write({ kind: { $case: "subscribe", value: { topic, bindKey: "stream", maxInFlight: 10, maxBatchBytes: 0 } } });
      await waitFor(() => got.includes("streamed"), { what: "the worker's delivery" });
      expect(got).to.deep.equal(["streamed"]);
      ok.end();
    });
  });

  describe("over HTTP", () => {
    it("answers 401 without a token and 403 outside the grants, as {code, message, details}", async () => {
      const push = (token?: string, topic = "orders") =>
        http(`/v1/topics/${topic}/messages`, token, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ routeKey: "paid", body: "aGk=" }) });
      const anonymous = await push();
      expect(anonymous.status).to.equal(401);
      expect(await anonymous.json()).to.deep.include({ code: "UNAUTHENTICATED", reason: "TOKEN_REQUIRED" });
      const denied = await push(TOKENS.producer, "billing");
      expect(denied.status).to.equal(403);
      const deniedBody = (await denied.json()) as { message: string; reason: string };
      expect(deniedBody.message).to.match(/may not push on topic "billing"/);
      expect(deniedBody.reason).to.equal("NOT_GRANTED");
      expect((await push(TOKENS.producer)).status).to.equal(200);
      expect((await http("/v1/topics/orders/queues/paid:pop", TOKENS.producer)).status).to.equal(403);
      const popped = await http("/v1/topics/orders/queues/paid:pop", TOKENS.worker);
      expect(popped.status).to.equal(200);
      const { message } = (await popped.json()) as { message: { id: string } };
      const acked = await http(`/v1/topics/orders/queues/paid/messages/${message.id}:ack`, TOKENS.worker, { method: "POST" });
      expect(acked.status).to.equal(200);
    });

    it("refuses a consume stream outside the grants before it starts", async () => {
      expect((await http("/v1/topics/billing/queues/q:consume", TOKENS.worker)).status).to.equal(403);
      expect((await http("/v1/channels:subscribe?channels=secret", TOKENS.worker)).status).to.equal(403);
    });

    it("keeps /healthz, /readyz and /openapi.json open; /metrics and /debug/pprof need admin on every topic", async () => {
      for (const path of ["/healthz", "/readyz", "/openapi.json"]) expect((await http(path)).status, path).to.equal(200);
      expect((await http("/metrics")).status).to.equal(401);
      expect((await http("/metrics", TOKENS.hashed)).status).to.equal(403);
      expect((await http("/debug/pprof/heap", TOKENS.producer)).status).to.equal(403);
      const metrics = await http("/metrics", TOKENS.admin);
      expect(metrics.status).to.equal(200);
      expect(await metrics.text()).to.include("gmq_queue_pushed_total");
    });

    it("declares the bearer-token scheme in /openapi.json and requires it on every operation but the open ones", async () => {
      type Op = { operationId: string; security?: unknown[] };
      const doc = (await (await http("/openapi.json")).json()) as {
        security: unknown[];
        components: { securitySchemes: Record<string, unknown> };
        paths: Record<string, Record<string, Op>>;
      };
      expect(doc.components.securitySchemes).to.deep.equal({
        bearerAuth: { type: "http", scheme: "bearer", description: "a token from the node's --auth-file (README: Authentication)" },
      });
      expect(doc.security).to.deep.equal([{ bearerAuth: [] }]);
      const open = Object.entries(doc.paths)
        .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => [`${method.toUpperCase()} ${path}`, op] as const))
        .filter(([, op]) => op.security !== undefined);
      for (const [, op] of open) expect(op.security).to.deep.equal([]);
      expect(open.map(([name]) => name).sort()).to.deep.equal(["GET /dashboard", "GET /dashboard/app.js", "GET /dashboard/uPlot.iife.min.js", "GET /dashboard/uPlot.min.css", "GET /healthz", "GET /openapi.json", "GET /ping", "GET /readyz", "GET /v1/ping"]);
    });

    it("checks the original API's routes as the RPCs they call, in the original's envelope", async () => {
      const form = (data: object) => ({
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `data=${encodeURIComponent(JSON.stringify(data))}`,
      });
      const pushed = await (await http("/push", TOKENS.producer, form({ topic: "orders", route_key: "paid", body: "legacy", delay: 0 }))).json();
      expect(pushed).to.deep.include({ code: 0, msg: "success" });
      const anonymous = await (await http("/push", undefined, form({ topic: "orders", route_key: "paid", body: "x", delay: 0 }))).json();
      expect(anonymous).to.deep.include({ code: 1, error: "UNAUTHENTICATED" });
      const config = await (await http("/config?topic=orders&isAutoAck=1", TOKENS.worker)).json();
      expect(config).to.deep.include({ code: 1, error: "PERMISSION_DENIED" });
      const exit = await (await http("/exitTopic?topic=orders", TOKENS.producer)).json();
      expect(exit).to.deep.include({ code: 1, error: "PERMISSION_DENIED" });
      const popped = (await (await http("/pop?topic=orders&bindKey=paid", TOKENS.worker)).json()) as { code: number; data: { id: string; body: string } };
      expect(popped.code).to.equal(0);
      const acked = await (await http(`/ack?msgId=${popped.data.id}&topic=orders&bindKey=paid`, TOKENS.worker)).json();
      expect(acked).to.deep.include({ code: 0 });
      expect(await (await http("/ping")).text()).to.equal("OK");
    });
  });

  describe("through the SDK", () => {
    it("sends the client's token with every call; without one the node refuses", async () => {
      const client = await GmqClient.connect({ addresses: [node.grpcAddr], token: TOKENS.admin, pushStream: true });
      const anonymous = await GmqClient.connect({ addresses: [node.grpcAddr], pushStream: false, maxAttempts: 1 });
      try {
        const r = await client.push("orders", "via sdk", { routeKey: "paid" });
        expect(r.id > 0n).to.equal(true);
        let refused: unknown;
        try {
          await anonymous.push("orders", "x", { routeKey: "paid" });
        } catch (err) {
          refused = err;
        }
        expect((refused as { code?: number })?.code).to.equal(S.UNAUTHENTICATED);
      } finally {
        await client.close();
        await anonymous.close();
      }
    });
  });

  describe("reloading the auth file (SIGHUP)", () => {
    it("answers with the file's new tokens after SIGHUP, and keeps the old ones when the new file is bad", async () => {
      const reloadFile = new AuthFile([{ name: "first", token: "first-token-0123456789", admin: ["*"] }]);
      const reloading = await startNodeProcess({ args: ["--auth-file", reloadFile.file] });
      const list = (token: string) => connect(reloading.grpcAddr, undefined, { interceptors: [bearerToken(token)] });
      const code = async (token: string) => {
        const c = list(token);
        try {
          await c.call("listTopics", {});
          return S.OK;
        } catch (err) {
          return (err as grpc.ServiceError).code;
        } finally {
          c.close();
        }
      };
      try {
        expect(await code("first-token-0123456789")).to.equal(S.OK);
        reloadFile.write([{ name: "second", token: "second-token-0123456789", admin: ["*"] }]);
        process.kill(reloading.pid, "SIGHUP");
        await waitFor(async () => (await code("second-token-0123456789")) === S.OK, { what: "the node to take the reloaded file" });
        expect(await code("first-token-0123456789")).to.equal(S.UNAUTHENTICATED);

        reloadFile.write("{ not json");
        process.kill(reloading.pid, "SIGHUP");
        await waitFor(() => reloading.logs.some((l) => l.includes("auth file not reloaded")), { what: "the node to log that it kept the old file" });
        expect(await code("second-token-0123456789")).to.equal(S.OK);
      } finally {
        expect(await reloading.stop()).to.equal(0);
        reloading.cleanup();
        reloadFile.remove();
      }
    });
  });
});

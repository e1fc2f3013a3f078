// Token auth against a real node: a reload of the auth file (SIGHUP) that
// removes a token or narrows its grants ends the streams it had opened, and
// an unauthenticated request is refused at its headers (HTTP) or metadata
// (gRPC), before its body is read; every refusal is counted in /metrics.
import { once } from "node:events";
import { connect as tcpConnect } from "node:net";
import { expect } from "chai";
import { reasonFromTrailers } from "../../src/client/errors.js";
import type { ConsumeResponse, Message, PushStreamResponse } from "../../src/gen/gmq/v1/broker.js";
import { AuthFile, opsToken, TokenClients, type TokenEntry } from "../helpers/auth-file.js";
import { grpc, type Client } from "../helpers/grpc-client.js";
import { EventReader } from "../helpers/http.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;
const TOKENS = {
  admin: "revoke-admin-token-0123456789",
  worker: "revoke-worker-token-0123456789",
  producer: "revoke-producer-token-0123456789",
  listener: "revoke-listener-token-0123456789",
  httpWorker: "revoke-http-worker-token-0123456789",
};
const ADMIN = opsToken(TOKENS.admin);

/** How a stream ended: its status code and reason (ErrorInfo in the trailers). */
const ending = (stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>) =>
  new Promise<{ code: number; reason: string; details: string }>((resolve) => {
    stream.on("error", (err: grpc.ServiceError) => resolve({ code: err.code, reason: reasonFromTrailers(err.metadata), details: err.details }));
    stream.on("end", () => resolve({ code: S.OK, reason: "", details: "" }));
  });

describe("token auth: revocation reaches open streams, auth before the body (real node)", function () {
  this.timeout(120_000);
  let auth: AuthFile;
  let node: NodeProcess;
  let base: string;
  const clients = new TokenClients(() => node.grpcAddr);
  const as = (token?: string): Client => clients.as(token);
  const writeTokens = (tokens: TokenEntry[]) => auth.write(tokens);
  const metric = async (series: string): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKENS.admin}` } })).text();
    const line = text.split("\n").find((l) => l.startsWith(series));
    return line ? Number(line.slice(series.length).trim()) : 0;
  };

  before(async () => {
    auth = new AuthFile([
      ADMIN,
      { name: "worker", token: TOKENS.worker, consume: ["jobs", "news"] },
      { name: "producer", token: TOKENS.producer, push: ["jobs", "other"] },
      { name: "listener", token: TOKENS.listener, consume: ["news"] },
      { name: "http-worker", token: TOKENS.httpWorker, consume: ["jobs", "other"] },
    ]);
    node = await startNodeProcess({ args: ["--auth-file", auth.file] });
    base = `http://${node.httpAddr}`;
  });

  after(async () => {
    clients.closeAll();
    await node?.stop();
    node?.cleanup();
    auth?.remove();
  });

  it("ends Consume, Subscribe and PushStream (gRPC) and consume/subscribe (HTTP) of a removed or narrowed token after SIGHUP; unacked messages return", async () => {
    const admin = as(TOKENS.admin);
    await admin.call("declareQueue", { topic: "jobs", bindKey: "g" });
    await admin.call("declareQueue", { topic: "jobs", bindKey: "h" });
    for (let i = 0; i < 3; i++) await admin.call("push", { topic: "jobs", routeKey: "g", body: Buffer.from(`g${i}`) });
    for (let i = 0; i < 2; i++) await admin.call("push", { topic: "jobs", routeKey: "h", body: Buffer.from(`h${i}`) });

    // gRPC: the worker consumes (and holds three unacked) and subscribes; the producer streams pushes.
    const consume = as(TOKENS.worker).consume();
    const held: Message[] = [];
    consume.on("data", (r: ConsumeResponse) => held.push(...r.messages));
    const consumeEnd = ending(consume);
    consume.write({ kind: { $case: "subscribe", value: { topic: "jobs", bindKey: "g", maxInFlight: 10, maxBatchBytes: 0 } } });
    const subscribe = as(TOKENS.listener).subscribe({ channels: ["news"] });
    subscribe.on("data", () => {});
    const subscribeEnd = ending(subscribe);
    const push = as(TOKENS.producer).pushStream();
    const answers: PushStreamResponse[] = [];
    push.on("data", (r: PushStreamResponse) => answers.push(r));
    const pushEnd = ending(push);
    push.write({ seq: 1n, topic: "jobs", routeKey: "g", body: Buffer.from("streamed"), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
    // A stream of a token that keeps its grants stays open.
    const kept = as(TOKENS.admin).subscribe({ channels: ["news"] });
    const keptGot: string[] = [];
    kept.on("data", (r: { body: Buffer }) => keptGot.push(r.body.toString()));
    kept.on("error", () => {});

    // HTTP: a consume stream holding two unacked, and a subscription.
    const auth = { authorization: `Bearer ${TOKENS.httpWorker}` };
    const httpConsume = new EventReader(await fetch(`${base}/v1/topics/jobs/queues/h:consume`, { headers: auth }));
    const httpGot = [await httpConsume.next(), await httpConsume.next()];
    expect(httpGot.map((m) => Buffer.from(m.body, "base64").toString())).to.deep.equal(["h0", "h1"]);
    const httpListener = new EventReader(await fetch(`${base}/v1/channels:subscribe?channels=news`, { headers: { authorization: `Bearer ${TOKENS.listener}` } }));

    await waitFor(() => held.length === 4 && answers.length === 1, { what: "the worker's four deliveries and the producer's answer" });
    expect(answers[0]!.errorCode).to.equal(0);
    // Subscriptions are registered when the node has answered a publish to them: wait until both listeners count.
    await waitFor(async () => (await admin.call<object, { receivers: number }>("publish", { channel: "news", body: Buffer.from("before") })).receivers === 3, {
      what: "three subscribers to news",
    });
    await waitFor(() => keptGot.includes("before"), { what: "the kept subscriber's first message" });
    const refusedBefore = await metric('gmq_auth_failures_total{reason="TOKEN_UNKNOWN"}');

    // The worker's token is removed; the producer may no longer push to jobs; the listener loses news; http-worker loses jobs.
    writeTokens([
      ADMIN,
      { name: "producer", token: TOKENS.producer, push: ["other"] },
      { name: "listener", token: TOKENS.listener, consume: ["elsewhere"] },
      { name: "http-worker", token: TOKENS.httpWorker, consume: ["other"] },
    ]);
    process.kill(node.pid, "SIGHUP");

    const c = await consumeEnd;
    expect(c).to.deep.include({ code: S.UNAUTHENTICATED, reason: "TOKEN_UNKNOWN" });
    expect(c.details).to.match(/auth file was reloaded: unknown token; the stream is ended/);
    expect(await subscribeEnd).to.deep.include({ code: S.PERMISSION_DENIED, reason: "NOT_GRANTED" });
    const p = await pushEnd;
    expect(p).to.deep.include({ code: S.PERMISSION_DENIED, reason: "NOT_GRANTED" });
    expect(p.details).to.match(/token producer may not push on topic "jobs"/);
    const httpEnd = await httpConsume.next();
    expect(httpEnd.error).to.deep.include({ code: "PERMISSION_DENIED", reason: "NOT_GRANTED" });
    // The listener first reads the publishes made before the reload.
    let last = await httpListener.next();
    while (!last.error) last = await httpListener.next();
    expect(last.error).to.deep.include({ code: "PERMISSION_DENIED", reason: "NOT_GRANTED" });

    // The unacked messages of both consumers are back in their queues.
    const ready = async (bindKey: string) => {
      const { stat } = await admin.call<object, { stat: { queues: { bindKey: string; ready: bigint; inFlight: bigint }[] } }>("getTopicStat", { topic: "jobs" });
      return stat.queues.find((q) => q.bindKey === bindKey)!;
    };
    expect(await ready("g")).to.deep.include({ ready: 4n, inFlight: 0n });
    expect(await ready("h")).to.deep.include({ ready: 2n, inFlight: 0n });
    // Counted: the worker's stream ended with TOKEN_UNKNOWN.
    expect(await metric('gmq_auth_failures_total{reason="TOKEN_UNKNOWN"}')).to.be.at.least(refusedBefore + 1);
    kept.cancel();
  });

  it("refuses an unauthenticated HTTP upload at its headers and closes the connection, without reading the body", async () => {
    const socket = tcpConnect(Number(node.httpAddr.split(":")[1]), "127.0.0.1");
    await once(socket, "connect");
    const declared = 50 * 1024 * 1024;
    socket.write(`POST /v1/topics/jobs/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n`);
    // A first slice of the 50 MB; the rest is never sent, so an answer proves the node did not wait for it.
    socket.write(Buffer.alloc(64 * 1024, 0x20));
    let reply = "";
    socket.on("data", (d: Buffer) => (reply += d.toString("latin1")));
    socket.on("error", () => {});
    await once(socket, "close");
    expect(reply).to.match(/^HTTP\/1\.1 401 /);
    expect(reply.toLowerCase()).to.include("connection: close");
    expect(reply).to.include('"reason":"TOKEN_REQUIRED"');
  });

  it("answers 401 (not 400) to an unauthenticated malformed body, and 403 at the headers to a token with no grant for the route", async () => {
    const post = (token?: string) =>
      fetch(`${base}/v1/topics/jobs/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) },
        body: "{not json",
      });
    const anonymous = await post();
    expect(anonymous.status).to.equal(401);
    expect(await anonymous.json()).to.deep.include({ reason: "TOKEN_REQUIRED" });
    // The listener may consume but push nowhere: refused before its (malformed) body is parsed.
    const listener = await post(TOKENS.listener);
    expect(listener.status).to.equal(403);
    expect(((await listener.json()) as { message: string }).message).to.match(/may not push on any topic/);
    // The original API's /push reads its body only for a token that may push.
    const legacy = await fetch(`${base}/push`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "data=%7Bbroken" });
    expect(((await legacy.json()) as { reason: string }).reason).to.equal("TOKEN_REQUIRED");
  });

  it("refuses an unauthenticated gRPC call at its metadata, before its request is deserialized, and counts refusals by reason", async () => {
    const raw = new grpc.Client(node.grpcAddr, grpc.credentials.createInsecure());
    try {
      // Bytes that are no PushRequest: deserialized first they would be INVALID_ARGUMENT.
      const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
      const call = (md: grpc.Metadata) =>
        new Promise<{ code: number; reason: string }>((resolve) => {
          raw.makeUnaryRequest(
            "/gmq.v1.BrokerService/Push",
            () => garbage,
            (b: Buffer) => b,
            Buffer.alloc(0),
            md,
            (err) => resolve({ code: err?.code ?? S.OK, reason: err ? reasonFromTrailers(err.metadata) : "" }),
          );
        });
      const before = await metric('gmq_auth_failures_total{reason="TOKEN_REQUIRED"}');
      expect(await call(new grpc.Metadata())).to.deep.equal({ code: S.UNAUTHENTICATED, reason: "TOKEN_REQUIRED" });
      const listener = new grpc.Metadata();
      listener.set("authorization", `Bearer ${TOKENS.listener}`);
      expect(await call(listener)).to.deep.equal({ code: S.PERMISSION_DENIED, reason: "NOT_GRANTED" });
      // With a token that may push, the same bytes reach the deserializer.
      const producer = new grpc.Metadata();
      producer.set("authorization", `Bearer ${TOKENS.admin}`);
      expect((await call(producer)).code).to.equal(S.INVALID_ARGUMENT);
      expect(await metric('gmq_auth_failures_total{reason="TOKEN_REQUIRED"}')).to.equal(before + 1);
      // Logged too, at most one line per 10 s (refusals are the client's to cause).
      expect(node.logs.some((l) => l.includes("auth: request refused"))).to.equal(true);
    } finally {
      raw.close();
    }
  });
});

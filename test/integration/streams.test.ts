// The streams' shared behaviour (one implementation, streams.ts, behind the
// gRPC and HTTP adapters): the same limits, defaults and error reasons on both protocols.
import { expect } from "chai";
import type { ConsumeResponse, Message, PushStreamResponse, SubscribeResponse } from "../../src/gen/gmq/v1/broker.js";
import { connect, grpc, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { decodeStatusDetails } from "../helpers/error-table.js";
import { EventReader, b64, call, unb64 } from "../helpers/http.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;
const BODY = Buffer.alloc(200 * 1024, "x"); // under the test node's 256 KiB body limit
/** Far more than a subscriber may fall behind (8 MiB) plus what socket and flow-control buffers hold. */
const MAX_PUBLISHES = 400;

describe("streams over gRPC and HTTP (real node)", function () {
  this.timeout(60_000);
  let node: NodeProcess;
  let client: Client;
  let base: string;

  before(async () => {
    node = await startNodeProcess();
    client = connect(node.grpcAddr);
    base = `http://${node.httpAddr}`;
  });
  after(async () => {
    client?.close();
    await node?.stop();
    node?.cleanup();
  });

  /** Publishes until nobody receives the messages any more (the subscriber was ended); returns how many reached it. */
  async function publishUntilDropped(channel: string): Promise<number> {
    for (let i = 0; i < MAX_PUBLISHES; i++) {
      const { receivers } = await client.call<object, { receivers: number }>("publish", { channel, body: BODY });
      if (receivers === 0) return i;
    }
    throw new Error(`the subscriber still received after ${MAX_PUBLISHES} publishes`);
  }

  it("ends a gRPC subscriber that stops reading with RESOURCE_EXHAUSTED / SUBSCRIBER_TOO_SLOW once 8 MiB of messages wait for it", async () => {
    const channel = uniqueTopic("slow");
    // Its own connection: the publishes below must not share its flow-control window.
    const reader = connect(node.grpcAddr);
    try {
      const sub = reader.subscribe({ channels: [channel] });
      let received = 0;
      const ended = new Promise<grpc.ServiceError>((resolve) => sub.on("error", resolve));
      // Paused once reading started: grpc-js then stops reading the HTTP/2 stream, and flow control stops the node's writes.
      sub.on("data", (_m: SubscribeResponse) => received++);
      sub.pause();
      await waitFor(async () => (await client.call<object, { receivers: number }>("publish", { channel, body: Buffer.from("hello") })).receivers === 1, { what: "the subscription is live", deadlineMs: 20_000 });
      const reached = await publishUntilDropped(channel);
      expect(reached).to.be.at.least(Math.floor((8 * 1024 * 1024) / BODY.length)); // it may fall 8 MiB behind first
      sub.resume();
      const err = await ended;
      expect(err.code).to.equal(S.RESOURCE_EXHAUSTED);
      expect(err.details).to.match(/subscriber too slow: more than 8 MiB/);
      const st = decodeStatusDetails(err.metadata.get("grpc-status-details-bin")[0] as Buffer);
      expect(st.details.map((d) => [d.domain, d.reason])).to.deep.equal([["gmq.v1", "SUBSCRIBER_TOO_SLOW"]]);
      expect(received).to.be.at.most(reached + 1);
    } finally {
      reader.close();
    }
  });

  it("ends an HTTP subscriber that stops reading with a RESOURCE_EXHAUSTED / SUBSCRIBER_TOO_SLOW error line once 8 MiB of messages wait for it", async () => {
    const channel = uniqueTopic("slow");
    const res = await fetch(`${base}/v1/channels:subscribe?channels=${channel}`);
    expect(res.status).to.equal(200);
    await waitFor(async () => (await client.call<object, { receivers: number }>("publish", { channel, body: Buffer.from("hello") })).receivers === 1, { what: "the subscription is live", deadlineMs: 20_000 });
    await publishUntilDropped(channel);
    const events = new EventReader(res);
    let last: { error?: { code: string; reason: string; message: string; details: { reason: string; domain: string }[] } } = {};
    while (!last.error) last = await events.next(20_000);
    expect(last.error.code).to.equal("RESOURCE_EXHAUSTED");
    expect(last.error.reason).to.equal("SUBSCRIBER_TOO_SLOW");
    expect(last.error.message).to.match(/subscriber too slow/);
    expect(last.error.details.map((d) => [d.domain, d.reason])).to.deep.equal([["gmq.v1", "SUBSCRIBER_TOO_SLOW"]]);
  });

  it("gives a gRPC Consume stream that leaves max_in_flight at 0 the default credit of 100", async () => {
    const topic = uniqueTopic("credit");
    await client.call("declareQueue", { topic, bindKey: "q" });
    await client.call("pushBatch", { topic, messages: Array.from({ length: 150 }, (_, i) => ({ routeKey: "q", body: Buffer.from(`m${i}`) })) });
    const stream = client.consume();
    const got: Message[] = [];
    stream.on("data", (r: ConsumeResponse) => got.push(...r.messages));
    stream.on("error", () => {});
    stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 0, maxBatchBytes: 0 } } });
    await waitFor(() => got.length >= 100, { what: "100 messages arrived", deadlineMs: 20_000 });
    const { stat } = await client.call<object, { stat: { inFlight: bigint; backlog: bigint } }>("getTopicStat", { topic });
    expect(stat.inFlight).to.equal(100n);
    expect(stat.backlog).to.equal(50n);
    stream.end();
  });

  it("gives an HTTP consume stream without max_in_flight the same default credit of 100", async () => {
    const topic = uniqueTopic("credit");
    await client.call("declareQueue", { topic, bindKey: "q" });
    await client.call("pushBatch", { topic, messages: Array.from({ length: 150 }, (_, i) => ({ routeKey: "q", body: Buffer.from(`m${i}`) })) });
    const events = new EventReader(await fetch(`${base}/v1/topics/${topic}/queues/q:consume`));
    for (let i = 0; i < 100; i++) await events.next();
    const stat = (await call(base, "GET", `/v1/topics/${topic}/stat`)).body.stat;
    expect(stat.inFlight).to.equal("100");
    expect(stat.backlog).to.equal("50");
    await events.cancel();
  });

  it("answers each PushStream push with the code, message and reason a unary Push gives the same request", async () => {
    const topic = uniqueTopic("push");
    await client.call("declareQueue", { topic, bindKey: "q" });
    const bad = [
      { routeKey: "q", delayMs: 2n ** 60n, ttlMs: 0n }, // delay_ms too large
      { routeKey: "q", delayMs: 0n, ttlMs: 2n ** 60n }, // ttl_ms too large
      { routeKey: "q", delayMs: 400n * 24n * 3600n * 1000n, ttlMs: 0n }, // over the longest delay
      { routeKey: "nowhere", delayMs: 0n, ttlMs: 0n }, // no queue matches
    ];
    const stream = client.pushStream();
    const replies: PushStreamResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (r: PushStreamResponse) => replies.push(r));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    bad.forEach((b, i) => stream.write({ seq: BigInt(i), topic, body: Buffer.from("x"), idempotencyKey: "", pushes: [], ...b }));
    stream.end();
    await done;
    expect(replies).to.have.length(bad.length);
    for (const [i, b] of bad.entries()) {
      const unary = await client.call("push", { topic, body: Buffer.from("x"), ...b }).then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
      const reply = replies.find((r) => r.seq === BigInt(i))!;
      expect(unary, `push ${i}`).not.to.equal(undefined);
      const [info] = decodeStatusDetails(unary!.metadata.get("grpc-status-details-bin")[0] as Buffer).details;
      expect({ code: reply.errorCode, message: reply.errorMessage, reason: reply.errorReason }, `push ${i}`).to.deep.equal({
        code: unary!.code,
        message: unary!.details,
        reason: info!.reason,
      });
    }
    expect(replies.find((r) => r.seq === 3n)!.errorReason).to.equal("NO_ROUTE");
  });

  it("settles each message at delivery on an auto-ack topic over HTTP: nothing in flight, credit back once written", async () => {
    const topic = uniqueTopic("auto");
    await call(base, "PUT", `/v1/topics/${topic}/config`, { autoAck: true });
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    for (let i = 0; i < 5; i++) await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64(`m${i}`) });
    const events = new EventReader(await fetch(`${base}/v1/topics/${topic}/queues/q:consume?max_in_flight=2`));
    const got: { body: string; deadlineMs: string }[] = [];
    for (let i = 0; i < 5; i++) got.push(await events.next());
    expect(got.map((m) => unb64(m.body))).to.deep.equal(["m0", "m1", "m2", "m3", "m4"]);
    expect(got.every((m) => m.deadlineMs === "0")).to.equal(true);
    const stat = (await call(base, "GET", `/v1/topics/${topic}/stat`)).body.stat;
    expect(stat).to.include({ acked: "5", inFlight: "0" });
    await events.cancel();
  });
});

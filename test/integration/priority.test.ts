// Message priorities against a real node process, over gRPC (Push,
// PushBatch, PushStream, Pop, Consume), the HTTP gateway, the original API
// and the SDK: the highest ready priority is delivered first and each one in
// push order, also after kill -9 and a restart; a redelivered or nacked
// message keeps its priority; out-of-range priorities are refused with
// PRIORITY_OUT_OF_RANGE; stats and /metrics count per level.
import { expect } from "chai";
import { GmqClient } from "../../src/client/index.js";
import { reasonFromTrailers } from "../../src/client/errors.js";
import { PushStreamRequest, type ConsumeResponse, type Message, type PopResponse, type PushStreamResponse, type TopicStat } from "../../src/gen/gmq/v1/broker.js";
import { grpc, uniqueTopic } from "../helpers/grpc-client.js";
import { b64, call } from "../helpers/http.js";
import { restartableNode } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

describe("priorities (real node)", function () {
  this.timeout(120_000);
  const fixture = restartableNode();

  const client = () => fixture.n.client;
  const declare = async (topic: string) => client().call("declareQueue", { topic, bindKey: "q" });
  const push = (topic: string, text: string, priority?: number) =>
    client().call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from(text), ...(priority !== undefined && { priority }) });
  const pop = (topic: string) => client().call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs: 0 }).then((r) => r.message as Message);
  const stat = (topic: string) => client().call<object, { stat: TopicStat }>("getTopicStat", { topic }).then((r) => r.stat);
  /** Pops n messages as "body@priority". */
  async function popAll(topic: string, n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const m = await pop(topic);
      out.push(`${m.body.toString()}@${m.priority}`);
    }
    return out;
  }
  /** The gRPC status and reason a call failed with. */
  async function refusal(p: Promise<unknown>): Promise<[grpc.status, string]> {
    try {
      await p;
    } catch (err) {
      const e = err as grpc.ServiceError;
      return [e.code, reasonFromTrailers(e.metadata)];
    }
    throw new Error("expected the call to fail");
  }

  it("pops the highest priority first and each priority in push order, pushed by Push, PushBatch and PushStream", async () => {
    const topic = uniqueTopic("prio-pop");
    await declare(topic);
    await push(topic, "a0", 0);
    await push(topic, "b5", 5);
    await client().call("pushBatch", {
      topic,
      messages: [
        { routeKey: "q", body: Buffer.from("c9"), priority: 9 },
        { routeKey: "q", body: Buffer.from("d-none") },
        { routeKey: "q", body: Buffer.from("e5"), priority: 5 },
      ],
    });
    const stream = client().pushStream();
    const acks: PushStreamResponse[] = [];
    stream.on("data", (r: PushStreamResponse) => acks.push(r));
    stream.on("error", () => {});
    stream.write(PushStreamRequest.fromPartial({ seq: 1n, topic, routeKey: "q", body: Buffer.from("f9"), priority: 9 }));
    stream.write(PushStreamRequest.fromPartial({ seq: 2n, topic, routeKey: "q", body: Buffer.from("g1"), priority: 1 }));
    await waitFor(() => acks.length === 2, { what: "both stream pushes answered" });
    stream.end();
    expect(acks.map((a) => a.errorCode)).to.deep.equal([0, 0]);
    expect(await popAll(topic, 7)).to.deep.equal(["c9@9", "f9@9", "b5@5", "e5@5", "g1@1", "a0@0", "d-none@0"]);
  });

  it("refuses a priority over 9 with INVALID_ARGUMENT and reason PRIORITY_OUT_OF_RANGE on every push path, storing nothing", async () => {
    const topic = uniqueTopic("prio-range");
    await declare(topic);
    const want = [grpc.status.INVALID_ARGUMENT, "PRIORITY_OUT_OF_RANGE"];
    expect(await refusal(push(topic, "x", 10))).to.deep.equal(want);
    expect(await refusal(client().call("pushBatch", { topic, messages: [{ routeKey: "q", body: Buffer.from("ok") }, { routeKey: "q", body: Buffer.from("x"), priority: 99 }] }))).to.deep.equal(want);
    expect(await refusal(client().call("config", { topic, defaultPriority: 10 }))).to.deep.equal(want);
    const stream = client().pushStream();
    const acks: PushStreamResponse[] = [];
    stream.on("data", (r: PushStreamResponse) => acks.push(r));
    stream.on("error", () => {});
    stream.write(PushStreamRequest.fromPartial({ seq: 1n, topic, routeKey: "q", body: Buffer.from("x"), priority: 10 }));
    await waitFor(() => acks.length === 1, { what: "the stream push answered" });
    stream.end();
    expect([acks[0]!.errorCode, acks[0]!.errorReason]).to.deep.equal(want);
    const base = fixture.n.httpBase;
    const http = await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("x"), priority: 10 });
    expect([http.status, http.body.reason]).to.deep.equal([400, "PRIORITY_OUT_OF_RANGE"]);
    expect((await stat(topic)).queues[0]).to.deep.include({ ready: 0n, delayed: 0n });
  });

  it("takes priority and default_priority over the HTTP gateway and the original API", async () => {
    const topic = uniqueTopic("prio-http");
    await declare(topic);
    const base = fixture.n.httpBase;
    const cfg = await call(base, "PUT", `/v1/topics/${topic}/config`, { defaultPriority: 4 });
    expect([cfg.status, cfg.body.config.defaultPriority]).to.deep.equal([200, 4]);
    expect((await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("gw-default") })).status).to.equal(200);
    expect((await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("gw-eight"), priority: 8 })).status).to.equal(200);
    const legacy = await fetch(`${base}/push`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ topic, route_key: "q", body: "legacy-six", priority: 6 }) });
    expect(((await legacy.json()) as { code: number }).code).to.equal(0);
    const legacyBad = await fetch(`${base}/push`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ topic, route_key: "q", body: "x", priority: 10 }) });
    expect(((await legacyBad.json()) as { reason: string }).reason).to.equal("PRIORITY_OUT_OF_RANGE");
    const popped = await call(base, "GET", `/v1/topics/${topic}/queues/q:pop`);
    expect([Buffer.from(popped.body.message.body, "base64").toString(), popped.body.message.priority]).to.deep.equal(["gw-eight", 8]);
    expect(await popAll(topic, 2)).to.deep.equal(["legacy-six@6", "gw-default@4"]);
  });

  it("hands a Consume stream the highest priorities first", async () => {
    const topic = uniqueTopic("prio-consume");
    await declare(topic);
    for (const [text, p] of [["l1", 1], ["h1", 7], ["l2", 1], ["h2", 7], ["m1", 3]] as const) await push(topic, text, p);
    const stream = client().consume();
    const got: Message[] = [];
    stream.on("data", (r: ConsumeResponse) => got.push(...r.messages));
    stream.on("error", () => {});
    stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 10, maxBatchBytes: 0 } } });
    await waitFor(() => got.length === 5, { what: "5 messages consumed" });
    expect(got.map((m) => `${m.body.toString()}@${m.priority}`)).to.deep.equal(["h1@7", "h2@7", "m1@3", "l1@1", "l2@1"]);
    stream.end();
  });

  it("keeps the priority of a message redelivered after its TTR and of a nacked one: both come back before lower ones", async () => {
    const topic = uniqueTopic("prio-retry");
    await declare(topic);
    await push(topic, "h1", 6);
    await push(topic, "h2", 6);
    await push(topic, "low", 2);
    const a = await pop(topic);
    const b = await pop(topic);
    await client().call("nack", { topic, bindKey: "q", id: a.id });
    await client().call("touch", { topic, bindKey: "q", id: b.id, ttrMs: 50n });
    await waitFor(async () => (await stat(topic)).queues[0]!.redelivered === 1n, { what: "h2's TTR expired" });
    const again = [await pop(topic), await pop(topic), await pop(topic)];
    expect(again.map((m) => [m.body.toString(), m.priority, m.retry])).to.deep.equal([
      ["h1", 6, 0],
      ["h2", 6, 1],
      ["low", 2, 0],
    ]);
  });

  it("keeps every level's order, in-flight messages included, across kill -9 and restart", async () => {
    const topic = uniqueTopic("prio-crash");
    await declare(topic);
    await push(topic, "l1", 1);
    await push(topic, "t1", 9);
    await push(topic, "m1", 4);
    await push(topic, "t2", 9);
    await push(topic, "l2", 1);
    const inFlight = await pop(topic);
    expect(inFlight.body.toString()).to.equal("t1");
    await client().call("touch", { topic, bindKey: "q", id: inFlight.id, ttrMs: 200n });
    await fixture.n.restart("kill");
    const before = await stat(topic);
    expect(before.queues[0]!.priorities.map((l) => [l.priority, l.ready + l.inFlight])).to.deep.equal([
      [9, 2n],
      [4, 1n],
      [1, 2n],
      [0, 0n],
    ]);
    await waitFor(async () => (await stat(topic)).queues[0]!.inFlight === 0n, { what: "t1's TTR expired after the restart" });
    const again = [await pop(topic), await pop(topic), await pop(topic), await pop(topic), await pop(topic)];
    expect(again.map((m) => `${m.body.toString()}@${m.priority}/${m.retry}`)).to.deep.equal(["t1@9/1", "t2@9/0", "m1@4/0", "l1@1/0", "l2@1/0"]);
  });

  it("counts ready, in flight and delayed per level in stats and /metrics, and the SDK pushes with a typed priority", async () => {
    const topic = uniqueTopic("prio-sdk");
    await declare(topic);
    for (const pushStream of [false, true]) {
      const sdk = await GmqClient.connect({ addresses: [fixture.n.node.grpcAddr], pushStream });
      try {
        await sdk.push(topic, `sdk-${pushStream}`, { routeKey: "q", priority: 3 });
        await sdk.pushBatch(topic, [{ body: "batch-8", routeKey: "q", priority: 8 }]);
      } finally {
        await sdk.close();
      }
    }
    await client().call("push", { topic, routeKey: "q", body: Buffer.from("delayed-zero"), delayMs: 3_600_000n });
    await pop(topic); // batch-8, in flight
    const q = (await stat(topic)).queues[0]!;
    expect(q.priorities.map((l) => [l.priority, l.ready, l.inFlight, l.delayed])).to.deep.equal([
      [8, 1n, 1n, 0n],
      [3, 2n, 0n, 0n],
      [0, 0n, 0n, 1n],
    ]);
    const metrics = await (await fetch(`${fixture.n.httpBase}/metrics`)).text();
    expect(metrics).to.include(`gmq_queue_priority_backlog{topic="${topic}",queue="q",priority="8"} 1\n`);
    expect(metrics).to.include(`gmq_queue_priority_in_flight{topic="${topic}",queue="q",priority="8"} 1\n`);
    expect(metrics).to.include(`gmq_queue_priority_backlog{topic="${topic}",queue="q",priority="3"} 2\n`);
    expect(metrics).to.include(`gmq_queue_priority_delayed{topic="${topic}",queue="q",priority="0"} 1\n`);
  });
});

// The lifecycle trace (TraceMessage, TopicConfig.trace) against real node
// processes: one message followed through delay, delivery, TTR, retry, dead
// letters, redrive and ack; the same after kill -9; nothing recorded while
// tracing is off; retention reclaims.
import { expect } from "chai";
import * as fs from "node:fs";
import { join } from "node:path";
import { TraceConsumerKind, TraceEventKind, type PopResponse, type TraceEvent, type TraceMessageResponse } from "../../src/gen/gmq/v1/broker.js";
import { codeOf, grpc, uniqueTopic } from "../helpers/grpc-client.js";
import { call } from "../helpers/http.js";
import { restartableNode } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const K = TraceEventKind;

describe("message trace", function () {
  this.timeout(120_000);
  const fixture = restartableNode();

  const trace = async (topic: string, id: bigint): Promise<TraceEvent[]> =>
    (await fixture.n.client.call<object, TraceMessageResponse>("traceMessage", { topic, id })).events;

  it("follows one message through delay, delivery, TTR, retry, dead letters, redrive and ack, identically after kill -9", async () => {
    const c = () => fixture.n.client;
    const topic = uniqueTopic("trace");
    await c().call("config", { topic, msgTtr: 1, msgRetry: 1, trace: true });
    await c().call("declareQueue", { topic, bindKey: "q" });
    const { id } = await c().call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from("order 42"), delayMs: 300n });
    const pop = async () => (await c().call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs: 10_000 })).message!;
    expect((await pop()).id).to.equal(id); // after the delay
    expect((await pop()).retry).to.equal(1); // after its TTR passed unacked
    await waitFor(
      async () => ((await c().call<object, { messages: unknown[] }>("listDead", { topic, bindKey: "q" })).messages.length === 1 ? true : undefined),
      { what: "the second TTR to move it to the dead letters" },
    );
    await c().call("redrive", { topic, bindKey: "q" });
    const last = await pop();
    await c().call("ack", { topic, bindKey: "q", id: last.id });

    const events = await trace(topic, id);
    expect(events.map((e) => e.kind)).to.deep.equal([
      K.TRACE_EVENT_KIND_PUSHED,
      K.TRACE_EVENT_KIND_DELAYED,
      K.TRACE_EVENT_KIND_DELIVERED,
      K.TRACE_EVENT_KIND_TTR_EXPIRED,
      K.TRACE_EVENT_KIND_DELIVERED,
      K.TRACE_EVENT_KIND_DEAD_LETTERED,
      K.TRACE_EVENT_KIND_REDRIVEN,
      K.TRACE_EVENT_KIND_DELIVERED,
      K.TRACE_EVENT_KIND_ACKED,
    ]);
    const [pushed, delayed, first, ttr, second, dead, , third] = events as [TraceEvent, TraceEvent, TraceEvent, TraceEvent, TraceEvent, TraceEvent, TraceEvent, TraceEvent];
    expect(pushed).to.deep.include({ routeKey: "q", queues: ["q"], duplicate: false, nodeId: 1, bindKey: "" });
    expect(Number(delayed.untilMs - pushed.atMs)).to.equal(300);
    expect(first).to.deep.include({ bindKey: "q", retry: 0, consumer: TraceConsumerKind.TRACE_CONSUMER_KIND_POP, tokenName: "" });
    expect(first.peer).to.match(/127\.0\.0\.1:\d+$/);
    expect(Number(first.untilMs - first.atMs)).to.equal(1000);
    expect(ttr).to.deep.include({ bindKey: "q", retry: 1 });
    expect(second.retry).to.equal(1);
    expect(dead).to.deep.include({ bindKey: "q", retry: 2 });
    expect(third.retry).to.equal(0);
    for (let i = 1; i < events.length; i++) expect(events[i]!.atMs >= events[i - 1]!.atMs, `event ${i} in time order`).to.equal(true);

    // The HTTP gateway serves the same trace.
    const http = await call(fixture.n.httpBase, "GET", `/v1/topics/${topic}/messages/${id}/trace`);
    expect(http.status).to.equal(200);
    expect(http.body.id).to.equal(String(id));
    expect(http.body.events.map((e: { kind: string }) => e.kind)).to.deep.equal(events.map((e) => TraceEventKind[e.kind]));

    await fixture.n.restart("kill");
    expect(await trace(topic, id)).to.deep.equal(events);
  });

  it("records nothing while a topic's tracing is off", async () => {
    const c = fixture.n.client;
    const topic = uniqueTopic("untraced");
    await c.call("declareQueue", { topic, bindKey: "q" });
    const { id } = await c.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from("x") });
    const m = (await c.call<object, PopResponse>("pop", { topic, bindKey: "q" })).message!;
    await c.call("ack", { topic, bindKey: "q", id: m.id });
    expect(await codeOf(c.call("traceMessage", { topic, id }))).to.equal(grpc.status.FAILED_PRECONDITION);
    const http = await call(fixture.n.httpBase, "GET", `/v1/topics/${topic}/messages/${id}/trace`);
    expect([http.status, http.body.reason]).to.deep.equal([400, "TRACE_OFF"]);
    expect(fs.readdirSync(join(fixture.n.node.dataDir, "traces")).some((d) => d.includes("untraced") && fs.readdirSync(join(fixture.n.node.dataDir, "traces", d)).length > 0)).to.equal(false);
    // Turned on later, it records from then on only.
    await c.call("config", { topic, trace: true });
    const http2 = await call(fixture.n.httpBase, "GET", `/v1/topics/${topic}/messages/${id}/trace`);
    expect([http2.status, http2.body.reason]).to.deep.equal([404, "TRACE_NOT_FOUND"]);
  });

  it("reclaims the oldest events past the topic's trace retention", async () => {
    const c = fixture.n.client;
    const topic = uniqueTopic("retained");
    const retentionBytes = 32 * 1024;
    await c.call("config", { topic, trace: true, traceRetentionBytes: BigInt(retentionBytes) });
    await c.call("declareQueue", { topic, bindKey: "q" });
    const ids: bigint[] = [];
    // A push batch's events are one record (8 bytes per message): 8,000 pushes take ~64 KiB.
    for (let i = 0; i < 8; i++) {
      const messages = Array.from({ length: 1000 }, () => ({ routeKey: "q", body: Buffer.from("m") }));
      ids.push(...(await c.call<object, { ids: bigint[] }>("pushBatch", { topic, messages })).ids);
    }
    expect((await trace(topic, ids[ids.length - 1]!)).map((e) => e.kind)).to.deep.equal([K.TRACE_EVENT_KIND_PUSHED]);
    const http = await call(fixture.n.httpBase, "GET", `/v1/topics/${topic}/messages/${ids[0]}/trace`);
    expect([http.status, http.body.reason]).to.deep.equal([404, "TRACE_NOT_FOUND"]);
    const dir = join(fixture.n.node.dataDir, "traces", fs.readdirSync(join(fixture.n.node.dataDir, "traces")).find((d) => d.includes("retained"))!);
    const bytes = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(join(dir, f)).size, 0);
    expect(bytes).to.be.at.most(retentionBytes + 16 * 1024);
  });

  it("lists the trace route in /openapi.json", async () => {
    const doc = await call(fixture.n.httpBase, "GET", "/openapi.json");
    expect(doc.body.paths).to.have.property("/v1/topics/{topic}/messages/{id}/trace");
  });
});

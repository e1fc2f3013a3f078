// A topic's retry backoff over real gRPC (and HTTP) against real node
// processes: TTR expiries and nacks wait out the backoff as delayed messages,
// the wait doubles and is capped, and config and waiting messages survive
// restarts. A message's deadline can be moved with touch (ttr_ms), which the
// tests use to make TTRs expire in ~100 ms instead of msg_ttr's 1 s minimum.
// Timings are asserted from below exactly (a message is never ready before
// its deadline + backoff, on the same clock) and from above loosely.
import { expect } from "chai";
import type { ConsumeResponse, Message, PopResponse, TopicConfig } from "../../src/gen/gmq/v1/broker.js";
import { call } from "../helpers/http.js";
import { codeOf, grpc, sleep, uniqueTopic } from "../helpers/grpc-client.js";
import { nodeWithClient, RestartableNode } from "../helpers/node-process.js";

const S = grpc.status;
/** Room above an expected wait for timers, wake-ups and a busy machine. */
const SLACK_MS = 600;

describe("retry backoff over gRPC (real node)", function () {
  this.timeout(30_000);
  const fixture = nodeWithClient();

  const config = (topic: string, cfg: object) => fixture.client.call<object, { config: TopicConfig }>("config", { topic, ...cfg });
  const pop = (topic: string, waitMs = 0) => fixture.client.call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs }).then((r) => r.message as Message);
  const stat = (topic: string) => fixture.client.call<object, { stat: any }>("getTopicStat", { topic }).then((r) => r.stat);
  /** Moves a delivered message's deadline to ttrMs from now; returns the deadline. */
  const expireIn = async (topic: string, id: bigint, ttrMs: number) =>
    Number((await fixture.client.call<object, { deadlineMs: bigint }>("touch", { topic, bindKey: "q", id, ttrMs: BigInt(ttrMs) })).deadlineMs);
  async function queueWith(cfg: object): Promise<{ topic: string; id: bigint }> {
    const topic = uniqueTopic("backoff");
    await config(topic, cfg);
    await fixture.client.call("declareQueue", { topic, bindKey: "q" });
    const { id } = await fixture.client.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from("job") });
    return { topic, id };
  }

  it("holds a message whose TTR expired for the backoff, counted as delayed, then redelivers it with retry 1", async () => {
    const { topic, id } = await queueWith({ msgTtr: 1, retryBackoffMs: 800, retryBackoffMaxMs: 5000 });
    const first = await pop(topic);
    const deadline = Number(first.deadlineMs);
    await sleep(deadline + 200 - Date.now());
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
    const waiting = await stat(topic);
    expect(waiting).to.deep.include({ delayed: 1n, inFlight: 0n, backlog: 0n });
    expect(waiting.queues[0]).to.deep.include({ delayed: 1n, inFlight: 0n, ready: 0n, redelivered: 1n });
    const again = await pop(topic, 5000);
    const waitedMs = Date.now() - deadline;
    expect(again.id).to.equal(id);
    expect(again.retry).to.equal(1);
    expect(waitedMs).to.be.within(800, 800 + SLACK_MS);
    expect(await stat(topic)).to.deep.include({ delayed: 0n, inFlight: 1n });
    await fixture.client.call("ack", { topic, bindKey: "q", id });
  });

  it("doubles the wait for each next retry and caps it at retry_backoff_max_ms", async () => {
    const { topic, id } = await queueWith({ msgRetry: 5, retryBackoffMs: 250, retryBackoffMaxMs: 700 });
    let m = await pop(topic);
    const waits: number[] = [];
    for (const expected of [250, 500, 700, 700]) {
      const deadline = await expireIn(topic, m.id, 100);
      m = await pop(topic, 5000);
      const waitedMs = Date.now() - deadline;
      expect(m.id).to.equal(id);
      expect(m.retry).to.equal(waits.length + 1);
      expect(waitedMs, `retry ${m.retry}`).to.be.within(expected, expected + SLACK_MS);
      waits.push(waitedMs);
    }
    await fixture.client.call("ack", { topic, bindKey: "q", id });
  });

  it("dead-letters a message past msg_retry at once, without a backoff wait", async () => {
    const { topic, id } = await queueWith({ msgRetry: 1, retryBackoffMs: 300, retryBackoffMaxMs: 0 });
    let m = await pop(topic);
    await expireIn(topic, m.id, 100);
    m = await pop(topic, 5000);
    expect(m.retry).to.equal(1);
    const deadline = await expireIn(topic, m.id, 100);
    let dead: Message[] = [];
    while (dead.length === 0 && Date.now() < deadline + 5000) {
      await sleep(50);
      dead = (await fixture.client.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" })).messages;
    }
    // 300 * 2 = 600 ms would be the next backoff: dead-lettered well before it.
    expect(Date.now() - deadline).to.be.below(600);
    expect(dead.map((d) => [d.id, d.retry])).to.deep.equal([[id, 2]]);
    expect(await stat(topic)).to.deep.include({ dead: 1n, delayed: 0n, inFlight: 0n, backlog: 0n });
  });

  it("makes a nack without delay_ms wait the backoff and a nack with delay_ms wait its own delay, retry unchanged", async () => {
    const { topic, id } = await queueWith({ retryBackoffMs: 1500 });
    await pop(topic);
    let t0 = Date.now();
    await fixture.client.call("nack", { topic, bindKey: "q", id });
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
    expect(await stat(topic)).to.deep.include({ delayed: 1n, inFlight: 0n, backlog: 0n });
    let m = await pop(topic, 5000);
    expect(Date.now() - t0).to.be.within(1500, 1500 + SLACK_MS);
    expect(m.retry).to.equal(0);

    t0 = Date.now();
    await fixture.client.call("nack", { topic, bindKey: "q", id, delayMs: 100n });
    m = await pop(topic, 5000);
    expect(Date.now() - t0).to.be.within(100, 1000);
    expect(m.id).to.equal(id);
    expect(m.retry).to.equal(0);
    await fixture.client.call("ack", { topic, bindKey: "q", id });
  });

  it("makes a nack on a Consume stream wait the backoff too", async () => {
    const { topic, id } = await queueWith({ retryBackoffMs: 600 });
    const stream = fixture.client.consume();
    const got: { at: number; m: Message }[] = [];
    stream.on("data", (r: ConsumeResponse) => got.push(...r.messages.map((m) => ({ at: Date.now(), m }))));
    stream.on("error", () => {});
    stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 10, maxBatchBytes: 0 } } });
    while (got.length === 0) await sleep(20);
    const t0 = Date.now();
    stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: [], nackIds: [id], touchIds: [] } } });
    while (got.length < 2 && Date.now() < t0 + 5000) await sleep(20);
    expect(got.map((g) => g.m.id)).to.deep.equal([id, id]);
    expect(got[1]!.at - t0).to.be.within(600, 600 + SLACK_MS);
    stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: [id], nackIds: [], touchIds: [] } } });
    stream.end();
  });

  it("refuses out-of-range values and a cap below the base with INVALID_ARGUMENT, changing nothing", async () => {
    const topic = uniqueTopic("backoff");
    await config(topic, { retryBackoffMs: 100, retryBackoffMaxMs: 1000 });
    for (const bad of [{ retryBackoffMs: 86_400_001 }, { retryBackoffMaxMs: 86_400_001 }, { retryBackoffMaxMs: 50 }, { retryBackoffMs: 2000 }]) {
      expect(await codeOf(config(topic, bad)), JSON.stringify(bad)).to.equal(S.INVALID_ARGUMENT);
    }
    const { config: now } = await config(topic, {});
    expect(now).to.deep.include({ retryBackoffMs: 100, retryBackoffMaxMs: 1000 });
  });
});

describe("retry backoff config and waiting messages across restarts (real node)", function () {
  this.timeout(60_000);

  it("round-trips the config over gRPC, the HTTP gateway and the original API, and keeps it across a restart", () =>
    RestartableNode.run(async (n) => {
      const topic = uniqueTopic("backoff");
      const base = n.httpBase;
      const r1 = await n.client.call<object, { config: TopicConfig }>("config", { topic, msgRetry: 3, retryBackoffMs: 250, retryBackoffMaxMs: 4000 });
      expect(r1.config).to.deep.include({ msgRetry: 3, retryBackoffMs: 250, retryBackoffMaxMs: 4000 });

      // HTTP gateway: unset fields keep their value; zero values are shown.
      const put = await call(base, "PUT", `/v1/topics/${topic}/config`, { retryBackoffMs: 300 });
      expect(put.status).to.equal(200);
      expect(put.body.config).to.deep.include({ msgRetry: 3, retryBackoffMs: 300, retryBackoffMaxMs: 4000 });
      expect((await call(base, "GET", `/v1/topics/${topic}/stat`)).body.stat.config).to.deep.include({ retryBackoffMs: 300, retryBackoffMaxMs: 4000 });
      const badHttp = await call(base, "PUT", `/v1/topics/${topic}/config`, { retry_backoff_max_ms: 10 });
      expect(badHttp.status).to.equal(400);
      expect(badHttp.body.code).to.equal("INVALID_ARGUMENT");

      // The original API: extra query parameters in ms, and getTopicStat shows them.
      const legacy = await call(base, "GET", `/config?topic=${topic}&retryBackoffMs=350&retryBackoffMaxMs=3500`);
      expect(legacy.body).to.deep.include({ code: 0 });
      expect(legacy.body.data).to.deep.include({ msgRetry: 3, retryBackoffMs: 350, retryBackoffMaxMs: 3500 });
      expect((await call(base, "GET", `/getTopicStat?topic=${topic}`)).body.data).to.deep.include({ retry_backoff_ms: 350, retry_backoff_max_ms: 3500 });
      const badLegacy = await call(base, "GET", `/config?topic=${topic}&retryBackoffMs=-5`);
      expect(badLegacy.body).to.deep.include({ code: 1, error: "INVALID_ARGUMENT" });

      expect(await n.restart("stop")).to.equal(0);
      const { topics } = await n.client.call<object, { topics: { topic: string; config: TopicConfig }[] }>("listTopics", {});
      expect(topics.find((t) => t.topic === topic)?.config).to.deep.include({ msgRetry: 3, retryBackoffMs: 350, retryBackoffMaxMs: 3500 });
    }));

  it("keeps a message waiting out its backoff through a kill -9, and delivers it once when the wait ends", () =>
    RestartableNode.run(async (n) => {
      const topic = uniqueTopic("backoff");
      await n.client.call("config", { topic, retryBackoffMs: 4000 });
      await n.client.call("declareQueue", { topic, bindKey: "q" });
      const { id } = await n.client.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from("survivor") });
      await n.client.call("pop", { topic, bindKey: "q" });
      const { deadlineMs } = await n.client.call<object, { deadlineMs: bigint }>("touch", { topic, bindKey: "q", id, ttrMs: 100n });
      const readyAt = Number(deadlineMs) + 4000;
      await sleep(400);
      expect((await n.client.call<object, { stat: any }>("getTopicStat", { topic })).stat).to.deep.include({ delayed: 1n, inFlight: 0n });
      await n.restart("kill");

      if (Date.now() < readyAt - 300) {
        expect((await n.client.call<object, { stat: any }>("getTopicStat", { topic })).stat).to.deep.include({ delayed: 1n, inFlight: 0n, backlog: 0n });
        expect(await codeOf(n.client.call("pop", { topic, bindKey: "q" }))).to.equal(S.NOT_FOUND);
      }
      const m = (await n.client.call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs: 10_000 })).message!;
      expect(Date.now()).to.be.at.least(readyAt);
      expect([m.id, m.retry, m.body.toString()]).to.deep.equal([id, 1, "survivor"]);
      await n.client.call("ack", { topic, bindKey: "q", id });
      expect(await codeOf(n.client.call("pop", { topic, bindKey: "q" }))).to.equal(S.NOT_FOUND);
      expect((await n.client.call<object, { stat: any }>("getTopicStat", { topic })).stat).to.deep.include({ delayed: 0n, inFlight: 0n, backlog: 0n });
    }));
});

// A topic's retry backoff over real gRPC (and HTTP) against real node
// processes: TTR expiries and nacks wait out the backoff as delayed messages,
// the wait doubles and is capped, and config and waiting messages survive
// restarts. A message's deadline can be moved with touch (ttr_ms), which the
// tests use to make TTRs expire in ~50 ms instead of msg_ttr's 1 s minimum.
// Nothing is timed from above: a message held for a backoff of an hour shows
// the "delayed" state for as long as a test needs, a wait is checked from
// below on the node's own clock (a redelivery's deadline_ms minus the topic's
// TTR is when it was delivered), and every outcome is awaited patiently.
import { expect } from "chai";
import type { ConsumeResponse, Message, PopResponse, TopicConfig } from "../../src/gen/gmq/v1/broker.js";
import { call } from "../helpers/http.js";
import { codeOf, grpc, uniqueTopic } from "../helpers/grpc-client.js";
import { nodeWithClient, restartableNode } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;
/** The default msg_ttr: a delivery's deadline_ms is its delivery time plus this. */
const TTR_MS = 30_000;
/** A backoff no test outlives: the message stays delayed while the test looks at it. */
const HOUR_MS = 3_600_000;
/** When the node delivered m, on its own clock. */
const deliveredAt = (m: Message) => Number(m.deadlineMs) - TTR_MS;

describe("retry backoff over gRPC (real node)", function () {
  this.timeout(120_000);
  const fixture = nodeWithClient();

  const config = (topic: string, cfg: object) => fixture.client.call<object, { config: TopicConfig }>("config", { topic, ...cfg });
  const pop = (topic: string, waitMs = 0) => fixture.client.call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs }).then((r) => r.message as Message);
  const stat = (topic: string) => fixture.client.call<object, { stat: any }>("getTopicStat", { topic }).then((r) => r.stat);
  /** Moves a delivered message's deadline to ttrMs from now; returns the deadline. */
  const expireIn = async (topic: string, id: bigint, ttrMs: number) =>
    Number((await fixture.client.call<object, { deadlineMs: bigint }>("touch", { topic, bindKey: "q", id, ttrMs: BigInt(ttrMs) })).deadlineMs);
  async function queueWith(cfg: object, bodies = ["job"]): Promise<{ topic: string; id: bigint; ids: bigint[] }> {
    const topic = uniqueTopic("backoff");
    await config(topic, cfg);
    await fixture.client.call("declareQueue", { topic, bindKey: "q" });
    const ids: bigint[] = [];
    for (const b of bodies) ids.push((await fixture.client.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from(b) })).id);
    return { topic, id: ids[0]!, ids };
  }
  /** Waits for the queue to have requeued n messages after their TTR. */
  const redelivered = (topic: string, n: bigint) =>
    waitFor(async () => ((await stat(topic)).queues[0].redelivered >= n ? stat(topic) : undefined), { what: `${n} TTR expiries in ${topic}` });

  it("holds a message whose TTR expired for the backoff, counted as delayed, not as ready or in flight", async () => {
    const { topic } = await queueWith({ retryBackoffMs: HOUR_MS });
    const first = await pop(topic);
    await expireIn(topic, first.id, 50);
    const waiting = await redelivered(topic, 1n);
    expect(waiting).to.deep.include({ delayed: 1n, inFlight: 0n, backlog: 0n });
    expect(waiting.queues[0]).to.deep.include({ delayed: 1n, inFlight: 0n, ready: 0n, redelivered: 1n });
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
  });

  it("redelivers a message whose TTR expired with retry 1, no sooner than the backoff after its deadline", async () => {
    const { topic, id } = await queueWith({ retryBackoffMs: 300, retryBackoffMaxMs: 5000 });
    const first = await pop(topic);
    const deadline = await expireIn(topic, first.id, 50);
    const again = await pop(topic, 15_000);
    expect([again.id, again.retry]).to.deep.equal([id, 1]);
    expect(deliveredAt(again) - deadline).to.be.at.least(300);
    expect(await stat(topic)).to.deep.include({ delayed: 0n, inFlight: 1n });
    await fixture.client.call("ack", { topic, bindKey: "q", id });
  });

  it("doubles the wait for each next retry and caps it at retry_backoff_max_ms", async () => {
    // Uncapped, retry 11 would wait 25 * 2^10 ms = 25.6 s, longer than a pop waits: reaching it at all shows the cap.
    const { topic, id } = await queueWith({ msgRetry: 20, retryBackoffMs: 25, retryBackoffMaxMs: 100 });
    let m = await pop(topic);
    for (const [retry, expected] of [25, 50, 100, 100, 100, 100, 100, 100, 100, 100, 100].entries()) {
      const deadline = await expireIn(topic, m.id, 20);
      m = await pop(topic, 15_000);
      expect([m.id, m.retry], `retry ${retry + 1}`).to.deep.equal([id, retry + 1]);
      expect(deliveredAt(m) - deadline, `retry ${m.retry}`).to.be.at.least(expected);
    }
    await fixture.client.call("ack", { topic, bindKey: "q", id });
  });

  it("dead-letters a message past msg_retry at once, without a backoff wait", async () => {
    const { topic, id } = await queueWith({ msgRetry: 1, retryBackoffMs: 50, retryBackoffMaxMs: 0 });
    let m = await pop(topic);
    await expireIn(topic, m.id, 20);
    m = await pop(topic, 15_000);
    expect(m.retry).to.equal(1);
    // Were it to wait a backoff now, it would wait 2 hours.
    await config(topic, { retryBackoffMs: HOUR_MS });
    await expireIn(topic, m.id, 20);
    const dead = await waitFor(
      async () => {
        const { messages } = await fixture.client.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" });
        return messages.length > 0 ? messages : undefined;
      },
      { what: "the message to be dead-lettered" },
    );
    expect(dead.map((d) => [d.id, d.retry])).to.deep.equal([[id, 2]]);
    expect(await stat(topic)).to.deep.include({ dead: 1n, delayed: 0n, inFlight: 0n, backlog: 0n });
  });

  it("makes a nack without delay_ms wait the backoff and a nack with delay_ms wait its own delay, retry unchanged", async () => {
    const { topic, ids } = await queueWith({ retryBackoffMs: HOUR_MS }, ["a", "b"]);
    const [a, b] = ids as [bigint, bigint];
    expect((await pop(topic)).id).to.equal(a);
    await fixture.client.call("nack", { topic, bindKey: "q", id: a });
    expect(await stat(topic)).to.deep.include({ delayed: 1n, inFlight: 0n, backlog: 1n });
    expect((await pop(topic)).id, "b, while a waits its backoff").to.equal(b);
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);

    // Its own delay instead of the hour.
    let t0 = Date.now();
    await fixture.client.call("nack", { topic, bindKey: "q", id: b, delayMs: 100n });
    let m = await pop(topic, 15_000);
    expect([m.id, m.retry]).to.deep.equal([b, 0]);
    expect(deliveredAt(m) - t0).to.be.at.least(100);

    // Without delay_ms, the topic's backoff as it now is.
    await config(topic, { retryBackoffMs: 300 });
    t0 = Date.now();
    await fixture.client.call("nack", { topic, bindKey: "q", id: b });
    m = await pop(topic, 15_000);
    expect([m.id, m.retry]).to.deep.equal([b, 0]);
    expect(deliveredAt(m) - t0).to.be.at.least(300);
    await fixture.client.call("ack", { topic, bindKey: "q", id: b });
    expect(await stat(topic)).to.deep.include({ delayed: 1n, inFlight: 0n, backlog: 0n });
  });

  it("makes a nack on a Consume stream wait the backoff too", async () => {
    const { topic, id } = await queueWith({ retryBackoffMs: 300 });
    const stream = fixture.client.consume();
    const got: Message[] = [];
    stream.on("data", (r: ConsumeResponse) => got.push(...r.messages));
    stream.on("error", () => {});
    try {
      stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 10, maxBatchBytes: 0 } } });
      await waitFor(() => got.length > 0, { what: "the first delivery on the stream" });
      const t0 = Date.now();
      stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: [], nackIds: [id], touchIds: [] } } });
      await waitFor(() => got.length > 1, { what: "the nacked message to come back on the stream" });
      expect(got.map((m) => [m.id, m.retry])).to.deep.equal([
        [id, 0],
        [id, 0],
      ]);
      expect(deliveredAt(got[1]!) - t0).to.be.at.least(300);
      stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: [id], nackIds: [], touchIds: [] } } });
      await waitFor(async () => (await stat(topic)).acked === 1n, { what: "the ack on the stream" });
    } finally {
      stream.end();
    }
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
  this.timeout(120_000);
  const fixture = restartableNode();

  it("round-trips the config over gRPC, the HTTP gateway and the original API, and keeps it across a restart", async () => {
    const { n } = fixture;
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
  });

  it("keeps messages waiting out their backoff through a kill -9, and delivers each once, when its wait ends", async () => {
    const { n } = fixture;
    const stat = (topic: string) => n.client.call<object, { stat: any }>("getTopicStat", { topic }).then((r) => r.stat);
    /** A message in its own topic, delivered and past its TTR, waiting out backoffMs; resolves with its deadline. */
    async function waiting(backoffMs: number): Promise<{ topic: string; id: bigint; deadline: number }> {
      const topic = uniqueTopic("backoff");
      await n.client.call("config", { topic, retryBackoffMs: backoffMs });
      await n.client.call("declareQueue", { topic, bindKey: "q" });
      const { id } = await n.client.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from("survivor") });
      await n.client.call("pop", { topic, bindKey: "q" });
      const { deadlineMs } = await n.client.call<object, { deadlineMs: bigint }>("touch", { topic, bindKey: "q", id, ttrMs: 50n });
      await waitFor(async () => (await stat(topic)).queues[0].redelivered === 1n, { what: `the TTR expiry in ${topic}` });
      return { topic, id, deadline: Number(deadlineMs) };
    }
    const held = await waiting(HOUR_MS);
    const soon = await waiting(3000);
    await n.restart("kill");

    // The hour-long wait is still on: delayed, not ready.
    expect(await stat(held.topic)).to.deep.include({ delayed: 1n, inFlight: 0n, backlog: 0n });
    expect(await codeOf(n.client.call("pop", { topic: held.topic, bindKey: "q" }))).to.equal(S.NOT_FOUND);

    // The short one comes once its wait ends (never before), once.
    const m = (await n.client.call<object, PopResponse>("pop", { topic: soon.topic, bindKey: "q", waitMs: 20_000 })).message!;
    expect([m.id, m.retry, m.body.toString()]).to.deep.equal([soon.id, 1, "survivor"]);
    expect(deliveredAt(m) - soon.deadline).to.be.at.least(3000);
    await n.client.call("ack", { topic: soon.topic, bindKey: "q", id: soon.id });
    expect(await codeOf(n.client.call("pop", { topic: soon.topic, bindKey: "q" }))).to.equal(S.NOT_FOUND);
    expect(await stat(soon.topic)).to.deep.include({ delayed: 0n, inFlight: 0n, backlog: 0n });
  });
});

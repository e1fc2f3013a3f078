// Idempotent publish (idempotency_key, a topic's dedup_window_ms) over real
// gRPC and HTTP against real node processes, including a kill -9. A window
// that must hold while a test looks is an hour (a topic's window applies to
// keys already seen, so a test can shorten it afterwards); a window that must
// have passed is awaited on the shared clock, never guessed.
import { expect } from "chai";
import type { PushBatchResponse, PushResponse, PushStreamResponse, TopicConfig } from "../../src/gen/gmq/v1/broker.js";
import { GmqClient } from "../../src/client/index.js";
import { b64, call } from "../helpers/http.js";
import { codeOf, grpc, uniqueTopic } from "../helpers/grpc-client.js";
import { nodeWithClient, restartableNode } from "../helpers/node-process.js";
import { expectConfigSetEverywhereAndKept } from "../helpers/topic-config.js";
import { clockPasses } from "../helpers/wait-for.js";

const HOUR_MS = 3_600_000n;

const S = grpc.status;

describe("idempotent publish over gRPC (real node)", function () {
  this.timeout(90_000);
  const fixture = nodeWithClient();

  const config = (topic: string, cfg: object) => fixture.client.call<object, { config: TopicConfig }>("config", { topic, ...cfg });
  const push = (topic: string, key: string, text = "body", routeKey = "q") =>
    fixture.client.call<object, PushResponse>("push", { topic, routeKey, body: Buffer.from(text), idempotencyKey: key });
  const batch = (topic: string, messages: { key: string; text: string; routeKey?: string }[]) =>
    fixture.client.call<object, PushBatchResponse>("pushBatch", {
      topic,
      messages: messages.map((m) => ({ routeKey: m.routeKey ?? "q", body: Buffer.from(m.text), idempotencyKey: m.key })),
    });
  const stat = (topic: string) => fixture.client.call<object, { stat: any }>("getTopicStat", { topic }).then((r) => r.stat);
  async function queue(cfg: object = {}): Promise<string> {
    const topic = uniqueTopic("idem");
    await config(topic, cfg);
    await fixture.client.call("declareQueue", { topic, bindKey: "q" });
    return topic;
  }

  it("answers a repeated key with the original id and duplicate = true, storing one message", async () => {
    const topic = await queue();
    const first = await push(topic, "order-1", "first");
    expect(first).to.deep.include({ duplicate: false, queues: 1 });
    const again = await push(topic, "order-1", "a different body");
    expect(again).to.deep.equal({ id: first.id, queues: 0, duplicate: true });
    const s = await stat(topic);
    expect(s).to.deep.include({ pushed: 1n, backlog: 1n });
    const m = (await fixture.client.call<object, { message: any }>("pop", { topic, bindKey: "q" })).message;
    expect(m.id).to.equal(first.id);
    expect(m.body.toString()).to.equal("first");
    expect(await codeOf(fixture.client.call("pop", { topic, bindKey: "q" }))).to.equal(S.NOT_FOUND);
  });

  it("still answers duplicate after the original was consumed and acked", async () => {
    const topic = await queue();
    const first = await push(topic, "acked");
    const m = (await fixture.client.call<object, { message: any }>("pop", { topic, bindKey: "q" })).message;
    await fixture.client.call("ack", { topic, bindKey: "q", id: m.id });
    expect(await push(topic, "acked")).to.deep.include({ id: first.id, duplicate: true });
    expect((await stat(topic)).pushed).to.equal(1n);
  });

  it("keeps keys per topic: the same key on another topic is a new message", async () => {
    const a = await queue();
    const b = await queue();
    const ra = await push(a, "shared");
    const rb = await push(b, "shared");
    expect(rb.duplicate).to.equal(false);
    expect(rb.id).to.not.equal(ra.id);
  });

  it("stores a new message when the key is reused after the window", async () => {
    const topic = await queue({ dedupWindowMs: HOUR_MS });
    const first = await push(topic, "k");
    const firstAcceptedBy = Date.now();
    expect(await push(topic, "k")).to.deep.include({ id: first.id, duplicate: true });
    await config(topic, { dedupWindowMs: 300n });
    await clockPasses(firstAcceptedBy + 300);
    const later = await push(topic, "k");
    expect(later.duplicate).to.equal(false);
    expect(later.id).to.not.equal(first.id);
    // The key now stands for the second push.
    await config(topic, { dedupWindowMs: HOUR_MS });
    expect(await push(topic, "k")).to.deep.include({ id: later.id, duplicate: true });
    expect((await stat(topic)).backlog).to.equal(2n);
  });

  it("ignores keys on a topic whose window is 0", async () => {
    const topic = await queue({ dedupWindowMs: 0n });
    const a = await push(topic, "k");
    const b = await push(topic, "k");
    expect([a.duplicate, b.duplicate]).to.deep.equal([false, false]);
    expect(a.id).to.not.equal(b.id);
    expect((await stat(topic)).backlog).to.equal(2n);
  });

  it("treats pushes without a key as distinct", async () => {
    const topic = await queue();
    expect((await push(topic, "")).duplicate).to.equal(false);
    expect((await push(topic, "")).duplicate).to.equal(false);
    expect((await stat(topic)).backlog).to.equal(2n);
  });

  it("does not record the key of a push that failed (no matching queue, bad body)", async () => {
    const topic = await queue();
    expect(await codeOf(push(topic, "retry-me", "x", "no-such-queue"))).to.equal(S.FAILED_PRECONDITION);
    expect(await codeOf(push(topic, "retry-me", "x".repeat(300 * 1024)))).to.equal(S.RESOURCE_EXHAUSTED);
    const ok = await push(topic, "retry-me");
    expect(ok.duplicate).to.equal(false);
    expect((await push(topic, "retry-me")).id).to.equal(ok.id);
  });

  it("answers a duplicate whatever its route key: nothing is routed or stored", async () => {
    const topic = await queue();
    const first = await push(topic, "rk");
    expect(await push(topic, "rk", "x", "no-such-queue")).to.deep.include({ id: first.id, duplicate: true });
  });

  it("counts duplicates in a PushBatch, within the batch and against earlier pushes, listing original ids", async () => {
    const topic = await queue();
    const before = await push(topic, "b0");
    const r = await batch(topic, [
      { key: "b1", text: "one" },
      { key: "b0", text: "dup of an earlier push" },
      { key: "b1", text: "dup within the batch" },
      { key: "", text: "no key" },
      { key: "b2", text: "two" },
    ]);
    expect(r.duplicates).to.equal(2);
    expect(r.ids).to.have.length(5);
    expect(r.ids[1]).to.equal(before.id);
    expect(r.ids[2]).to.equal(r.ids[0]);
    expect(new Set(r.ids).size).to.equal(4);
    expect((await stat(topic)).backlog).to.equal(4n);
    const again = await batch(topic, [
      { key: "b2", text: "retry" },
      { key: "b1", text: "retry" },
    ]);
    expect(again).to.deep.equal({ ids: [r.ids[4], r.ids[0]], duplicates: 2 });
    expect((await stat(topic)).pushed).to.equal(4n); // b0, then b1, the keyless one and b2
  });

  it("records no key of a PushBatch that failed as a whole", async () => {
    const topic = await queue();
    expect(
      await codeOf(
        batch(topic, [
          { key: "f1", text: "fine" },
          { key: "f2", text: "unroutable", routeKey: "no-such-queue" },
        ]),
      ),
    ).to.equal(S.FAILED_PRECONDITION);
    const r = await batch(topic, [{ key: "f1", text: "fine" }]);
    expect(r.duplicates).to.equal(0);
  });

  it("sets duplicate on PushStream replies", async () => {
    const topic = await queue();
    const stream = fixture.client.pushStream();
    const replies: PushStreamResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (r: PushStreamResponse) => replies.push(r));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    const write = (seq: bigint, key: string) =>
      stream.write({ seq, topic, routeKey: "q", body: Buffer.from(`s${seq}`), delayMs: 0n, ttlMs: 0n, idempotencyKey: key, pushes: [] });
    write(1n, "s-a");
    write(2n, "s-a");
    write(3n, "s-b");
    stream.end();
    await done;
    replies.sort((a, b) => Number(a.seq - b.seq));
    expect(replies.map((r) => [r.seq, r.errorCode, r.duplicate])).to.deep.equal([
      [1n, 0, false],
      [2n, 0, true],
      [3n, 0, false],
    ]);
    expect(replies[1]!.id).to.equal(replies[0]!.id);
    expect((await stat(topic)).backlog).to.equal(2n);
  });

  it("rejects a key over 256 bytes and a window over 24 h with INVALID_ARGUMENT", async () => {
    const topic = await queue();
    expect(await codeOf(push(topic, "k".repeat(257)))).to.equal(S.INVALID_ARGUMENT);
    expect(await codeOf(push(topic, "é".repeat(129)))).to.equal(S.INVALID_ARGUMENT); // 258 bytes
    expect((await push(topic, "k".repeat(256))).duplicate).to.equal(false);
    expect(await codeOf(batch(topic, [{ key: "k".repeat(257), text: "x" }]))).to.equal(S.INVALID_ARGUMENT);
    expect(await codeOf(config(topic, { dedupWindowMs: 86_400_001n }))).to.equal(S.INVALID_ARGUMENT);
    expect((await config(topic, { dedupWindowMs: 86_400_000n })).config.dedupWindowMs).to.equal(86_400_000n);
  });

  it("takes idempotency_key through the HTTP gateway and the original API's /push", async () => {
    const base = `http://${fixture.node.httpAddr}`;
    const topic = await queue();
    const first = await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("gw"), idempotencyKey: "h1" });
    expect(first.status).to.equal(200);
    const again = await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("gw"), idempotencyKey: "h1" });
    expect(again.body).to.deep.include({ id: first.body.id, duplicate: true });
    const legacy = await call(base, "POST", "/push", { body: "legacy", topic, route_key: "q", idempotency_key: "h1" });
    expect(legacy.body.data).to.deep.equal({ msgId: first.body.id, duplicate: true });
    expect((await call(base, "GET", `/v1/topics/${topic}/stat`)).body.stat.backlog).to.equal("1");
  });

  it("returns the SDK's push result with duplicate, the same id for the same idempotencyKey", async () => {
    const topic = await queue();
    const client = await GmqClient.connect({ addresses: [fixture.node.grpcAddr] });
    try {
      const a = await client.push(topic, "sdk", { routeKey: "q", idempotencyKey: "sdk-1" });
      const b = await client.push(topic, "sdk", { routeKey: "q", idempotencyKey: "sdk-1" });
      expect(a.duplicate).to.equal(false);
      expect(b).to.deep.include({ id: a.id, duplicate: true });
      const batchResult = await client.pushBatch(topic, [
        { body: "x", routeKey: "q", idempotencyKey: "sdk-1" },
        { body: "y", routeKey: "q", idempotencyKey: "sdk-2" },
      ]);
      expect(batchResult.duplicates).to.equal(1);
      expect(batchResult.ids[0]).to.equal(a.id);
    } finally {
      await client.close();
    }
    expect((await stat(topic)).backlog).to.equal(2n);
  });
});

describe("idempotent publish across restarts (real node processes)", function () {
  this.timeout(120_000);
  const fixture = restartableNode();

  it("keeps a topic's dedup_window_ms set over gRPC, HTTP and the original API across a restart", async () => {
    const { n } = fixture;
    const topic = uniqueTopic("idem");
    expect((await n.client.call<object, { config: TopicConfig }>("config", { topic })).config.dedupWindowMs).to.equal(120_000n);
    await expectConfigSetEverywhereAndKept(n, topic, "dedupWindowMs", { grpc: 5000n, http: 6000n, legacy: 7000n });
  });

  it("answers a retry after a kill -9 and restart as a duplicate with the original id", async () => {
    const { n } = fixture;
    const topic = uniqueTopic("idem");
    await n.client.call("declareQueue", { topic, bindKey: "a" });
    await n.client.call("declareQueue", { topic, bindKey: "b" });
    await n.client.call("config", { topic, routeMode: 3 }); // wildcard: "#" reaches both queues
    await n.client.call("declareQueue", { topic, bindKey: "#" });
    const push = (key: string, routeKey = "a", delayMs = 0) =>
      n.client.call<object, PushResponse>("push", { topic, routeKey, body: Buffer.from(key), idempotencyKey: key, delayMs: BigInt(delayMs) });
    const ready = await push("ready");
    const consumed = await push("consumed");
    const delayed = await push("delayed", "a", 60_000);
    const fanout = await push("fanout", "b");
    expect(fanout.queues).to.equal(2);
    // One consumed and acked before the crash.
    const m = (await n.client.call<object, { message: any }>("pop", { topic, bindKey: "a" })).message;
    expect(m.id).to.equal(ready.id);
    await n.client.call("ack", { topic, bindKey: "a", id: m.id });
    await n.restart("kill");

    for (const [key, original, routeKey] of [
      ["ready", ready, "a"],
      ["consumed", consumed, "a"],
      ["delayed", delayed, "a"],
      ["fanout", fanout, "b"],
    ] as const) {
      const again = await n.client.call<object, PushResponse>("push", { topic, routeKey, body: Buffer.from("retry"), idempotencyKey: key });
      expect(again, key).to.deep.include({ id: original.id, duplicate: true });
    }
    const fresh = await n.client.call<object, PushResponse>("push", { topic, routeKey: "a", body: Buffer.from("new"), idempotencyKey: "new" });
    expect(fresh.duplicate).to.equal(false);
  });

  it("forgets keys older than the window across a restart", async () => {
    const { n } = fixture;
    const topic = uniqueTopic("idem");
    await n.client.call("config", { topic, dedupWindowMs: 300n });
    await n.client.call("declareQueue", { topic, bindKey: "q" });
    const first = await n.client.call<object, PushResponse>("push", { topic, routeKey: "q", body: Buffer.from("x"), idempotencyKey: "k" });
    const acceptedBy = Date.now();
    await n.restart("kill", () => clockPasses(acceptedBy + 300));
    const again = await n.client.call<object, PushResponse>("push", { topic, routeKey: "q", body: Buffer.from("x"), idempotencyKey: "k" });
    expect(again.duplicate).to.equal(false);
    expect(again.id).to.not.equal(first.id);
  });
});

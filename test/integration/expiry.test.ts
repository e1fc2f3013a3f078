// Message expiry (ttl_ms, a topic's msg_ttl_ms) over real gRPC and HTTP
// against real node processes. TTLs are a few hundred ms, and every test
// waits for the node to count an expiry rather than for a time: to know the
// node's clock passed an in-flight message's expiry, a test pushes a witness
// with the same ttl right after it and waits for the witness to expire.
import { expect } from "chai";
import type { Message, PopResponse, PushStreamResponse, TopicConfig } from "../../src/gen/gmq/v1/broker.js";
import { b64, call } from "../helpers/http.js";
import { codeOf, grpc, uniqueTopic } from "../helpers/grpc-client.js";
import { nodeWithClient, restartableNode } from "../helpers/node-process.js";
import { expectConfigSetEverywhereAndKept } from "../helpers/topic-config.js";
import { clockPasses, waitFor } from "../helpers/wait-for.js";

const S = grpc.status;
const YEAR_MS = 366 * 24 * 3600 * 1000;

describe("message expiry over gRPC (real node)", function () {
  this.timeout(90_000);
  const fixture = nodeWithClient();

  const config = (topic: string, cfg: object) => fixture.client.call<object, { config: TopicConfig }>("config", { topic, ...cfg });
  const pushTtl = (topic: string, text: string, ttlMs: number, delayMs = 0) =>
    fixture.client.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from(text), ttlMs: BigInt(ttlMs), delayMs: BigInt(delayMs) }).then((r) => r.id);
  const pop = (topic: string, waitMs = 0) => fixture.client.call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs }).then((r) => r.message as Message);
  const stat = (topic: string) => fixture.client.call<object, { stat: any }>("getTopicStat", { topic }).then((r) => r.stat);
  async function queue(cfg: object = {}): Promise<string> {
    const topic = uniqueTopic("ttl");
    await config(topic, cfg);
    await fixture.client.call("declareQueue", { topic, bindKey: "q" });
    return topic;
  }
  /** Waits until the topic counts n expired messages; resolves with that stat. */
  const expiredReaches = (topic: string, n: bigint): Promise<any> =>
    waitFor(
      async () => {
        const s = await stat(topic);
        return s.expired >= n ? s : undefined;
      },
      { what: `${n} expired messages in ${topic}` },
    );

  /**
   * A fresh queue whose first message, pushed with a ttl, is popped before that
   * ttl passes, with a witness pushed right after it with the same ttl (its
   * expiry shows the node's clock passed the message's). The pop must reach the
   * node within the ttl: on a loaded machine it may not, and the node then
   * rightly expires the message and hands out the witness, or nothing. That
   * attempt proves nothing about a message in flight, so it starts over on a new
   * queue with twice the ttl: no time bound is put on the machine.
   */
  async function poppedBeforeExpiry(ttlMs: number, cfg: object = {}): Promise<{ topic: string; id: bigint; ttlMs: number }> {
    // No cap on attempts: each doubles the ttl, and the test's own timeout is the deadline.
    for (; ; ttlMs *= 2) {
      const topic = await queue(cfg);
      const id = await pushTtl(topic, "in flight", ttlMs);
      const witness = await pushTtl(topic, "witness", ttlMs);
      const got = await pop(topic).then((m) => m.id, (err: grpc.ServiceError) => (err.code === S.NOT_FOUND ? undefined : Promise.reject(err)));
      if (got === id) return { topic, id, ttlMs };
      // A miss is the ttl passing and nothing else: the node expired the message, and the pop got the witness or nothing.
      expect(got === undefined || got === witness, `popped ${got}, neither ${id} nor the witness ${witness}`).to.equal(true);
      expect((await stat(topic)).expired >= 1n, "the message the pop missed was expired").to.equal(true);
    }
  }

  it("never delivers a message whose ttl passed: pop is NOT_FOUND and the queue counts it expired", async () => {
    const topic = await queue();
    await pushTtl(topic, "late", 200);
    await expiredReaches(topic, 1n);
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
    const s = await stat(topic);
    expect(s).to.deep.include({ expired: 1n, backlog: 0n, inFlight: 0n, popped: 0n });
    expect(s.queues[0]).to.deep.include({ expired: 1n, ready: 0n });
  });

  it("counts an idle queue's expired messages without any consumer, leaving the rest ready", async () => {
    const topic = await queue();
    for (let i = 0; i < 3; i++) await pushTtl(topic, `short ${i}`, 200);
    await pushTtl(topic, "forever", 0);
    const s = await expiredReaches(topic, 3n);
    expect(s).to.deep.include({ expired: 3n, backlog: 1n });
    expect((await pop(topic)).body.toString()).to.equal("forever");
  });

  it("delivers a message before its ttl with expires_at_ms = push time + ttl, and 0 without one", async () => {
    const topic = await queue();
    const before = Date.now();
    await pushTtl(topic, "soon", 60_000);
    const after = Date.now();
    await pushTtl(topic, "never", 0);
    const m = await pop(topic);
    expect(m.body.toString()).to.equal("soon");
    expect(Number(m.expiresAtMs)).to.be.within(before + 60_000, after + 60_000);
    expect(Number(m.expiresAtMs)).to.equal(Number(m.createdAtMs) + 60_000);
    expect((await pop(topic)).expiresAtMs).to.equal(0n);
  });

  it("applies the topic's msg_ttl_ms to pushes without ttl_ms; a push's own ttl_ms wins", async () => {
    const topic = await queue({ msgTtlMs: 200n });
    await pushTtl(topic, "default ttl", 0);
    await pushTtl(topic, "own ttl", 60_000);
    await expiredReaches(topic, 1n);
    const m = await pop(topic);
    expect(m.body.toString()).to.equal("own ttl");
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
    expect((await stat(topic)).expired).to.equal(1n);
  });

  it("never delivers a message delayed past its ttl, and discards it at its expiry", async () => {
    const topic = await queue();
    // Delayed for an hour: only its expiry can take it out of the delayed ones.
    await pushTtl(topic, "delayed too long", 200, 3_600_000);
    const s = await expiredReaches(topic, 1n);
    expect(s).to.deep.include({ expired: 1n, delayed: 0n, backlog: 0n, inFlight: 0n });
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
  });

  it("expires messages pushed in a batch, each by its own ttl_ms", async () => {
    const topic = await queue();
    await fixture.client.call("pushBatch", {
      topic,
      messages: [
        { routeKey: "q", body: Buffer.from("short"), ttlMs: 200n },
        { routeKey: "q", body: Buffer.from("long"), ttlMs: 60_000n },
      ],
    });
    await expiredReaches(topic, 1n);
    expect((await pop(topic)).body.toString()).to.equal("long");
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
  });

  it("lets a consumer ack a message after its ttl passed while it was in flight", async () => {
    // A TTR of an hour: the message stays in flight however long the wait for its expiry takes.
    const { topic, id } = await poppedBeforeExpiry(200, { msgTtr: 3600 });
    await expiredReaches(topic, 1n); // the witness, pushed after it with the same ttl
    await fixture.client.call("ack", { topic, bindKey: "q", id });
    expect(await stat(topic)).to.deep.include({ acked: 1n, expired: 1n, inFlight: 0n, backlog: 0n });
  });

  it("discards an in-flight message whose TTR ends after its expiry instead of redelivering or dead-lettering it", async () => {
    const { topic, id, ttlMs } = await poppedBeforeExpiry(300, { msgRetry: 0 });
    // From now: its TTR ends after its expiry, whenever the touch arrives.
    await fixture.client.call("touch", { topic, bindKey: "q", id, ttrMs: BigInt(2 * ttlMs) });
    const s = await expiredReaches(topic, 2n); // the witness, then the message once its TTR ends
    expect(s).to.deep.include({ expired: 2n, inFlight: 0n, dead: 0n, backlog: 0n });
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
  });

  it("keeps a dead letter past its message's ttl: dead letters do not expire", async () => {
    const topic = await queue({ msgRetry: 0 });
    // Its TTR (1 ms) must end before its ttl, or it is discarded instead (the test above).
    const id = await pushTtl(topic, "dies first", 1500);
    await pushTtl(topic, "witness", 1500);
    expect((await pop(topic)).id).to.equal(id);
    await fixture.client.call("touch", { topic, bindKey: "q", id, ttrMs: 1n });
    await waitFor(async () => (await stat(topic)).dead === 1n, { what: "the message to be dead-lettered" });
    await expiredReaches(topic, 1n); // the witness: the dead letter's ttl has passed too
    const { messages } = await fixture.client.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" });
    expect(messages.map((m) => [m.id, m.expiresAtMs])).to.deep.equal([[id, 0n]]);
    expect(await stat(topic)).to.deep.include({ expired: 1n, dead: 1n });
    const { moved } = await fixture.client.call<object, { moved: bigint }>("redrive", { topic, bindKey: "q" });
    expect(moved).to.equal(1n);
    const again = await pop(topic);
    expect([again.id, again.expiresAtMs]).to.deep.equal([id, 0n]);
  });

  it("refuses a ttl or a topic default over 366 days with INVALID_ARGUMENT", async () => {
    const topic = await queue();
    expect(await codeOf(pushTtl(topic, "x", YEAR_MS + 1))).to.equal(S.INVALID_ARGUMENT);
    expect(
      await codeOf(fixture.client.call("pushBatch", { topic, messages: [{ routeKey: "q", body: Buffer.from("x"), ttlMs: BigInt(YEAR_MS + 1) }] })),
    ).to.equal(S.INVALID_ARGUMENT);
    expect(await codeOf(config(topic, { msgTtlMs: BigInt(YEAR_MS + 1) }))).to.equal(S.INVALID_ARGUMENT);
    expect((await config(topic, { msgTtlMs: BigInt(YEAR_MS) })).config.msgTtlMs).to.equal(BigInt(YEAR_MS));
    expect((await stat(topic)).pushed).to.equal(0n);
  });

  it("answers a bad ttl on a PushStream with INVALID_ARGUMENT on that push's reply", async () => {
    const topic = await queue();
    const stream = fixture.client.pushStream();
    const replies: PushStreamResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on("data", (r: PushStreamResponse) => replies.push(r));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    stream.write({ seq: 1n, topic, routeKey: "q", body: Buffer.from("ok"), delayMs: 0n, ttlMs: 200n, idempotencyKey: "", pushes: [] });
    stream.write({ seq: 2n, topic, routeKey: "q", body: Buffer.from("bad"), delayMs: 0n, ttlMs: BigInt(YEAR_MS + 1), idempotencyKey: "", pushes: [] });
    stream.end();
    await done;
    expect(replies.map((r) => [r.seq, r.errorCode])).to.deep.equal([
      [1n, 0],
      [2n, S.INVALID_ARGUMENT],
    ]);
    await expiredReaches(topic, 1n);
    expect(await codeOf(pop(topic))).to.equal(S.NOT_FOUND);
  });

  it("takes ttl_ms through the HTTP gateway and ttl (seconds) on the original API's /push", async () => {
    const base = `http://${fixture.node.httpAddr}`;
    const topic = await queue();
    const pushed = await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("gateway"), ttlMs: "200" });
    expect(pushed.status).to.equal(200);
    const legacy = await call(base, "POST", "/push", { body: "legacy", topic, route_key: "q", ttl: 0.2 });
    expect(legacy.body.code).to.equal(0);
    await expiredReaches(topic, 2n);
    expect((await call(base, "GET", `/v1/topics/${topic}/queues/q:pop`)).status).to.equal(404);
    expect((await call(base, "GET", `/pop?topic=${topic}&bindKey=q`)).body).to.deep.include({ code: 1, error: "NOT_FOUND" });
    expect((await call(base, "GET", `/v1/topics/${topic}/stat`)).body.stat.expired).to.equal("2");
  });
});

describe("message expiry across restarts (real node processes)", function () {
  this.timeout(120_000);
  const fixture = restartableNode();

  it("keeps a topic's msg_ttl_ms set over gRPC, HTTP and the original API across a restart", async () => {
    const { n } = fixture;
    const topic = uniqueTopic("ttl");
    await expectConfigSetEverywhereAndKept(n, topic, "msgTtlMs", { grpc: 1500n, http: 2500n, legacy: 3000n });
    expect((await call(n.httpBase, "GET", `/getTopicStat?topic=${topic}`)).body.data).to.deep.include({ msg_ttl_ms: 3000 });
  });

  it("keeps a message's expiry through a kill -9: delivered before it, never after it", async () => {
    const { n } = fixture;
    const topic = uniqueTopic("ttl");
    await n.client.call("declareQueue", { topic, bindKey: "q" });
    const push = (text: string, ttlMs: number) =>
      n.client.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: Buffer.from(text), ttlMs: BigInt(ttlMs) }).then((r) => r.id);
    await push("short", 1000);
    const shortExpiredBy = Date.now() + 1000; // created before the push answered
    const long = await push("long", 600_000);
    const plain = await push("plain", 0);
    await n.restart("kill");

    await clockPasses(shortExpiredBy);
    const got = new Map<bigint, Message>();
    for (;;) {
      try {
        const m = (await n.client.call<object, PopResponse>("pop", { topic, bindKey: "q" })).message!;
        got.set(m.id, m);
      } catch (err) {
        expect((err as grpc.ServiceError).code).to.equal(S.NOT_FOUND);
        break;
      }
    }
    expect([...got.keys()], "the expired message is never delivered; the others are").to.deep.equal([long, plain]);
    expect(got.get(plain)!.expiresAtMs).to.equal(0n);
    expect(Number(got.get(long)!.expiresAtMs)).to.equal(Number(got.get(long)!.createdAtMs) + 600_000);
    expect((await n.client.call<object, { stat: any }>("getTopicStat", { topic })).stat).to.deep.include({ inFlight: 2n, backlog: 0n, delayed: 0n });
  });
});

// BrokerService over real gRPC against a real node process: every RPC and
// the queue semantics of SPEC.md. Tests wait for outcomes, never for a time:
// "not before" is checked on the node's clock (a delivery's deadline_ms minus
// the topic's TTR is when it was delivered), and "not yet" by a witness that
// is due after the thing that must not have happened.
import { expect } from "chai";
import { RouteMode, type ConsumeResponse, type Message, type PopResponse, type PushResponse } from "../../src/gen/gmq/v1/broker.js";
import { codeOf, grpc, uniqueTopic } from "../helpers/grpc-client.js";
import { nodeWithClient } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;
const body = (s: string) => Buffer.from(s);
/** The default msg_ttr. */
const TTR_MS = 30_000;

describe("BrokerService over gRPC", function () {
  this.timeout(90_000);
  const fixture = nodeWithClient();

  const push = (topic: string, routeKey: string, text: string, delayMs = 0) =>
    fixture.client.call<object, PushResponse>("push", { topic, routeKey, body: body(text), delayMs: BigInt(delayMs) });
  const pop = (topic: string, bindKey: string, waitMs = 0) =>
    fixture.client.call<object, PopResponse>("pop", { topic, bindKey, waitMs }).then((r) => r.message as Message);
  const declare = (topic: string, bindKey: string) => fixture.client.call("declareQueue", { topic, bindKey });
  const config = (topic: string, cfg: object) => fixture.client.call("config", { topic, ...cfg });
  const stat = (topic: string) => fixture.client.call<object, { stat: any }>("getTopicStat", { topic }).then((r) => r.stat);
  /** Moves a delivered message's deadline to ttrMs from now; returns the new deadline. */
  const touch = async (topic: string, id: bigint, ttrMs: number) =>
    Number((await fixture.client.call<object, { deadlineMs: bigint }>("touch", { topic, bindKey: "q", id, ttrMs: BigInt(ttrMs) })).deadlineMs);

  describe("topics and queues", () => {
    it("creates a topic on first use with the documented defaults", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      const { topics } = await fixture.client.call<object, { topics: { topic: string; config: object }[] }>("listTopics", {});
      const t = topics.find((x) => x.topic === topic);
      expect(t?.config).to.deep.equal({
        autoAck: false,
        routeMode: RouteMode.ROUTE_MODE_FULL,
        msgTtr: 30,
        msgRetry: 5,
        retryBackoffMs: 0,
        retryBackoffMaxMs: 0,
        msgTtlMs: 0n,
        dedupWindowMs: 120_000n,
        defaultPriority: 0,
      });
    });

    it("declares queues idempotently and lists them", async () => {
      const topic = uniqueTopic();
      expect(await declare(topic, "b")).to.deep.equal({ name: `${topic}_b`, created: true });
      expect(await declare(topic, "b")).to.deep.equal({ name: `${topic}_b`, created: false });
      await declare(topic, "a");
      expect(await fixture.client.call("listQueues", { topic })).to.deep.equal({ bindKeys: ["a", "b"] });
    });

    it("deletes a queue with its messages", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      await push(topic, "q", "x");
      await fixture.client.call("deleteQueue", { topic, bindKey: "q" });
      expect(await codeOf(pop(topic, "q"))).to.equal(S.NOT_FOUND);
      expect(await fixture.client.call("listQueues", { topic })).to.deep.equal({ bindKeys: [] });
    });

    it("keeps unset config fields and changes set ones", async () => {
      const topic = uniqueTopic();
      const r1 = await fixture.client.call<object, { config: object }>("config", { topic, msgTtr: 7 });
      expect(r1.config).to.deep.include({ msgTtr: 7, msgRetry: 5, autoAck: false });
      const r2 = await fixture.client.call<object, { config: object }>("config", { topic, autoAck: true, msgRetry: 0 });
      expect(r2.config).to.deep.include({ msgTtr: 7, msgRetry: 0, autoAck: true });
    });

    it("reports per-topic and per-queue stats", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      await push(topic, "q", "1");
      await push(topic, "q", "2");
      await push(topic, "q", "3", 60_000);
      const m = await pop(topic, "q");
      await fixture.client.call("ack", { topic, bindKey: "q", id: m.id });
      await pop(topic, "q");
      const { stat } = await fixture.client.call<object, { stat: any }>("getTopicStat", { topic });
      expect(stat.pushed).to.equal(3n);
      expect(stat.popped).to.equal(2n);
      expect(stat.acked).to.equal(1n);
      expect(stat.inFlight).to.equal(1n);
      expect(stat.delayed).to.equal(1n);
      expect(stat.backlog).to.equal(0n);
      expect(stat.queues[0]).to.deep.include({ bindKey: "q", name: `${topic}_q`, pushed: 3n, inFlight: 1n, delayed: 1n });
    });

    it("answers ping with the node id and version", async () => {
      const r = await fixture.client.call<object, { nodeId: number; version: string; startedAtMs: bigint }>("ping", {});
      expect(r.nodeId).to.equal(1);
      expect(r.version).to.match(/^\d+\.\d+\.\d+/);
      expect(Number(r.startedAtMs)).to.be.within(fixture.node.spawnedAtMs, Date.now());
    });
  });

  describe("routing", () => {
    it("FULL: delivers to the queue whose bind key equals the route key", async () => {
      const topic = uniqueTopic();
      await declare(topic, "a");
      await declare(topic, "b");
      const r = await push(topic, "b", "to-b");
      expect(r.queues).to.equal(1);
      expect((await pop(topic, "b")).body.toString()).to.equal("to-b");
      expect(await codeOf(pop(topic, "a"))).to.equal(S.NOT_FOUND);
    });

    it("sends an empty route key to the default queue, created on demand", async () => {
      const topic = uniqueTopic();
      await push(topic, "", "dflt");
      expect((await pop(topic, "default")).body.toString()).to.equal("dflt");
    });

    it("fails with FAILED_PRECONDITION when no queue matches", async () => {
      const topic = uniqueTopic();
      await declare(topic, "a");
      expect(await codeOf(push(topic, "zzz", "x"))).to.equal(S.FAILED_PRECONDITION);
    });

    it("REGEX: copies to every bind key the pattern matches anywhere, as the original (^ and $ anchor)", async () => {
      const topic = uniqueTopic();
      await config(topic, { routeMode: RouteMode.ROUTE_MODE_REGEX });
      for (const b of ["user.created", "user.deleted", "superuser.x", "home", "homework", "office"]) await declare(topic, b);
      const r = await push(topic, "^user\\.", "u");
      expect(r.queues).to.equal(2);
      expect((await pop(topic, "user.created")).id).to.equal(r.id);
      expect((await pop(topic, "user.deleted")).id).to.equal(r.id);
      expect(await codeOf(pop(topic, "superuser.x"))).to.equal(S.NOT_FOUND);
      const h = await push(topic, "home", "h");
      expect(h.queues).to.equal(2);
      expect((await pop(topic, "homework")).id).to.equal(h.id);
      expect((await pop(topic, "home")).id).to.equal(h.id);
      expect((await push(topic, "^home$", "h2")).queues).to.equal(1);
      expect(await codeOf(pop(topic, "office"))).to.equal(S.NOT_FOUND);
    });

    it("REGEX: a catastrophic-backtracking pattern neither stalls the node nor matches wrongly", async () => {
      const topic = uniqueTopic();
      await config(topic, { routeMode: RouteMode.ROUTE_MODE_REGEX });
      await declare(topic, "a".repeat(200) + "!");
      // On a backtracking engine (a+)+$ against "aaa...a!" takes 2^200 steps: answering at all shows it does not backtrack.
      expect(await codeOf(push(topic, "^(a+)+$", "x"))).to.equal(S.FAILED_PRECONDITION);
      const ping = await fixture.client.call<object, { nodeId: number }>("ping", {});
      expect(ping.nodeId).to.equal(1);
    });

    it("REGEX: an invalid pattern is INVALID_ARGUMENT", async () => {
      const topic = uniqueTopic();
      await config(topic, { routeMode: RouteMode.ROUTE_MODE_REGEX });
      await declare(topic, "x");
      expect(await codeOf(push(topic, "(unclosed", "x"))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(push(topic, "(a)\\1", "x"))).to.equal(S.INVALID_ARGUMENT);
    });

    it("WILDCARD: '*' matches one word and '#' zero or more, like RabbitMQ", async () => {
      const topic = uniqueTopic();
      await config(topic, { routeMode: RouteMode.ROUTE_MODE_WILDCARD });
      for (const b of ["order.*.paid", "order.#", "#.paid", "refund.*"]) await declare(topic, b);
      expect((await push(topic, "order.eu.paid", "1")).queues).to.equal(3);
      expect((await push(topic, "order", "2")).queues).to.equal(1);
      expect((await push(topic, "order.eu.x.paid", "3")).queues).to.equal(2);
      expect(await codeOf(push(topic, "refund.a.b", "4"))).to.equal(S.FAILED_PRECONDITION);
      expect((await pop(topic, "order.*.paid")).body.toString()).to.equal("1");
      expect(await codeOf(pop(topic, "order.*.paid"))).to.equal(S.NOT_FOUND);
    });
  });

  describe("delivery", () => {
    it("delivers in push order and acks for good", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      for (let i = 0; i < 5; i++) await push(topic, "q", `m${i}`);
      for (let i = 0; i < 5; i++) {
        const m = await pop(topic, "q");
        expect(m.body.toString()).to.equal(`m${i}`);
        expect(m.retry).to.equal(0);
        await fixture.client.call("ack", { topic, bindKey: "q", id: m.id });
      }
      expect(await codeOf(pop(topic, "q"))).to.equal(S.NOT_FOUND);
    });

    it("gives ids that embed the node id and grow over time", async () => {
      const topic = uniqueTopic();
      const a = await push(topic, "", "a");
      const b = await push(topic, "", "b");
      expect(b.id > a.id).to.equal(true);
      expect(Number((a.id >> 12n) & 1023n) + 1).to.equal(1);
    });

    it("long-polls: a pop waiting on an empty queue returns the next push", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      const waiting = pop(topic, "q", 15_000);
      // A request on the same channel behind it: once it is answered, the long poll is waiting in the node.
      expect(await codeOf(pop(topic, "q"))).to.equal(S.NOT_FOUND);
      const r = await push(topic, "q", "late");
      const m = await waiting;
      expect(m.id).to.equal(r.id);
    });

    it("long-polls: a pop that waits in vain ends NOT_FOUND after wait_ms", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      const t0 = Date.now();
      expect(await codeOf(pop(topic, "q", 300))).to.equal(S.NOT_FOUND);
      // Not before wait_ms (less a little for the timers' millisecond rounding).
      expect(Date.now() - t0).to.be.at.least(290);
    });

    it("delays a message for delay_ms and fires delayed messages in time order", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      // One batch: both have the same push time, so their order is decided by the delays alone.
      await fixture.client.call("pushBatch", {
        topic,
        messages: [
          { routeKey: "q", body: body("late"), delayMs: 400n },
          { routeKey: "q", body: body("early"), delayMs: 200n },
        ],
      });
      const first = await pop(topic, "q", 15_000);
      const second = await pop(topic, "q", 15_000);
      expect([first.body.toString(), second.body.toString()]).to.deep.equal(["early", "late"]);
      expect(Number(first.deadlineMs) - TTR_MS - Number(first.createdAtMs)).to.be.at.least(200);
      expect(Number(second.deadlineMs) - TTR_MS - Number(second.createdAtMs)).to.be.at.least(400);
    });

    it("auto-ack: a delivered message is done at once", async () => {
      const topic = uniqueTopic();
      await config(topic, { autoAck: true, msgTtr: 1 });
      await declare(topic, "q");
      const r = await push(topic, "q", "x");
      const m = await pop(topic, "q");
      expect(m.id).to.equal(r.id);
      expect(m.deadlineMs).to.equal(0n);
      expect(await codeOf(fixture.client.call("ack", { topic, bindKey: "q", id: m.id }))).to.equal(S.NOT_FOUND);
      // Nothing in flight: no TTR can bring it back.
      expect(await stat(topic)).to.deep.include({ inFlight: 0n, backlog: 0n, delayed: 0n, popped: 1n });
      expect(await codeOf(pop(topic, "q"))).to.equal(S.NOT_FOUND);
    });

    it("redelivers an unacked message after its TTR with retry count 1", async () => {
      const topic = uniqueTopic();
      await config(topic, { msgTtr: 1 });
      await declare(topic, "q");
      const r = await push(topic, "q", "x");
      const before = Date.now();
      const m1 = await pop(topic, "q");
      expect(Number(m1.deadlineMs)).to.be.within(before + 1000, Date.now() + 1000);
      const m2 = await pop(topic, "q", 15_000);
      expect([m2.id, m2.retry]).to.deep.equal([r.id, 1]);
      expect(Number(m2.deadlineMs) - 1000, "redelivered no sooner than the deadline").to.be.at.least(Number(m1.deadlineMs));
      expect(await codeOf(fixture.client.call("ack", { topic, bindKey: "q", id: 123n }))).to.equal(S.NOT_FOUND);
      await fixture.client.call("ack", { topic, bindKey: "q", id: m2.id });
    });

    it("moves a message to dead letters once it would exceed msg_retry, and redrives it", async () => {
      const topic = uniqueTopic();
      await config(topic, { msgRetry: 1 });
      await declare(topic, "q");
      const r = await push(topic, "q", "doomed");
      const m0 = await pop(topic, "q");
      expect(m0.retry).to.equal(0);
      await touch(topic, r.id, 20);
      const m1 = await pop(topic, "q", 15_000);
      expect(m1.retry).to.equal(1);
      await touch(topic, r.id, 20);
      const messages = await waitFor(
        async () => {
          const { messages } = await fixture.client.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" });
          return messages.length > 0 ? messages : undefined;
        },
        { what: "the message to be dead-lettered" },
      );
      expect(await codeOf(pop(topic, "q"))).to.equal(S.NOT_FOUND);
      expect(messages.map((m) => m.id)).to.deep.equal([r.id]);
      expect(messages[0]?.retry).to.equal(2);
      const { stat } = await fixture.client.call<object, { stat: any }>("getTopicStat", { topic });
      expect(stat.dead).to.equal(1n);
      expect(await fixture.client.call("redrive", { topic, bindKey: "q" })).to.deep.equal({ moved: 1n });
      const again = await pop(topic, "q");
      expect(again.id).to.equal(r.id);
      expect(again.retry).to.equal(0);
      expect((await fixture.client.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" })).messages).to.deep.equal([]);
    });

    it("pops dead letters one by one, removing them", async () => {
      const topic = uniqueTopic();
      await config(topic, { msgRetry: 0 });
      await declare(topic, "q");
      const r = await push(topic, "q", "d");
      await pop(topic, "q");
      await touch(topic, r.id, 20);
      await waitFor(async () => (await stat(topic)).dead === 1n, { what: "the queue's timer to move the message to the dead letters" });
      const dead = await fixture.client.call<object, { message: Message }>("popDead", { topic, bindKey: "q" });
      expect(dead.message.id).to.equal(r.id);
      expect(await codeOf(fixture.client.call("popDead", { topic, bindKey: "q" }))).to.equal(S.NOT_FOUND);
    });

    it("nack returns a message at once, or after its delay, without counting a retry", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      await push(topic, "q", "n");
      const m = await pop(topic, "q");
      await fixture.client.call("nack", { topic, bindKey: "q", id: m.id });
      const again = await pop(topic, "q");
      expect(again.id).to.equal(m.id);
      expect(again.retry).to.equal(0);
      const t0 = Date.now();
      await fixture.client.call("nack", { topic, bindKey: "q", id: m.id, delayMs: 300n });
      const late = await pop(topic, "q", 15_000);
      expect([late.id, late.retry]).to.deep.equal([m.id, 0]);
      expect(Number(late.deadlineMs) - TTR_MS - t0, "not before its delay").to.be.at.least(300);
    });

    it("touch extends the deadline so the TTR does not expire", async () => {
      const topic = uniqueTopic();
      await config(topic, { msgTtr: 1 });
      await declare(topic, "q");
      await push(topic, "q", "t");
      await push(topic, "q", "witness");
      const m = await pop(topic, "q");
      const before = Date.now();
      const touched = await touch(topic, m.id, 60_000);
      expect(touched).to.be.within(before + 60_000, Date.now() + 60_000);
      // The witness's TTR ends no sooner than m's would have: once it is redelivered, m's old deadline has passed.
      const w = await pop(topic, "q");
      expect(Number(w.deadlineMs)).to.be.at.least(Number(m.deadlineMs));
      const again = await pop(topic, "q", 15_000);
      expect([again.id, again.retry]).to.deep.equal([w.id, 1]);
      await fixture.client.call("ack", { topic, bindKey: "q", id: m.id });
      expect((await stat(topic)).queues[0]).to.deep.include({ redelivered: 1n, inFlight: 1n });
      await fixture.client.call("ack", { topic, bindKey: "q", id: w.id });
    });

    it("touch with a ttr_ms shorter than what remains makes the TTR expire that soon", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      await push(topic, "q", "t");
      const m = await pop(topic, "q"); // msg_ttr 30 s
      const deadline = await touch(topic, m.id, 200);
      expect(deadline).to.be.below(Number(m.deadlineMs));
      const again = await pop(topic, "q", 15_000);
      expect([again.id, again.retry]).to.deep.equal([m.id, 1]);
      expect(Number(again.deadlineMs) - TTR_MS, "redelivered no sooner than the new deadline").to.be.at.least(deadline);
      await fixture.client.call("ack", { topic, bindKey: "q", id: m.id });
    });

    it("push batch stores every message in order and returns their ids", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      const messages = Array.from({ length: 100 }, (_, i) => ({ routeKey: "q", body: body(`b${i}`), delayMs: 0n }));
      const { ids } = await fixture.client.call<object, { ids: bigint[] }>("pushBatch", { topic, messages });
      expect(ids).to.have.length(100);
      for (let i = 0; i < 100; i++) expect((await pop(topic, "q")).id).to.equal(ids[i]);
    });

    it("push batch with one unroutable message stores none", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      const messages = [{ routeKey: "q", body: body("ok") }, { routeKey: "nope", body: body("bad") }];
      expect(await codeOf(fixture.client.call("pushBatch", { topic, messages }))).to.equal(S.FAILED_PRECONDITION);
      expect(await codeOf(pop(topic, "q"))).to.equal(S.NOT_FOUND);
    });
  });

  describe("streams", () => {
    it("PushStream acknowledges each push with its seq once stored", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      const stream = fixture.client.pushStream();
      const replies: { seq: bigint; id: bigint; errorCode: number }[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on("data", (r) => replies.push(r));
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      for (let i = 0; i < 50; i++) stream.write({ seq: BigInt(i), topic, routeKey: "q", body: body(`s${i}`), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
      stream.write({ seq: 50n, topic, routeKey: "missing", body: body("x"), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
      stream.end();
      await done;
      expect(replies.map((r) => r.seq)).to.deep.equal(Array.from({ length: 51 }, (_, i) => BigInt(i)));
      expect(replies.slice(0, 50).every((r) => r.errorCode === 0 && r.id > 0n)).to.equal(true);
      expect(replies[50]?.errorCode).to.equal(S.FAILED_PRECONDITION);
      expect((await pop(topic, "q")).body.toString()).to.equal("s0");
    });

    it("Consume never has more in flight than the credit granted, and acks on the stream return credit", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      const messages = Array.from({ length: 30 }, (_, i) => ({ routeKey: "q", body: body(`c${i}`) }));
      await fixture.client.call("pushBatch", { topic, messages });
      const stream = fixture.client.consume();
      const got: Message[] = [];
      stream.on("data", (r: ConsumeResponse) => got.push(...r.messages));
      stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 10, maxBatchBytes: 0 } } });
      // The node's own count is exact: had it sent an 11th, it would count 11 in flight.
      await waitFor(() => got.length >= 10, { what: "the first 10 deliveries" });
      expect(await stat(topic)).to.deep.include({ inFlight: 10n, backlog: 20n });
      expect(got).to.have.length(10);
      stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: got.slice(0, 4).map((m) => m.id), nackIds: [], touchIds: [] } } });
      await waitFor(() => got.length >= 14, { what: "4 more deliveries for the 4 acks" });
      expect(await stat(topic)).to.deep.include({ inFlight: 10n, backlog: 16n, acked: 4n });
      expect(got).to.have.length(14);
      stream.write({ kind: { $case: "update", value: { credit: 100, ackIds: [], nackIds: [], touchIds: [] } } });
      await waitFor(() => got.length >= 30, { what: "the rest after credit 100" });
      expect(got.map((m) => m.body.toString())).to.deep.equal(messages.map((m) => m.body.toString()));
      expect(await stat(topic)).to.deep.include({ inFlight: 26n, backlog: 0n });
      stream.end();
      // Closing the stream gives back what it held.
      const after = await waitFor(async () => ((await stat(topic)).inFlight === 0n ? stat(topic) : undefined), { what: "the closed stream to return its messages" });
      expect(after).to.deep.include({ inFlight: 0n, backlog: 26n });
    });

    it("a unary Ack or Nack of a message a Consume stream holds gives that stream its credit back", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      await fixture.client.call("pushBatch", { topic, messages: ["a", "b", "c"].map((s) => ({ routeKey: "q", body: body(s) })) });
      const stream = fixture.client.consume();
      const got: Message[] = [];
      stream.on("data", (r: ConsumeResponse) => got.push(...r.messages));
      stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 1, maxBatchBytes: 0 } } });
      await waitFor(() => got.length >= 1, { what: "the first delivery" });
      expect(await stat(topic)).to.deep.include({ inFlight: 1n, backlog: 2n });
      expect(got.map((m) => m.body.toString())).to.deep.equal(["a"]);
      await fixture.client.call("ack", { topic, bindKey: "q", id: got[0]!.id });
      await waitFor(() => got.length >= 2, { what: "a delivery for the unary ack's credit" });
      expect(await stat(topic)).to.deep.include({ inFlight: 1n, backlog: 1n });
      expect(got.map((m) => m.body.toString())).to.deep.equal(["a", "b"]);
      await fixture.client.call("nack", { topic, bindKey: "q", id: got[1]!.id, delayMs: 60_000n });
      await waitFor(() => got.length >= 3, { what: "a delivery for the unary nack's credit" });
      expect(await stat(topic)).to.deep.include({ inFlight: 1n, backlog: 0n, delayed: 1n });
      expect(got.map((m) => m.body.toString())).to.deep.equal(["a", "b", "c"]);
      stream.end();
    });

    it("Consume packs several messages into one response", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      await fixture.client.call("pushBatch", { topic, messages: Array.from({ length: 500 }, () => ({ routeKey: "q", body: body("p") })) });
      const stream = fixture.client.consume();
      const sizes: number[] = [];
      stream.on("data", (r: ConsumeResponse) => sizes.push(r.messages.length));
      stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 1000, maxBatchBytes: 0 } } });
      await waitFor(() => sizes.reduce((a, b) => a + b, 0) >= 500, { what: "500 deliveries" });
      stream.end();
      expect(sizes.reduce((a, b) => a + b, 0)).to.equal(500);
      expect(sizes.length).to.be.lessThan(5);
    });

    it("Consume refuses an update before subscribe and an unknown queue", async () => {
      const stream = fixture.client.consume();
      const status = new Promise<number>((resolve) => stream.on("error", (e: grpc.ServiceError) => resolve(e.code)));
      stream.on("data", () => {});
      stream.write({ kind: { $case: "update", value: { credit: 1, ackIds: [], nackIds: [], touchIds: [] } } });
      expect(await status).to.equal(S.INVALID_ARGUMENT);
      const s2 = fixture.client.consume();
      const st2 = new Promise<number>((resolve) => s2.on("error", (e: grpc.ServiceError) => resolve(e.code)));
      s2.on("data", () => {});
      s2.write({ kind: { $case: "subscribe", value: { topic: uniqueTopic(), bindKey: "nope", maxInFlight: 1, maxBatchBytes: 0 } } });
      expect(await st2).to.equal(S.NOT_FOUND);
    });

    it("pub/sub: publish reaches the live subscribers and reports how many", async () => {
      const channel = uniqueTopic("ch");
      expect(await fixture.client.call("publish", { channel, body: body("nobody") })).to.deep.equal({ receivers: 0 });
      const subs = [fixture.client.subscribe({ channels: [channel] }), fixture.client.subscribe({ channels: [channel, "other"] })];
      const got: string[][] = [[], []];
      subs.forEach((s, i) => {
        s.on("data", (m: { body: Buffer }) => {
          if (m.body.toString() !== "probe") got[i]!.push(m.body.toString());
        });
        s.on("error", () => {});
      });
      const receivers = async (text: string) => (await fixture.client.call<object, { receivers: number }>("publish", { channel, body: body(text) })).receivers;
      await waitFor(async () => (await receivers("probe")) === 2, { what: "both subscriptions to be live" });
      expect(await receivers("hello")).to.equal(2);
      await waitFor(() => got.every((g) => g.length > 0), { what: "both subscribers to receive hello" });
      expect(got).to.deep.equal([["hello"], ["hello"]]);
      subs[0]!.cancel();
      await waitFor(async () => (await receivers("probe")) === 1, { what: "the cancelled subscription to be gone" });
      subs[1]!.cancel();
    });
  });

  describe("bad input", () => {
    it("rejects invalid and empty names with INVALID_ARGUMENT", async () => {
      expect(await codeOf(push("", "", "x"))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(push("bad topic!", "", "x"))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(push("x".repeat(129), "", "x"))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(declare(uniqueTopic(), ""))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(declare(uniqueTopic(), "k".repeat(300)))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(fixture.client.call("publish", { channel: "no spaces", body: body("x") }))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(fixture.client.call("config", { topic: uniqueTopic(), msgTtr: 999_999 }))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(fixture.client.call("config", { topic: uniqueTopic(), routeMode: 42 }))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(fixture.client.call("pushBatch", { topic: uniqueTopic(), messages: [] }))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(pop(uniqueTopic(), "q", 120_000))).to.equal(S.INVALID_ARGUMENT);
    });

    it("rejects an oversized body with RESOURCE_EXHAUSTED", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      const big = Buffer.alloc(256 * 1024 + 1);
      expect(await codeOf(fixture.client.call("push", { topic, routeKey: "q", body: big }))).to.equal(S.RESOURCE_EXHAUSTED);
      expect(await codeOf(fixture.client.call("publish", { channel: topic, body: big }))).to.equal(S.RESOURCE_EXHAUSTED);
    });

    it("answers NOT_FOUND for unknown topics, queues and message ids", async () => {
      const topic = uniqueTopic();
      expect(await codeOf(fixture.client.call("getTopicStat", { topic }))).to.equal(S.NOT_FOUND);
      expect(await codeOf(fixture.client.call("listQueues", { topic }))).to.equal(S.NOT_FOUND);
      await declare(topic, "q");
      for (const m of ["ack", "nack", "touch"]) {
        expect(await codeOf(fixture.client.call(m, { topic, bindKey: "q", id: 42n })), m).to.equal(S.NOT_FOUND);
        expect(await codeOf(fixture.client.call(m, { topic, bindKey: "nope", id: 42n })), m).to.equal(S.NOT_FOUND);
      }
      for (const m of ["popDead", "listDead", "redrive", "deleteQueue"]) {
        expect(await codeOf(fixture.client.call(m, { topic, bindKey: "nope" })), m).to.equal(S.NOT_FOUND);
      }
      expect(await codeOf(pop(topic, "nope"))).to.equal(S.NOT_FOUND);
    });

    it("rejects an absurd delay", async () => {
      const topic = uniqueTopic();
      await declare(topic, "q");
      expect(await codeOf(push(topic, "q", "x", 10 * 366 * 24 * 3600 * 1000))).to.equal(S.INVALID_ARGUMENT);
      expect(await codeOf(fixture.client.call("push", { topic, routeKey: "q", body: body("x"), delayMs: 2n ** 63n }))).to.equal(S.INVALID_ARGUMENT);
    });

    it("answers malformed protobuf on the wire with INVALID_ARGUMENT, and keeps serving", async () => {
      const raw = new grpc.Client(fixture.node.grpcAddr, grpc.credentials.createInsecure());
      const code = await new Promise<number>((resolve) => {
        raw.makeUnaryRequest(
          "/gmq.v1.BrokerService/Push",
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
          (err) => resolve(err ? err.code : 0),
        );
      });
      raw.close();
      expect(code).to.equal(S.INVALID_ARGUMENT);
      expect((await fixture.client.call<object, { nodeId: number }>("ping", {})).nodeId).to.equal(1);
    });
  });
});

// Coalesced pushes against real node processes: the wire form (several pushes
// in one PushStream request, answered in `results`), the SDK's push() sending
// the pushes of one tick together while each keeps its own order, id and
// error, and a node killed with -9 mid-burst losing no acknowledged push.
import { expect } from "chai";
import { credentials, InterceptingCall, type Interceptor, type ServiceError } from "@grpc/grpc-js";
import { Code, GmqClient, GmqError, Reason, type Delivery } from "../../src/client/index.js";
import { reasonFromTrailers } from "../../src/client/errors.js";
import { BrokerServiceClient, PushStreamRequest, PushStreamResponse } from "../../src/gen/gmq/v1/broker.js";
import { uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { nodeWithClient, RestartableNode } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

/** Counts the request messages the client writes on PushStream calls: what went over the wire. */
function countPushStreamWrites(): { interceptor: Interceptor; writes: number } {
  const counter = {
    writes: 0,
    interceptor: ((options, nextCall) => {
      const call = new InterceptingCall(nextCall(options), {
        sendMessage(message, next) {
          if (options.method_definition.path.endsWith("/PushStream")) counter.writes++;
          next(message);
        },
      });
      return call;
    }) as Interceptor,
  };
  return counter;
}

const push = (seq: number, topic: string, routeKey = "q", body = `m${seq}`): PushStreamRequest => ({
  seq: BigInt(seq),
  topic,
  routeKey,
  body: Buffer.from(body),
  delayMs: 0n,
  ttlMs: 0n,
  idempotencyKey: "",
  pushes: [],
});
const batchOf = (pushes: PushStreamRequest[]): PushStreamRequest => ({ ...push(0, "", ""), body: Buffer.alloc(0), pushes });

/** Writes requests on one PushStream, half-closes it, and resolves with every reply and the stream's final error, if any. */
function exchange(client: Client, requests: PushStreamRequest[]): Promise<{ replies: PushStreamResponse[]; error?: { code: number; details: string } }> {
  const stream = client.pushStream();
  const replies: PushStreamResponse[] = [];
  return new Promise((resolve) => {
    stream.on("data", (r: PushStreamResponse) => replies.push(r));
    stream.on("end", () => resolve({ replies }));
    stream.on("error", (e: { code: number; details: string }) => resolve({ replies, error: { code: e.code, details: e.details } }));
    for (const r of requests) stream.write(r);
    stream.end();
  });
}

/** Drains a queue through the SDK; resolves with the deliveries in the order the handler saw them. */
async function drain(client: GmqClient, topic: string, count: number): Promise<Delivery[]> {
  const got: Delivery[] = [];
  const consumer = client.consume(topic, "q", (m) => void got.push(m), { maxInFlight: 1000 });
  await waitFor(() => got.length >= count, { what: `${count} messages`, deadlineMs: 60_000 });
  await consumer.close();
  return got;
}

describe("coalesced pushes on the wire (real node)", function () {
  this.timeout(60_000);
  const fixture = nodeWithClient();

  it("answers each push of a request carrying several in results, by its own seq, once the client sends them so", async () => {
    const topic = uniqueTopic("coalesce");
    await fixture.client.call("declareQueue", { topic, bindKey: "q" });
    const { replies, error } = await exchange(fixture.client, [
      push(1, topic),
      batchOf([push(2, topic), push(3, topic, "nowhere"), push(4, topic)]),
    ]);
    expect(error).to.equal(undefined);
    // The single push is answered alone (the client has not coalesced yet) and says the node takes pushes.
    expect(replies[0]).to.deep.include({ seq: 1n, errorCode: 0, takesPushes: true, results: [] });
    // A failure may be answered before successes taken earlier (it waits for no write), as it always could.
    const results = replies
      .slice(1)
      .flatMap((r) => r.results)
      .sort((a, b) => Number(a.seq - b.seq));
    expect(results.map((r) => [r.seq, r.errorCode, r.errorReason])).to.deep.equal([
      [2n, 0, ""],
      [3n, Code.FAILED_PRECONDITION, Reason.NO_ROUTE],
      [4n, 0, ""],
    ]);
    for (const r of replies.slice(1)) expect(r).to.deep.include({ seq: 0n, takesPushes: true });
    expect(results[0]!.id < results[2]!.id).to.equal(true);
    const { stat } = await fixture.client.call<object, { stat: { queues: { pushed: bigint }[] } }>("getTopicStat", { topic });
    expect(stat.queues[0]!.pushed).to.equal(3n);
  });

  it("ends the stream with INVALID_ARGUMENT, storing none of its pushes, for a request with pushes and fields of its own, nested pushes or too many", async () => {
    const topic = uniqueTopic("coalesce");
    await fixture.client.call("declareQueue", { topic, bindKey: "q" });
    const malformed = [
      { ...batchOf([push(1, topic)]), topic },
      batchOf([push(1, topic), { ...push(2, topic), pushes: [push(3, topic)] }]),
      batchOf(Array.from({ length: 1025 }, (_, i) => push(i + 1, topic))),
    ];
    for (const [i, req] of malformed.entries()) {
      const { replies, error } = await exchange(fixture.client, [req]);
      expect({ replies: replies.length, code: error?.code }, `request ${i}`).to.deep.equal({ replies: 0, code: Code.INVALID_ARGUMENT });
    }
    const { stat } = await fixture.client.call<object, { stat: { queues: { pushed: bigint }[] } }>("getTopicStat", { topic });
    expect(stat.queues[0]!.pushed).to.equal(0n);
  });

  it("answers a push, then ends the stream with MALFORMED_REQUEST at a request that is not protobuf the stream with MALFORMED_REQUEST", async () => {
    const topic = uniqueTopic("coalesce");
    await fixture.client.call("declareQueue", { topic, bindKey: "q" });
    const raw = new BrokerServiceClient(fixture.node.grpcAddr, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    try {
      const stream = raw.makeBidiStreamRequest<Buffer, Buffer>("/gmq.v1.BrokerService/PushStream", (b) => b, (b) => b);
      const replies: PushStreamResponse[] = [];
      const ended = new Promise<ServiceError>((resolve) => {
        stream.on("data", (b: Buffer) => replies.push(PushStreamResponse.decode(b)));
        stream.on("error", resolve);
      });
      stream.write(Buffer.from(PushStreamRequest.encode(push(1, topic)).finish()));
      await waitFor(() => replies.length === 1, { what: "the first push's answer" });
      // A coalesced request whose one push is cut short: its length says 100 bytes, 2 follow.
      stream.write(Buffer.from([66, 100, 8, 2]));
      const err = await ended;
      expect({ code: err.code, reason: reasonFromTrailers(err.metadata) }).to.deep.equal({ code: Code.INVALID_ARGUMENT, reason: "MALFORMED_REQUEST" });
      expect(err.details).to.match(/^the PushStream request is not valid protobuf: /);
      expect(replies.map((r) => ({ seq: r.seq, errorCode: r.errorCode }))).to.deep.equal([{ seq: 1n, errorCode: 0 }]);
    } finally {
      raw.close();
    }
  });
});

describe("coalesced pushes through the SDK (real node)", function () {
  this.timeout(90_000);
  // A small body cap, so an oversize body is small enough to travel with good ones.
  const fixture = nodeWithClient({ args: ["--max-body-bytes", "1024"] });
  const counter = countPushStreamWrites();
  let client: GmqClient;

  before(async () => {
    client = await GmqClient.connect({ addresses: [fixture.node.grpcAddr], channelOptions: { interceptors: [counter.interceptor] } });
  });
  after(async () => {
    await client?.close();
  });

  it("sends the pushes of one tick in few requests and stores them in the order they were made", async () => {
    const topic = uniqueTopic("order");
    await client.declareQueue(topic, "q");
    await client.push(topic, "first", { routeKey: "q" }); // the node's first reply says it takes coalesced pushes
    const before = counter.writes;
    const rounds = 5;
    const perRound = 1000;
    for (let r = 0; r < rounds; r++) {
      const results = await Promise.all(Array.from({ length: perRound }, (_, i) => client.push(topic, `r${r}-${i}`, { routeKey: "q" })));
      const ids = results.map((x) => x.id);
      expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!), `ids of round ${r} increase`).to.equal(true);
    }
    // 48 KiB per request at most (bodies, names, framing): ~200 of these per request, far fewer than one per push.
    expect(counter.writes - before).to.be.at.most((rounds * perRound) / 100);
    const got = await drain(client, topic, 1 + rounds * perRound);
    const expected = ["first", ...Array.from({ length: rounds * perRound }, (_, k) => `r${Math.floor(k / perRound)}-${k % perRound}`)];
    expect(got.map((m) => m.body.toString())).to.deep.equal(expected);
  });

  it("answers each coalesced push on its own: an oversize body or an unroutable key fails alone", async () => {
    const topic = uniqueTopic("errors");
    await client.declareQueue(topic, "q");
    await client.push(topic, "first", { routeKey: "q" });
    const before = counter.writes;
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const body = i === 7 ? "x".repeat(2048) : `ok${i}`;
        const routeKey = i === 13 ? "nowhere" : "q";
        return client.push(topic, body, { routeKey }).then(
          (r) => ({ ok: true as const, id: r.id, duplicate: r.duplicate }),
          (e: GmqError) => ({ ok: false as const, code: e.code, reason: e.reason, outcomeUnknown: e.outcomeUnknown }),
        );
      }),
    );
    expect(counter.writes - before).to.equal(1);
    expect(outcomes[7]).to.deep.equal({ ok: false, code: Code.RESOURCE_EXHAUSTED, reason: Reason.BODY_TOO_LARGE, outcomeUnknown: false });
    expect(outcomes[13]).to.deep.equal({ ok: false, code: Code.FAILED_PRECONDITION, reason: Reason.NO_ROUTE, outcomeUnknown: false });
    const good = outcomes.filter((o, i) => i !== 7 && i !== 13);
    expect(good.every((o) => o.ok && !o.duplicate)).to.equal(true);
    const got = await drain(client, topic, 19);
    expect(got.map((m) => m.body.toString())).to.deep.equal(["first", ...Array.from({ length: 20 }, (_, i) => `ok${i}`).filter((_, i) => i !== 7 && i !== 13)]);
  });

  it("answers coalesced pushes with an idempotency key seen before as duplicates with the original id", async () => {
    const topic = uniqueTopic("keys");
    await client.declareQueue(topic, "q");
    const first = await client.push(topic, "a", { routeKey: "q", idempotencyKey: "k1" });
    const [again, other, againInTick] = await Promise.all([
      client.push(topic, "b", { routeKey: "q", idempotencyKey: "k1" }),
      client.push(topic, "c", { routeKey: "q", idempotencyKey: "k2" }),
      client.push(topic, "d", { routeKey: "q", idempotencyKey: "k2" }),
    ]);
    expect([again.id, again.duplicate]).to.deep.equal([first.id, true]);
    expect(other.duplicate).to.equal(false);
    expect([againInTick.id, againInTick.duplicate]).to.deep.equal([other.id, true]);
  });
});

describe("coalesced pushes and a node killed mid-burst (real node processes)", function () {
  this.timeout(180_000);

  it("stores every push it acknowledged; the others fail, those sent with an unknown outcome", async () => {
    await RestartableNode.run(async (n) => {
      const topic = uniqueTopic("kill");
      await n.client.call("declareQueue", { topic, bindKey: "q" });
      const client = await GmqClient.connect({ addresses: [n.node.grpcAddr], maxAttempts: 1, waitForNodesMs: 1000 });
      const acked = new Map<string, bigint>();
      const failed: GmqError[] = [];
      const settled: Promise<unknown>[] = [];
      let sent = 0;
      let killed = false;
      // Bursts of 200 pushes per tick until the node is gone (at most 40,000).
      while (sent < 40_000 && failed.length === 0) {
        for (let i = 0; i < 200; i++) {
          const body = `k${sent++}`;
          settled.push(
            client.push(topic, body, { routeKey: "q" }).then(
              (r) => acked.set(body, r.id),
              (e: GmqError) => failed.push(e),
            ),
          );
        }
        if (!killed && acked.size >= 2000) {
          killed = true;
          await n.node.kill();
        }
        // At most ~2000 unanswered, so the kill finds pushes in every state: answered, sent, still queued.
        do await new Promise((r) => setImmediate(r));
        while (sent - acked.size - failed.length > 2000);
      }
      await Promise.all(settled);
      await client.close();
      expect(killed).to.equal(true);
      expect(acked.size + failed.length).to.equal(sent);
      // Sent and unanswered: outcome unknown. Not sent: UNAVAILABLE, safe to retry elsewhere.
      for (const e of failed) expect(e.code === Code.UNAVAILABLE || e.outcomeUnknown, `${e.code} ${e.message}`).to.equal(true);

      await n.restart("kill"); // the process is gone already; this starts a new one on the same data dir
      const reader = await GmqClient.connect({ addresses: [n.node.grpcAddr] });
      const [stat] = await reader.stats(topic);
      const stored = Number(stat!.value!.queues[0]!.ready);
      const got = await drain(reader, topic, stored);
      await reader.close();
      const byBody = new Map(got.map((m) => [m.body.toString(), m.id]));
      const lost = [...acked].filter(([body, id]) => byBody.get(body) !== id);
      expect(lost, "acknowledged and not stored").to.deep.equal([]);
      expect(got.every((m) => /^k\d+$/.test(m.body.toString()))).to.equal(true);
    });
  });
});

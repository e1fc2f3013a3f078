// No single client can exhaust the node: each test plays one hostile client
// against a real node process and asserts the outcome the limit promises (a
// status, the messages back in the queue, the node's RSS under a bound, a
// probe client served meanwhile, the limit's rejection counted).
import { expect } from "chai";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { connect as http2Connect, type ClientHttp2Session } from "node:http2";
import { join } from "node:path";
import { connect as tcpConnect } from "node:net";
import { reasonFromTrailers } from "../../src/client/errors.js";
import * as pb from "../../src/gen/gmq/v1/broker.js";
import { connect, grpc, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { EventReader } from "../helpers/http.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;
const MiB = 1024 * 1024;
const BODY = Buffer.alloc(200 * 1024, "b"); // under the test node's 256 KiB body limit
/** The node's send buffer per stream in these tests. */
const STREAM_BUFFER_BYTES = 2 * MiB;
/** The node's largest gRPC message in these tests: a batch of five bodies does not fit. */
const GRPC_MESSAGE_BYTES = MiB;

/** Bytes of every file under dir (apparent sizes: what was allocated). */
function bytesUnder(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? bytesUnder(p) : statSync(p).size;
  }
  return n;
}

/**
 * p's outcome, or a failure naming what was awaited once a generous deadline
 * passes: a node without the limit under test (GMQ_TEST_NODE_ROOT) may never
 * settle it, and the failure should say what never came.
 */
async function settled<T>(p: Promise<T>, what: string): Promise<T> {
  let outcome: { value: T } | { error: unknown } | undefined;
  p.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  const o = await waitFor(() => outcome, { what, deadlineMs: 30_000 });
  if ("error" in o) throw o.error;
  return o.value;
}

/** The process's resident set in bytes, from /proc. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error("no VmRSS");
  return Number(m[1]) * 1024;
}

describe("limits: one client cannot exhaust the node (real node)", function () {
  this.timeout(120_000);
  let node: NodeProcess;
  let client: Client;
  let base: string;

  before(async () => {
    node = await startNodeProcess({
      args: ["--max-stream-buffer-bytes", String(STREAM_BUFFER_BYTES), "--max-grpc-message-bytes", String(GRPC_MESSAGE_BYTES), "--max-subscribe-channels", "1000", "--max-push-fanout-bytes", String(4 * MiB)],
    });
    client = connect(node.grpcAddr);
    base = `http://${node.httpAddr}`;
  });
  after(async () => {
    client?.close();
    await node?.stop();
    node?.cleanup();
  });

  async function rejections(limit: string, at = base): Promise<number> {
    const text = await (await fetch(`${at}/metrics`)).text();
    const m = new RegExp(`^gmq_limit_rejections_total\\{limit="${limit}"\\} (\\d+)`, "m").exec(text);
    return m ? Number(m[1]) : 0;
  }

  async function stat(topic: string): Promise<{ inFlight: bigint; backlog: bigint }> {
    return (await client.call<object, { stat: { inFlight: bigint; backlog: bigint } }>("getTopicStat", { topic })).stat;
  }

  /** A queue holding n copies of BODY, pushed four to a batch (a batch must fit one gRPC message). */
  async function filledQueue(prefix: string, n: number): Promise<string> {
    const topic = uniqueTopic(prefix);
    await client.call("declareQueue", { topic, bindKey: "q" });
    for (let i = 0; i < n; i += 4) {
      const k = Math.min(4, n - i);
      await client.call("pushBatch", { topic, messages: Array.from({ length: k }, () => ({ routeKey: "q", body: BODY })) });
    }
    return topic;
  }

  it("ends a gRPC Consume stream that asks for max_in_flight 2^32-1 and does not read, returns its messages to the queue, and keeps RSS bounded", async () => {
    const n = 300; // 60 MiB of bodies: all of it would be buffered for the client without the bound
    const topic = await filledQueue("greedy", n);
    const before = await rejections("max-stream-buffer-bytes");
    const rssBefore = rssOf(node.pid);
    const reader = connect(node.grpcAddr); // its own connection, so flow control stops the node's writes to it alone
    try {
      const stream = reader.consume();
      const ended = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
      let received = 0;
      stream.on("data", (r: pb.ConsumeResponse) => (received += r.messages.length));
      stream.pause();
      stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 2 ** 32 - 1, maxBatchBytes: 0 } } });
      // The node cuts the stream at its send buffer; one without that bound hands this client the whole backlog.
      await waitFor(async () => (await rejections("max-stream-buffer-bytes")) > before || (await stat(topic)).inFlight === BigInt(n), {
        what: "the stream was cut by the send-buffer limit (or the whole backlog sent to it)",
        deadlineMs: 30_000,
      });
      expect(Number((await stat(topic)).inFlight), `messages handed to a client that reads nothing (of ${n} queued)`).to.be.at.most(n - 1);
      expect(rssOf(node.pid) - rssBefore, "node RSS growth (bytes) for a client that reads nothing").to.be.below(40 * MiB);
      await waitFor(async () => {
        const s = await stat(topic);
        return s.inFlight === 0n && s.backlog === BigInt(n);
      }, { what: "every message is back in the queue", deadlineMs: 30_000 });
      expect(await client.call<object, object>("ping", {})).to.be.an("object"); // a probe is served meanwhile
      stream.resume();
      const err = await ended;
      expect(err.code).to.equal(S.RESOURCE_EXHAUSTED);
      expect(err.details).to.match(/consumer too slow: more than 2 MiB of messages unread/);
      expect(reasonFromTrailers(err.metadata)).to.equal("CONSUMER_TOO_SLOW");
      expect(received).to.be.below(n);
    } finally {
      reader.close();
    }
  });

  it("ends a gRPC Subscribe that never reads while 60 MiB are published, with RSS bounded and publishers served", async () => {
    const channel = uniqueTopic("deaf");
    const reader = connect(node.grpcAddr);
    try {
      const sub = reader.subscribe({ channels: [channel] });
      const ended = new Promise<grpc.ServiceError>((resolve) => sub.on("error", resolve));
      sub.on("data", () => {});
      sub.pause();
      await waitFor(async () => (await client.call<object, { receivers: number }>("publish", { channel, body: Buffer.from("hi") })).receivers === 1, { what: "the subscription is live", deadlineMs: 30_000 });
      const rssBefore = rssOf(node.pid);
      for (let i = 0; i < 300; i++) await client.call("publish", { channel, body: BODY }); // 60 MiB, each publish answered
      expect(rssOf(node.pid) - rssBefore).to.be.below(48 * MiB);
      sub.resume();
      const err = await ended;
      expect(err.code).to.equal(S.RESOURCE_EXHAUSTED);
      expect(reasonFromTrailers(err.metadata)).to.equal("SUBSCRIBER_TOO_SLOW");
    } finally {
      reader.close();
    }
  });

  it("answers a bad query value quoting at most 200 characters of it", async () => {
    const res = await fetch(`${base}/v1/topics/t/queues/q:consume?ack=${"x".repeat(5000)}`);
    expect(res.status).to.equal(400);
    const reply = (await res.json()) as { message: string };
    expect(reply.message.length).to.be.below(300);
  });

  it("ends an HTTP consume stream with max_in_flight 4294967295 that does not read with a RESOURCE_EXHAUSTED error line, its messages back in the queue", async () => {
    const n = 200;
    const topic = await filledQueue("greedy-http", n);
    const before = await rejections("max-stream-buffer-bytes");
    const rssBefore = rssOf(node.pid);
    const res = await fetch(`${base}/v1/topics/${topic}/queues/q:consume?max_in_flight=4294967295`);
    expect(res.status).to.equal(200);
    // The node cuts the stream at its send buffer; one without that bound hands this client the whole backlog.
    await waitFor(async () => (await rejections("max-stream-buffer-bytes")) > before || (await stat(topic)).inFlight === BigInt(n), {
      what: "the stream was cut by the send-buffer limit (or the whole backlog sent to it)",
      deadlineMs: 30_000,
    });
    expect(rssOf(node.pid) - rssBefore, "node RSS growth (bytes) for a client that reads nothing").to.be.below(32 * MiB);
    await waitFor(async () => {
      const s = await stat(topic);
      return s.inFlight === 0n && s.backlog === BigInt(n);
    }, { what: "every message is back in the queue", deadlineMs: 30_000 });
    const events = new EventReader(res);
    let last: { error?: { code: string; reason: string; message: string } } = {};
    while (!last.error) last = await events.next(30_000);
    expect(last.error.code).to.equal("RESOURCE_EXHAUSTED");
    expect(last.error.reason).to.equal("CONSUMER_TOO_SLOW");
    expect(last.error.message).to.match(/consumer too slow/);
  });

  it("clamps a Consume stream's credit to --max-consume-in-flight", async () => {
    const capped = await startNodeProcess({ args: ["--max-consume-in-flight", "5"] });
    const c = connect(capped.grpcAddr);
    try {
      const topic = uniqueTopic("clamp");
      await c.call("declareQueue", { topic, bindKey: "q" });
      await c.call("pushBatch", { topic, messages: Array.from({ length: 20 }, (_, i) => ({ routeKey: "q", body: Buffer.from(`m${i}`) })) });
      const stream = c.consume();
      const got: pb.Message[] = [];
      stream.on("data", (r: pb.ConsumeResponse) => got.push(...r.messages));
      stream.on("error", () => {});
      stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 1000, maxBatchBytes: 0 } } });
      await waitFor(() => got.length >= 5, { what: "5 messages arrived", deadlineMs: 30_000 });
      // Credit far past the cap, then one ack on the same stream (so processed after it): exactly one more message may come.
      stream.write({ kind: { $case: "update", value: { credit: 1000, ackIds: [], nackIds: [], touchIds: [] } } });
      stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: [got[0]!.id], nackIds: [], touchIds: [] } } });
      const statOf = async () => (await c.call<object, { stat: { inFlight: bigint; backlog: bigint } }>("getTopicStat", { topic })).stat;
      await waitFor(async () => (await statOf()).backlog <= 14n, { what: "the ack let one more message out", deadlineMs: 30_000 });
      const s = await statOf();
      expect(s.backlog).to.equal(14n);
      expect(s.inFlight).to.equal(5n);
      stream.end();
    } finally {
      c.close();
      await capped.stop();
      capped.cleanup();
    }
  });

  it("delivers to a Consume stream that asks for max_batch_bytes 1 GiB in batches that fit one gRPC message", async () => {
    const n = 12; // 2.4 MiB: one batch of all of them would exceed the node's 1 MiB gRPC message limit
    const topic = await filledQueue("bigbatch", n);
    const stream = client.consume();
    let received = 0;
    let largest = 0;
    const failed = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
    stream.on("data", (r: pb.ConsumeResponse) => {
      received += r.messages.length;
      largest = Math.max(largest, pb.ConsumeResponse.encode(r).finish().length);
      stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: r.messages.map((m) => m.id), nackIds: [], touchIds: [] } } });
    });
    stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 100, maxBatchBytes: 2 ** 30 } } });
    await Promise.race([waitFor(() => received === n, { what: "every message arrived", deadlineMs: 30_000 }), failed.then((e) => Promise.reject(e))]);
    expect(largest, "largest Consume reply (bytes)").to.be.at.most(GRPC_MESSAGE_BYTES);
    stream.end();
  });

  it("answers ListDead limit=1000 over large dead letters with as many as fit one reply, over gRPC and HTTP (never 500)", async () => {
    const n = 8; // 1.6 MiB of dead letters: more than one 1 MiB gRPC reply holds
    const topic = await filledQueue("dead", n);
    await client.call("config", { topic, msgTtr: 1, msgRetry: 0 });
    for (let i = 0; i < n; i++) await client.call("pop", { topic, bindKey: "q", waitMs: 0 });
    await waitFor(async () => (await client.call<object, { stat: { dead: bigint } }>("getTopicStat", { topic })).stat.dead === BigInt(n), { what: "every message is a dead letter", deadlineMs: 30_000 });
    // (1 MiB - 64 KiB) / (256 KiB + 4 KiB): three bodies of the largest size fit.
    const { messages } = await client.call<object, { messages: pb.Message[] }>("listDead", { topic, bindKey: "q", limit: 1000 });
    expect(messages.length, "dead letters in one gRPC reply").to.equal(3);
    expect(messages.every((m) => m.body.length === BODY.length)).to.equal(true);
    const res = await fetch(`${base}/v1/topics/${topic}/queues/q/dead?limit=1000`);
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { messages: unknown[] }).messages.length).to.equal(3);
  });

  it("refuses a Subscribe naming more than --max-subscribe-channels channels with INVALID_ARGUMENT (gRPC) and 400 (HTTP)", async () => {
    const before = await rejections("max-subscribe-channels");
    const channels = Array.from({ length: 1001 }, (_, i) => `c${i}`);
    const sub = client.subscribe({ channels });
    let refusal: grpc.ServiceError | undefined;
    sub.on("error", (e: grpc.ServiceError) => (refusal = e));
    sub.on("data", () => {});
    // A node without the cap takes the subscription: a publish to its last channel then reaches it.
    const receivers = async () => (await client.call<object, { receivers: number }>("publish", { channel: channels[1000], body: Buffer.from("x") })).receivers;
    const outcome = await waitFor(async () => refusal ?? ((await receivers()) > 0 ? "subscribed" : undefined), { what: "the Subscribe to be refused", deadlineMs: 30_000 });
    if (outcome === "subscribed") {
      sub.cancel();
      expect.fail("the node holds a Subscribe of 1001 channels: no cap on channels per Subscribe");
    }
    const err = outcome;
    expect(err.code).to.equal(S.INVALID_ARGUMENT);
    expect(err.details).to.match(/at most 1000 channels/);
    expect(reasonFromTrailers(err.metadata)).to.equal("TOO_MANY_CHANNELS");
    const res = await fetch(`${base}/v1/channels:subscribe?${channels.map((c) => `channels=${c}`).join("&")}`);
    expect(res.status).to.equal(400);
    expect(((await res.json()) as { reason: string }).reason).to.equal("TOO_MANY_CHANNELS");
    expect(await rejections("max-subscribe-channels")).to.equal(before + 2);
  });

  it("answers a Consume stream's undecodable frame with INVALID_ARGUMENT while more than 1 MiB of replies wait to be read", async () => {
    const n = 8; // 1.6 MiB delivered, unread, under the 2 MiB send buffer
    const topic = await filledQueue("garbage", n);
    const Raw = grpc.makeGenericClientConstructor(
      {
        consume: {
          path: "/gmq.v1.BrokerService/Consume",
          requestStream: true,
          responseStream: true,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => pb.ConsumeResponse.decode(b),
        },
      },
      "Raw",
    );
    const raw = new Raw(node.grpcAddr, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    try {
      const stream = (raw as unknown as { consume(): grpc.ClientDuplexStream<Buffer, pb.ConsumeResponse> }).consume();
      const ended = new Promise<grpc.ServiceError>((resolve) => stream.on("error", resolve));
      let received = 0;
      stream.on("data", (r: pb.ConsumeResponse) => (received += r.messages.length));
      stream.pause();
      const subscribe = pb.ConsumeRequest.encode({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 100, maxBatchBytes: 0 } } }).finish();
      stream.write(Buffer.from(subscribe));
      await waitFor(async () => (await stat(topic)).inFlight === BigInt(n), { what: "every message was delivered", deadlineMs: 30_000 });
      stream.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])); // field 1, a length far past the end
      stream.resume();
      const err = await settled(ended, "the Consume stream's status to reach the client");
      expect(err.code).to.equal(S.INVALID_ARGUMENT);
      expect(err.details).to.match(/Consume request is not valid protobuf/);
      expect(reasonFromTrailers(err.metadata)).to.equal("MALFORMED_REQUEST");
      expect(received).to.be.at.most(n);
      await waitFor(async () => (await stat(topic)).inFlight === 0n, { what: "its messages are back in the queue", deadlineMs: 30_000 });
    } finally {
      raw.close();
    }
  });

  it("answers malformed protobuf on a unary RPC with INVALID_ARGUMENT and a short message", async () => {
    const Raw = grpc.makeGenericClientConstructor(
      {
        push: {
          path: "/gmq.v1.BrokerService/Push",
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      "Raw",
    );
    const raw = new Raw(node.grpcAddr, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
    try {
      const err = await new Promise<grpc.ServiceError>((resolve, reject) =>
        (raw as unknown as { push(b: Buffer, cb: (e: grpc.ServiceError | null) => void): void }).push(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), (e) =>
          e ? resolve(e) : reject(new Error("the push succeeded")),
        ),
      );
      expect(err.code).to.equal(S.INVALID_ARGUMENT);
      expect(reasonFromTrailers(err.metadata)).to.equal("MALFORMED_REQUEST");
      expect(err.details).to.match(/^the Push request is not valid protobuf: /);
      expect(err.details.length).to.be.at.most(300);
    } finally {
      raw.close();
    }
  });

  it("leaves no topic behind when a push to a new topic fails (bad delay, bad TTL, no matching queue), over gRPC and HTTP", async () => {
    const names = [uniqueTopic("nodelay"), uniqueTopic("nottl"), uniqueTopic("noqueue"), uniqueTopic("nobatch"), uniqueTopic("nohttp")];
    const [badDelay, badTtl, noQueue, batch, http] = names as [string, string, string, string, string];
    const fails = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e: grpc.ServiceError) => e);
      expect(err, "the push should fail").to.not.equal(undefined);
    };
    await fails(client.call("push", { topic: badDelay, routeKey: "", body: Buffer.from("x"), delayMs: 2n ** 62n }));
    await fails(client.call("push", { topic: badTtl, routeKey: "", body: Buffer.from("x"), ttlMs: 2n ** 62n }));
    await fails(client.call("push", { topic: noQueue, routeKey: "nobody", body: Buffer.from("x") }));
    await fails(client.call("pushBatch", { topic: batch, messages: [{ routeKey: "", body: Buffer.from("ok") }, { routeKey: "elsewhere", body: Buffer.from("x") }] }));
    const res = await fetch(`${base}/v1/topics/${http}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ routeKey: "nobody", body: "eA==" }),
    });
    const { topics } = await client.call<object, { topics: { topic: string }[] }>("listTopics", {});
    const listed = new Set(topics.map((t) => t.topic));
    expect(names.filter((name) => listed.has(name)), "topics created by failed pushes").to.deep.equal([]);
    expect(res.status).to.equal(400); // FAILED_PRECONDITION: no queue matches
    expect(((await res.json()) as { reason: string }).reason).to.equal("NO_ROUTE");
    // A push that succeeds still creates its topic (with the default queue for route key "").
    const ok = uniqueTopic("created");
    await client.call("push", { topic: ok, routeKey: "", body: Buffer.from("x") });
    const after = await client.call<object, { topics: { topic: string }[] }>("listTopics", {});
    expect(after.topics.map((t) => t.topic)).to.include(ok);
  });

  it("answers a 10,000-deep JSON array in a string field with 400 and a short message", async () => {
    const topic = uniqueTopic("deep");
    const deep = "[".repeat(10_000) + "]".repeat(10_000);
    const res = await fetch(`${base}/v1/topics/${topic}/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: `{"routeKey": ${deep}, "body": "eA=="}` });
    expect(res.status).to.equal(400);
    const reply = (await res.json()) as { code: string; reason: string; message: string };
    expect(reply.code).to.equal("INVALID_ARGUMENT");
    expect(reply.reason).to.equal("MALFORMED_REQUEST");
    expect(reply.message).to.match(/field routeKey: expected a string, got an array/);
    expect(reply.message.length).to.be.at.most(300);
  });

  it("logs nothing at warn or error for 200 HTTP uploads their clients abandon mid-body, and keeps serving", async () => {
    const topic = uniqueTopic("abandon");
    const from = node.logs.length;
    const [host, port] = [node.httpAddr.slice(0, node.httpAddr.lastIndexOf(":")), Number(node.httpAddr.slice(node.httpAddr.lastIndexOf(":") + 1))];
    for (let i = 0; i < 200; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = tcpConnect({ host, port }, () => {
          socket.write(`POST /v1/topics/${topic}/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"routeKey": "`);
          // Gone once the node has started reading the body.
          setImmediate(() => socket.destroy());
        });
        socket.on("close", () => resolve());
        socket.on("error", reject);
      });
    }
    // A request after them all is answered, and by then the node has seen every abandon.
    const res = await fetch(`${base}/v1/ping`);
    expect(res.status).to.equal(200);
    await res.body?.cancel();
    await client.call("ping", {}); // and a later turn of the node's loop
    const loud = node.logs.slice(from).filter((line) => {
      const level = (JSON.parse(line) as { level?: number | string }).level;
      return level === "warn" || level === "error" || (typeof level === "number" && level >= 40);
    });
    expect(loud).to.deep.equal([]);
  });

  it("allocates about what a PushBatch of 20 x 650 KB into a new queue fills, not a run of 64 MiB segments", async () => {
    const big = await startNodeProcess({ args: ["--segment-bytes", String(64 * MiB), "--max-body-bytes", String(MiB)] });
    const c = connect(big.grpcAddr);
    try {
      const topic = uniqueTopic("alloc");
      await c.call("declareQueue", { topic, bindKey: "q" });
      const before = bytesUnder(big.dataDir);
      const body = Buffer.alloc(650 * 1000, "a");
      await c.call("pushBatch", { topic, messages: Array.from({ length: 20 }, () => ({ routeKey: "q", body })) });
      const added = bytesUnder(big.dataDir) - before;
      // The batch's own 13 MB with the doubling's slack, plus at most one segment prepared ahead.
      expect(added, "bytes allocated on disk for the batch").to.be.below(2 * 20 * body.length + 64 * MiB);
      expect((await c.call<object, object>("ping", {}))).to.be.an("object");
    } finally {
      c.close();
      await big.stop();
      big.cleanup();
    }
  });

  it("refuses a push that REGEX fans out past --max-push-fanout-bytes with RESOURCE_EXHAUSTED, storing nothing", async () => {
    const topic = uniqueTopic("fanout");
    await client.call("config", { topic, routeMode: pb.RouteMode.ROUTE_MODE_REGEX });
    for (let i = 0; i < 25; i++) await client.call("declareQueue", { topic, bindKey: `q${i}` });
    const before = await rejections("max-push-fanout-bytes");
    // 25 copies of 200 KiB: 5 MiB over the queues, past the node's 4 MiB.
    const err = await client.call("push", { topic, routeKey: ".*", body: BODY }).then(() => undefined, (e: grpc.ServiceError) => e);
    const { stat } = await client.call<object, { stat: { backlog: bigint } }>("getTopicStat", { topic });
    expect(stat.backlog, "copies stored by the fanned-out push").to.equal(0n);
    expect(err?.code).to.equal(S.RESOURCE_EXHAUSTED);
    expect(err?.details).to.match(/--max-push-fanout-bytes/);
    expect(reasonFromTrailers(err!.metadata)).to.equal("FANOUT_TOO_LARGE");
    expect(await rejections("max-push-fanout-bytes")).to.equal(before + 1);
    // Fewer copies fit: 10 x 200 KiB.
    const ok = await client.call<object, { queues: number }>("push", { topic, routeKey: "q1.*", body: BODY });
    expect(ok.queues).to.equal(11); // q1, q10..q19
  });

  it("counts refusals of --max-body-bytes (gRPC and HTTP 429) and --max-http-body-bytes (HTTP 413) in gmq_limit_rejections_total", async () => {
    const topic = uniqueTopic("big");
    await client.call("declareQueue", { topic, bindKey: "q" });
    const [bodyBefore, httpBefore] = [await rejections("max-body-bytes"), await rejections("max-http-body-bytes")];
    const big = Buffer.alloc(300 * 1024, "x"); // past the test node's 256 KiB
    const err = await client.call("push", { topic, routeKey: "q", body: big }).then(() => undefined, (e: grpc.ServiceError) => e);
    expect(err?.code).to.equal(S.RESOURCE_EXHAUSTED);
    expect(reasonFromTrailers(err!.metadata)).to.equal("BODY_TOO_LARGE");
    const post = (body: string) => fetch(`${base}/v1/topics/${topic}/messages`, { method: "POST", headers: { "content-type": "application/json" }, body });
    const tooBig = await post(JSON.stringify({ routeKey: "q", body: big.toString("base64") }));
    expect(tooBig.status).to.equal(429);
    expect(((await tooBig.json()) as { reason: string }).reason).to.equal("BODY_TOO_LARGE");
    const tooLong = await post(JSON.stringify({ routeKey: "q", body: Buffer.alloc(4 * MiB).toString("base64") })); // past --max-http-body-bytes 4 MiB
    expect(tooLong.status).to.equal(413);
    await tooLong.body?.cancel();
    expect(await rejections("max-body-bytes")).to.equal(bodyBefore + 2);
    expect(await rejections("max-http-body-bytes")).to.equal(httpBefore + 1);
  });

  // Each key compiles to a ~0.5 MiB RE2 program in ~3 ms of CPU: were the
  // failed patterns kept (issue 11 row 6), 600 of them would hold ~300 MiB.
  // Unicode classes (`[\pL\pN]{300}N`, ~9 MiB) cost ~170 ms each to compile,
  // which on a loaded CI machine outlasts the test's timeout for no more memory
  // per CPU second. What is left (~10 s of CPU: the compiles, and the full
  // collections the node runs to free the dropped programs) is inherent, and
  // takes minutes when the node gets a seventh of a core.
  const N_HEAVY = 600;
  it(`keeps the node's RSS bounded under ${N_HEAVY} distinct heavy REGEX route keys whose pushes fail, and serves a probe meanwhile`, async function () {
    this.timeout(300_000);
    const topic = uniqueTopic("heavy");
    await client.call("config", { topic, routeMode: pb.RouteMode.ROUTE_MODE_REGEX });
    await client.call("declareQueue", { topic, bindKey: "q" });
    const rssBefore = rssOf(node.pid);
    let failed = 0;
    for (let i = 0; i < N_HEAVY; i++) {
      // None matches "q", so each push fails.
      const p = client.call("push", { topic, routeKey: `.{1000}N${i}`, body: Buffer.from("x") });
      if ((await p.then(() => 0, (e: grpc.ServiceError) => e.code)) === S.FAILED_PRECONDITION) failed++;
      if (i % 10 === 0) expect(await client.call<object, object>("ping", {})).to.be.an("object");
    }
    expect(failed).to.equal(N_HEAVY);
    // ~0.5 MiB each: ~300 MiB were they all kept.
    expect(rssOf(node.pid) - rssBefore, "node RSS growth (bytes) over the heavy patterns").to.be.below(128 * MiB);
  });

  describe("gRPC connections", () => {
    let capped: NodeProcess;
    let host: string;
    let port: number;
    const CAP = 5;
    before(async () => {
      capped = await startNodeProcess({ args: ["--max-grpc-connections", String(CAP), "--grpc-handshake-timeout-ms", "1000"] });
      host = capped.grpcAddr.slice(0, capped.grpcAddr.lastIndexOf(":"));
      port = Number(capped.grpcAddr.slice(capped.grpcAddr.lastIndexOf(":") + 1));
    });
    after(async () => {
      await capped?.stop();
      capped?.cleanup();
    });

    const rejectionsOf = (limit: string) => rejections(limit, `http://${capped.httpAddr}`);

    /** An HTTP/2 connection to the gRPC port; `served` resolves once the node's SETTINGS arrive (grpc-js has it), `closed` when it ends. */
    function session(): { session: ClientHttp2Session; served: Promise<boolean>; closed: Promise<void> } {
      const s = http2Connect(`http://${capped.grpcAddr}`);
      s.on("error", () => {}); // a refused connection is reset
      const closed = new Promise<void>((resolve) => s.on("close", () => resolve()));
      const served = new Promise<boolean>((resolve) => {
        s.on("remoteSettings", () => resolve(true));
        void closed.then(() => resolve(false));
      });
      return { session: s, served, closed };
    }

    it("closes a gRPC connection past --max-grpc-connections at once while that many are held, and serves a new one once one closes", async () => {
      const held = Array.from({ length: CAP }, session);
      try {
        expect(await Promise.all(held.map((h) => h.served))).to.deep.equal(Array(CAP).fill(true));
        const before = await rejectionsOf("max-grpc-connections");
        const extra = session();
        expect(await extra.served, "a connection past the cap is served").to.equal(false);
        await extra.closed;
        expect(await rejectionsOf("max-grpc-connections")).to.equal(before + 1);
        held[0]!.session.destroy();
        await held[0]!.closed;
        const c = connect(capped.grpcAddr);
        try {
          await waitFor(async () => c.call("ping", {}).then(() => true, () => false), { what: "a new client is served once a connection is free", deadlineMs: 30_000 });
        } finally {
          c.close();
        }
      } finally {
        for (const h of held) h.session.destroy();
      }
    });

    it("closes gRPC connections that send nothing, or part of the HTTP/2 preface, once --grpc-handshake-timeout-ms passes", async () => {
      const before = await rejectionsOf("grpc-handshake-timeout-ms");
      const closes = ["", "PRI * HTTP/2.0\r\n"].map(
        (text) =>
          new Promise<void>((resolve, reject) => {
            const socket = tcpConnect({ host, port }, () => socket.write(text));
            socket.on("close", () => resolve());
            socket.on("error", reject);
          }),
      );
      await settled(Promise.all(closes), "the node to close the connections that never finish the HTTP/2 preface");
      expect(await rejectionsOf("grpc-handshake-timeout-ms")).to.equal(before + 2);
      const c = connect(capped.grpcAddr); // a client that speaks HTTP/2 at once is served
      try {
        expect(await c.call<object, object>("ping", {})).to.be.an("object");
      } finally {
        c.close();
      }
    });
  });

  describe("a /metrics scrape with many topics", () => {
    // More than two slices of the 500 topics a node reads per turn. Topics
    // made by Config have no queues: the cheapest to create and to scrape.
    const FILLERS = 1100;
    /** Pushes the probe keeps unanswered on its stream, so the node has some to take whenever it reads its socket. */
    const AHEAD = 1000;
    let many: NodeProcess;
    let c: Client;
    before(async () => {
      // Each new topic's metadata is written with two fsyncs: on tmpfs they cost nothing, and this test is not about durability.
      const dataDir = existsSync("/dev/shm") ? mkdtempSync("/dev/shm/gmq-test-") : undefined;
      many = await startNodeProcess({ args: ["--log-level", "warn", "--fsync", "never"], ...(dataDir !== undefined && { dataDir }) });
      c = connect(many.grpcAddr);
    });
    after(async () => {
      c?.close();
      await many?.stop();
      many?.cleanup();
    });

    it("serves a producer while it is read: a topic read last shows pushes the node took after it read the first topic", async () => {
      // The node reads topics in the order they were made. The probe's one
      // PushStream alternates pushes to `first` and `last`, which the node
      // stores in stream order, so at every instant `first` has as many
      // pushes as `last` or one more. A scrape that reads every topic in one
      // turn of the event loop (serving no one meanwhile) can only report
      // last <= first; one that reads a slice per turn and takes the stream's
      // pending pushes between slices reports last > first.
      const first = uniqueTopic("scrape-first");
      const last = uniqueTopic("scrape-last");
      await c.call("declareQueue", { topic: first, bindKey: "q" });
      const prefix = uniqueTopic("filler");
      for (let i = 0; i < FILLERS; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, FILLERS - i) }, (_, k) => c.call("config", { topic: `${prefix}-${i + k}` })));
      }
      await c.call("declareQueue", { topic: last, bindKey: "q" });

      const probe = connect(many.grpcAddr);
      const stream = probe.pushStream();
      let sent = 0;
      let answered = 0;
      let failed = 0;
      let scraped = false;
      // A few pushes per turn of the probe's own loop, as long as fewer than AHEAD are unanswered.
      const feed = () => {
        if (scraped) return;
        for (let i = 0; i < 10 && sent - answered < AHEAD; i++) {
          sent++;
          stream.write(pb.PushStreamRequest.fromPartial({ seq: BigInt(sent), topic: sent % 2 === 1 ? first : last, routeKey: "q", body: Buffer.from("p") }));
        }
        setImmediate(feed);
      };
      stream.on("data", (r: pb.PushStreamResponse) => {
        answered++;
        if (r.errorCode !== 0) failed++;
      });
      const ended = new Promise<void>((resolve) => stream.on("status", () => resolve()));
      stream.on("error", () => {});
      try {
        feed();
        await waitFor(() => answered >= AHEAD, { what: "the probe's pushes to be answered" });
        const text = await (await fetch(`http://${many.httpAddr}/metrics`)).text();
        scraped = true;
        const pushed = (topic: string) => Number(new RegExp(`^gmq_topic_pushed_total\\{topic="${topic}"\\} (\\d+)$`, "m").exec(text)?.[1]);
        expect(text.match(/^gmq_topic_pushed_total\{/gm)).to.have.length(FILLERS + 2);
        expect(failed).to.equal(0);
        expect(pushed(last), `pushes to ${last} vs ${first} in the scrape`).to.be.greaterThan(pushed(first));
      } finally {
        scraped = true;
        stream.end();
        await settled(ended, "the probe's stream to end");
        probe.close();
      }
    });
  });

  describe("connections", () => {
    let small: NodeProcess;
    let host: string;
    let port: number;
    before(async () => {
      small = await startNodeProcess({
        args: ["--max-http-connections", "20", "--http-headers-timeout-ms", "2000", "--http-request-timeout-ms", "3000", "--grpc-max-connection-idle-ms", "2000"],
      });
      host = small.httpAddr.slice(0, small.httpAddr.lastIndexOf(":"));
      port = Number(small.httpAddr.slice(small.httpAddr.lastIndexOf(":") + 1));
    });
    after(async () => {
      await small?.stop();
      small?.cleanup();
    });

    /** Opens a socket that sends `text` and then stalls; resolves once it is open, with a promise of its close. */
    function stalled(text: string): Promise<{ closed: Promise<string> }> {
      return new Promise((resolve, reject) => {
        const socket = tcpConnect({ host, port }, () => {
          let got = "";
          socket.on("data", (d: Buffer) => (got += d.toString()));
          const closed = new Promise<string>((r) => socket.on("close", () => r(got)));
          socket.write(text);
          resolve({ closed });
        });
        socket.on("error", () => {}); // a reset is a close too
        socket.once("error", reject);
      });
    }

    it("closes connections past --max-http-connections at once while a gRPC probe is served", async () => {
      const c = connect(small.grpcAddr);
      try {
        const sockets = await Promise.all(Array.from({ length: 30 }, () => stalled("GET /v1/ping HTTP/1.1\r\nhost: 127.0.0.1\r\n")));
        let closed = 0;
        for (const s of sockets) void s.closed.then(() => closed++);
        await waitFor(() => closed >= 10, { what: "the 10 connections past the cap are closed", deadlineMs: 30_000 });
        expect(await c.call<object, object>("ping", {})).to.be.an("object");
        // The rest are cut by the headers timeout, freeing the descriptors.
        await waitFor(() => closed === 30, { what: "every stalled connection is closed", deadlineMs: 30_000 });
        const res = await fetch(`http://${small.httpAddr}/v1/ping`);
        expect(res.status).to.equal(200);
        const metrics = await (await fetch(`http://${small.httpAddr}/metrics`)).text();
        expect(metrics).to.match(/^gmq_limit_rejections_total\{limit="max-http-connections"\} ([1-9]\d*)$/m);
      } finally {
        c.close();
      }
    });

    it("answers a request whose body never finishes with 408 once --http-request-timeout-ms passes", async () => {
      const s = await stalled(`POST /v1/topics/${uniqueTopic("slow")}/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"routeKey": "`);
      const reply = await settled(s.closed, "the node to answer the upload whose body never finishes");
      expect(reply).to.match(/^HTTP\/1\.1 408/);
    });

    it("closes a gRPC connection that makes no call once --grpc-max-connection-idle-ms passes", async () => {
      const session = http2Connect(`http://${small.grpcAddr}`);
      session.on("error", () => {});
      const goaway = new Promise<void>((resolve) => session.on("goaway", () => resolve()));
      try {
        await settled(goaway, "the node to close the idle gRPC connection");
      } finally {
        session.destroy();
      }
    });
  });
});

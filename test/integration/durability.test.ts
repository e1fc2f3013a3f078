// What a node keeps across a restart and a kill -9, through real processes.
import { expect } from "chai";
import type { Message, PopResponse, PushStreamResponse } from "../../src/gen/gmq/v1/broker.js";
import { codeOf, connect, grpc, sleep, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { startNodeProcess, tempDataDir } from "../helpers/node-process.js";

const body = (s: string) => Buffer.from(s);

describe("durability across restarts", function () {
  this.timeout(60_000);

  it("keeps topics, config, queues, ready, in-flight, delayed and dead messages across a graceful restart", async () => {
    const dataDir = tempDataDir();
    const topic = uniqueTopic();
    let node = await startNodeProcess({ dataDir });
    let c: Client = connect(node.grpcAddr);
    await c.call("config", { topic, msgTtr: 1, msgRetry: 0 });
    await c.call("declareQueue", { topic, bindKey: "q" });
    const ids: bigint[] = [];
    for (let i = 0; i < 5; i++) ids.push((await c.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: body(`r${i}`) })).id);
    const acked = (await c.call<object, PopResponse>("pop", { topic, bindKey: "q" })).message!;
    await c.call("ack", { topic, bindKey: "q", id: acked.id });
    const inFlight = (await c.call<object, PopResponse>("pop", { topic, bindKey: "q" })).message!;
    const delayed = (await c.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: body("later"), delayMs: 1500n })).id;
    c.close();
    expect(await node.stop()).to.equal(0);

    node = await startNodeProcess({ dataDir });
    c = connect(node.grpcAddr);
    const { config } = await c.call<object, { config: { msgTtr: number; msgRetry: number } }>("config", { topic });
    expect(config).to.deep.include({ msgTtr: 1, msgRetry: 0 });
    expect(await c.call("listQueues", { topic })).to.deep.equal({ bindKeys: ["q"] });
    const got: Message[] = [];
    for (let i = 0; i < 3; i++) got.push((await c.call<object, PopResponse>("pop", { topic, bindKey: "q" })).message!);
    expect(got.map((m) => m.id)).to.deep.equal(ids.slice(2));
    for (const m of got) await c.call("ack", { topic, bindKey: "q", id: m.id });
    // The in-flight message (msg_retry 0) expires into dead letters; the delayed one fires on time.
    const fired = (await c.call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs: 5000 })).message!;
    expect(fired.id).to.equal(delayed);
    await sleep(300);
    const dead = await c.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" });
    expect(dead.messages.map((m) => m.id)).to.deep.equal([inFlight.id]);
    expect(await codeOf(c.call("pop", { topic, bindKey: "q" }))).to.equal(grpc.status.NOT_FOUND);
    c.close();
    await node.stop();

    // Nothing acked comes back after yet another restart.
    node = await startNodeProcess({ dataDir });
    c = connect(node.grpcAddr);
    await c.call("ack", { topic, bindKey: "q", id: fired.id }).catch(() => {});
    expect(await codeOf(c.call("pop", { topic, bindKey: "q" }))).to.equal(grpc.status.NOT_FOUND);
    c.close();
    await node.stop();
    node.cleanup();
  });

  it("loses no acknowledged push when the node is killed with SIGKILL under load", async () => {
    const dataDir = tempDataDir();
    const topic = uniqueTopic();
    let node = await startNodeProcess({ dataDir });
    let c = connect(node.grpcAddr);
    await c.call("declareQueue", { topic, bindKey: "q" });
    const acknowledged = new Set<string>();
    const stream = c.pushStream();
    stream.on("data", (r: PushStreamResponse) => {
      if (r.errorCode === 0) acknowledged.add(r.id.toString());
    });
    stream.on("error", () => {});
    let seq = 0n;
    const deadline = Date.now() + 1500;
    // Keep a bounded window of pushes in flight until the kill.
    const pump = setInterval(() => {
      if (Date.now() > deadline) return;
      for (let i = 0; i < 200; i++) stream.write({ seq: seq++, topic, routeKey: "q", body: body(`k${seq}`), delayMs: 0n, ttlMs: 0n, idempotencyKey: "" });
    }, 5);
    await sleep(400 + Math.random() * 800);
    await node.kill();
    clearInterval(pump);
    c.close();
    expect(acknowledged.size).to.be.greaterThan(0);

    node = await startNodeProcess({ dataDir });
    c = connect(node.grpcAddr);
    const found = new Set<string>();
    const drain = c.consume();
    drain.on("data", (r: { messages: Message[] }) => {
      for (const m of r.messages) {
        expect(m.body.toString()).to.match(/^k\d+$/);
        found.add(m.id.toString());
      }
    });
    drain.on("error", () => {});
    drain.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 1_000_000, maxBatchBytes: 0 } } });
    // Read until nothing new arrives for half a second.
    for (let last = -1; last !== found.size; ) {
      last = found.size;
      await sleep(500);
    }
    drain.cancel();
    const lost = [...acknowledged].filter((id) => !found.has(id));
    expect(lost, `${lost.length} of ${acknowledged.size} acknowledged pushes lost`).to.deep.equal([]);
    c.close();
    await node.stop();
    node.cleanup();
  });
});

// What a node keeps across a restart and a kill -9, through real processes.
import { expect } from "chai";
import type { Message, PopResponse, PushStreamResponse } from "../../src/gen/gmq/v1/broker.js";
import { codeOf, connect, grpc, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { startNodeProcess, tempDataDir } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const body = (s: string) => Buffer.from(s);

describe("durability across restarts", function () {
  this.timeout(120_000);

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
    // The in-flight message (msg_retry 0) expires into dead letters; the delayed one fires, not before its time.
    const fired = (await c.call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs: 15_000 })).message!;
    expect(fired.id).to.equal(delayed);
    expect(Number(fired.deadlineMs) - 1000 - Number(fired.createdAtMs)).to.be.at.least(1500);
    const dead = await waitFor(
      async () => {
        const { messages } = await c.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" });
        return messages.length > 0 ? messages : undefined;
      },
      { what: "the in-flight message's TTR to move it to the dead letters" },
    );
    expect(dead.map((m) => m.id)).to.deep.equal([inFlight.id]);
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
    // Keep a bounded window of pushes in flight (at most 2,000 unanswered, 50,000 in all) until the kill,
    // which comes after a random number of acknowledged pushes.
    const killAfter = 200 + Math.floor(Math.random() * 1300);
    const pump = setInterval(() => {
      if (seq >= 50_000n || seq - BigInt(acknowledged.size) > 2000n) return;
      for (let i = 0; i < 200; i++) stream.write({ seq: seq++, topic, routeKey: "q", body: body(`k${seq}`), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
    }, 5);
    try {
      await waitFor(() => acknowledged.size >= killAfter, { what: `${killAfter} acknowledged pushes`, deadlineMs: 30_000 });
      await node.kill();
    } finally {
      clearInterval(pump);
      c.close();
    }

    node = await startNodeProcess({ dataDir });
    c = connect(node.grpcAddr);
    const drain = c.consume();
    try {
      const found = new Set<string>();
      const badBodies: string[] = [];
      drain.on("data", (r: { messages: Message[] }) => {
        for (const m of r.messages) {
          if (!/^k\d+$/.test(m.body.toString())) badBodies.push(m.body.toString());
          found.add(m.id.toString());
        }
      });
      drain.on("error", () => {});
      drain.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 1_000_000, maxBatchBytes: 0 } } });
      // Every acknowledged push comes back (a lost one makes this give up, naming how many are missing).
      const missing = () => [...acknowledged].filter((id) => !found.has(id)).length;
      await waitFor(() => missing() === 0, { what: `all ${acknowledged.size} acknowledged pushes on the consumer (missing: ${missing()} when the wait began)`, deadlineMs: 30_000 });
      expect(badBodies).to.deep.equal([]);
    } finally {
      drain.cancel();
      c.close();
      await node.stop();
      node.cleanup();
    }
  });
});

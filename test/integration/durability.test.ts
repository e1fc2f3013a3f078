// What a node keeps across a restart and a kill -9, through real processes.
import { expect } from "chai";
import type { Message, PopResponse, PushStreamResponse } from "../../src/gen/gmq/v1/broker.js";
import { codeOf, connect, grpc, uniqueTopic, type Client } from "../helpers/grpc-client.js";
import { startNodeProcess, tempDataDir, type NodeProcess } from "../helpers/node-process.js";
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

  // What each policy promises for power loss, as README "Durability" states it:
  // under always, each of these calls answers only after a flush (fdatasync)
  // that started after it wrote; under interval a flush follows within the
  // interval; under never the node itself never syncs segments.
  for (const policy of ["always", "interval", "never"] as const) {
    it(`--fsync ${policy}: syncs segments as the policy promises for push, batch, stream push, ack, nack, touch, PopDead and redrive`, async () => {
      const node = await startNodeProcess({ args: ["--fsync", policy, "--fsync-interval-ms", "200"] });
      const c = connect(node.grpcAddr);
      const topic = uniqueTopic("sync");
      const synced: Record<string, number> = {};
      /** Runs one call and records how many segment syncs finished between its start and its answer. */
      const measure = async (name: string, call: () => Promise<unknown>) => {
        const before = await fsyncs(node);
        await call();
        synced[name] = (await fsyncs(node)) - before;
      };
      try {
        await c.call("config", { topic, msgTtr: 60, msgRetry: 0 });
        await c.call("declareQueue", { topic, bindKey: "q" });
        const push = () => c.call<object, { id: bigint }>("push", { topic, routeKey: "q", body: body("p") });
        await measure("Push", push);
        await measure("PushBatch (HTTP)", async () => {
          const res = await fetch(`http://${node.httpAddr}/v1/topics/${topic}/messages:batch`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ messages: [{ routeKey: "q", body: "YQ==" }, { routeKey: "q", body: "Yg==" }] }),
          });
          expect(res.status).to.equal(200);
        });
        await measure("PushStream", async () => {
          const stream = c.pushStream();
          const answered = new Promise<PushStreamResponse>((resolve, reject) => {
            stream.once("data", resolve);
            stream.once("error", reject);
          });
          stream.write({ seq: 1n, topic, routeKey: "q", body: body("s"), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
          expect((await answered).errorCode).to.equal(0);
          stream.end();
        });
        const pop = async () => (await c.call<object, PopResponse>("pop", { topic, bindKey: "q" })).message!.id;
        const [a, b, d] = [await pop(), await pop(), await pop()];
        await measure("Ack", () => c.call("ack", { topic, bindKey: "q", id: a }));
        await measure("Touch", () => c.call("touch", { topic, bindKey: "q", id: b, ttrMs: 30_000n }));
        await measure("Nack", () => c.call("nack", { topic, bindKey: "q", id: b, delayMs: 0n }));
        // With msg_retry 0 a message whose TTR passes goes dead: touch it to a 1 ms TTR.
        await c.call("touch", { topic, bindKey: "q", id: d, ttrMs: 1n });
        await waitFor(
          async () => (await c.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" })).messages.length === 1,
          { what: "the message to go dead after its TTR" },
        );
        await measure("PopDead", () => c.call("popDead", { topic, bindKey: "q" }));
        await pop().then((id) => c.call("touch", { topic, bindKey: "q", id, ttrMs: 1n }));
        await waitFor(
          async () => (await c.call<object, { messages: Message[] }>("listDead", { topic, bindKey: "q" })).messages.length === 1,
          { what: "a second message to go dead" },
        );
        await measure("Redrive", () => c.call("redrive", { topic, bindKey: "q", limit: 0 }));
        const calls = Object.keys(synced);
        if (policy === "always") {
          expect(calls.filter((k) => synced[k]! < 1), "calls answered before a sync").to.deep.equal([]);
        } else if (policy === "never") {
          expect(await fsyncs(node)).to.equal(0);
        } else {
          // Whatever the calls left unsynced is synced within the interval.
          const now = await fsyncs(node);
          await push();
          await waitFor(async () => (await fsyncs(node)) > now, { what: "the periodic flush after a push" });
        }
      } finally {
        c.close();
        await node.stop();
        node.cleanup();
      }
    });
  }

  // Every policy promises the same across kill -9 (the page cache survives the
  // process): every acknowledged push and every answered ack. What differs is
  // power loss, i.e. when the data reaches the disk; the "synced before the
  // answer" test below checks that per policy.
  const cycles = Number(process.env.GMQ_KILL_CYCLES ?? 1);
  for (const policy of ["always", "interval", "never"] as const) {
    it(`--fsync ${policy}: after kill -9 at a random moment, every acknowledged push (gRPC stream and HTTP) is there and no answered ack comes back (${cycles} cycle(s); GMQ_KILL_CYCLES for more)`, async () => {
      const dataDir = tempDataDir();
      const args = ["--fsync", policy];
      let node = await startNodeProcess({ dataDir, args });
      try {
        for (let cycle = 0; cycle < cycles; cycle++) {
          const topic = uniqueTopic(`k9${policy}`);
          const { pushed, acked, ackUnanswered } = await loadUntilKilled(node, topic);
          node = await startNodeProcess({ dataDir, args });
          await expectAllThere(node, topic, pushed, acked, ackUnanswered);
          // The figures of a long run (GMQ_KILL_CYCLES set), for the closing notes.
          if (process.env.GMQ_KILL_CYCLES) console.log(`kill -9 --fsync ${policy} cycle ${cycle + 1}: ${pushed.size} acknowledged pushes, ${acked.size} answered acks, 0 lost`);
        }
      } finally {
        await node.stop();
        node.cleanup();
      }
    });
  }
});

/** The storage's fdatasync count since start (gmq_storage_fsyncs_total). */
async function fsyncs(node: NodeProcess): Promise<number> {
  const text = await (await fetch(`http://${node.httpAddr}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("gmq_storage_fsyncs_total "));
  if (!line) throw new Error("no gmq_storage_fsyncs_total in /metrics");
  return Number(line.split(" ")[1]);
}

const bodyOf = (seq: bigint | number | string) => body(`k${seq}`);

/**
 * Pushes over a gRPC PushStream and over HTTP while a consumer pops and acks
 * with unary calls; kills the node with SIGKILL after a random number of
 * acknowledged pushes. Returns the ids acknowledged to a producer, the ids
 * whose ack was answered, and the one whose ack the kill cut off unanswered
 * (the node may or may not have taken it: it may come back or not).
 */
async function loadUntilKilled(node: NodeProcess, topic: string): Promise<{ pushed: Set<string>; acked: Set<string>; ackUnanswered: string | undefined }> {
  const c = connect(node.grpcAddr);
  // Generous TTR and retries: a popped message not acked before the kill comes back, never goes dead.
  await c.call("config", { topic, msgTtr: 2, msgRetry: 1000 });
  await c.call("declareQueue", { topic, bindKey: "q" });
  const pushed = new Set<string>();
  const acked = new Set<string>();
  let ackUnanswered: string | undefined;
  let live = true;
  const stream = c.pushStream();
  stream.on("data", (r: PushStreamResponse) => {
    if (r.errorCode === 0) pushed.add(r.id.toString());
  });
  stream.on("error", () => {});
  let seq = 0n;
  // A bounded window of stream pushes in flight (at most 2,000 unanswered, 50,000 in all).
  const pump = setInterval(() => {
    if (seq >= 50_000n || seq - BigInt(pushed.size) > 2000n) return;
    for (let i = 0; i < 200; i++) stream.write({ seq: seq++, topic, routeKey: "q", body: bodyOf(seq), delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
  }, 5);
  const httpPusher = async () => {
    for (let i = 0; live && i < 5000; i++) {
      try {
        const res = await fetch(`http://${node.httpAddr}/v1/topics/${topic}/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ routeKey: "q", body: bodyOf(`h${i}`).toString("base64") }),
        });
        if (res.status === 200) pushed.add(((await res.json()) as { id: string }).id);
      } catch {
        return; // the node is gone
      }
    }
  };
  const acker = async () => {
    while (live) {
      try {
        const { message } = await c.call<object, PopResponse>("pop", { topic, bindKey: "q", waitMs: 100 });
        ackUnanswered = message!.id.toString();
        await c.call("ack", { topic, bindKey: "q", id: message!.id });
        acked.add(ackUnanswered);
        ackUnanswered = undefined;
      } catch (err) {
        // Empty for now, or its TTR passed before the ack: pop again. Anything else: the node is gone.
        if ((err as grpc.ServiceError).code === grpc.status.NOT_FOUND) {
          ackUnanswered = undefined; // answered: not in flight (any more), so it comes back
          continue;
        }
        return;
      }
    }
  };
  const workers = [httpPusher(), httpPusher(), acker()];
  const killAfter = 100 + Math.floor(Math.random() * 900);
  try {
    await waitFor(() => pushed.size >= killAfter && acked.size >= 10, { what: `${killAfter} acknowledged pushes and 10 answered acks` });
    await node.kill();
  } finally {
    live = false;
    clearInterval(pump);
    await Promise.all(workers);
    c.close();
  }
  return { pushed, acked, ackUnanswered };
}

/** Drains the topic's queue on the restarted node: every acknowledged push not acked is delivered, no acked one is. */
async function expectAllThere(node: NodeProcess, topic: string, pushed: Set<string>, acked: Set<string>, ackUnanswered: string | undefined): Promise<void> {
  const c = connect(node.grpcAddr);
  const drain = c.consume();
  try {
    const found = new Set<string>();
    const badBodies: string[] = [];
    drain.on("data", (r: { messages: Message[] }) => {
      for (const m of r.messages) {
        if (!/^kh?\d+$/.test(m.body.toString())) badBodies.push(m.body.toString());
        found.add(m.id.toString());
      }
      drain.write({ kind: { $case: "update", value: { ackIds: r.messages.map((m) => m.id), nackIds: [], touchIds: [], credit: 0 } } });
    });
    drain.on("error", () => {});
    drain.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 100_000, maxBatchBytes: 0 } } });
    const missing = () => [...pushed].filter((id) => !found.has(id) && !acked.has(id) && id !== ackUnanswered).length;
    // Patient: a loaded machine can take a while to start the consumer and pass the TTR of what was popped before the kill.
    await waitFor(() => missing() === 0, { what: `all ${pushed.size - acked.size} acknowledged, unacked pushes on the consumer`, deadlineMs: 60_000 }).catch((err: Error) => {
      const left = [...pushed].filter((id) => !found.has(id) && !acked.has(id) && id !== ackUnanswered);
      throw new Error(`${err.message}; still missing ${left.length} (first: ${left.slice(0, 5).join(", ")}), found ${found.size}; restarted node's log tail:\n${node.logs.slice(-8).join("\n")}`);
    });
    // Then until the queue is empty (messages popped before the kill come back after their TTR), to see everything it holds.
    await waitFor(
      async () => {
        const { stat } = await c.call<object, { stat: { backlog: bigint; inFlight: bigint; delayed: bigint; dead: bigint } }>("getTopicStat", { topic });
        return stat.backlog === 0n && stat.inFlight === 0n && stat.delayed === 0n && stat.dead === 0n;
      },
      { what: "the queue to be drained" },
    );
    expect([...acked].filter((id) => found.has(id))).to.deep.equal([]);
    expect(badBodies).to.deep.equal([]);
  } finally {
    drain.cancel();
    c.close();
  }
}

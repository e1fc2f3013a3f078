// A real node whose data dir is on a small tmpfs (this machine and CI run as
// root; a test that cannot mount fails, it does not skip): pushes over gRPC
// and HTTP until the disk is full, then checks the refusals, that nothing
// acknowledged is lost, that a PushBatch is stored all or nothing, that the
// node keeps serving reads, and that it pushes again once space is freed.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { reasonFromTrailers } from "../../src/client/errors.js";
import type { Message } from "../../src/gen/gmq/v1/broker.js";
import { connect, grpc, type Client } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

const S = grpc.status;
const BODY = Buffer.alloc(2000, 0x42);

describe("a node on a full disk (real process, 4 MiB tmpfs)", function () {
  this.timeout(180_000);
  let mnt: string;
  let dataDir: string;
  let node: NodeProcess | undefined;
  const args = ["--segment-bytes", String(64 * 1024), "--max-body-bytes", "4096"];

  before(() => {
    mnt = mkdtempSync(join(tmpdir(), "gmq-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], { stdio: "pipe" });
    dataDir = join(mnt, "data");
    mkdirSync(dataDir);
  });
  after(async () => {
    await node?.stop();
    // lazy: the node's mappings may outlive it by a moment
    execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
    rmSync(mnt, { recursive: true, force: true });
  });

  /** A unary call's outcome: its status code and reason. */
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => ({ code: S.OK as number, reason: "" }),
      (err: grpc.ServiceError) => ({ code: err.code as number, reason: reasonFromTrailers(err.metadata) }),
    );

  it("refuses pushes with RESOURCE_EXHAUSTED / 429 DISK_FULL, stores a PushBatch all or nothing, loses nothing acknowledged, keeps serving and recovers when space is freed", async () => {
    // Space the operator can free later.
    writeFileSync(join(mnt, "ballast"), Buffer.alloc(1024 * 1024));
    node = await startNodeProcess({ dataDir, args });
    let c: Client = connect(node.grpcAddr);
    const http = () => `http://${node!.httpAddr}`;
    await c.call("declareQueue", { topic: "filler", bindKey: "q" });
    await c.call("declareQueue", { topic: "full", bindKey: "a" });
    await c.call("declareQueue", { topic: "full", bindKey: "b" });
    // The filler's journal has a segment with room before the disk fills (a
    // running queue has one), so deliveries and acks can still be journaled.
    await c.call("push", { topic: "filler", routeKey: "q", body: Buffer.from("warm") });
    const warm = (await c.call<object, { message: Message }>("pop", { topic: "filler", bindKey: "q" })).message;
    await c.call("ack", { topic: "filler", bindKey: "q", id: warm.id });
    // Queue a has a segment with room before the disk fills; b has none yet.
    const first = (await c.call<object, { id: bigint }>("push", { topic: "full", routeKey: "a", body: Buffer.from("a0") })).id;

    const stored = new Set<string>();
    let grpcFull = 0;
    let httpFull = 0;
    for (let i = 0; i < 4000 && (grpcFull === 0 || httpFull === 0); i++) {
      if (i % 2 === 0) {
        try {
          stored.add((await c.call<object, { id: bigint }>("push", { topic: "filler", routeKey: "q", body: BODY })).id.toString());
        } catch (err) {
          expect({ code: (err as grpc.ServiceError).code, reason: reasonFromTrailers((err as grpc.ServiceError).metadata) }).to.deep.equal({
            code: S.RESOURCE_EXHAUSTED,
            reason: "DISK_FULL",
          });
          grpcFull++;
        }
      } else {
        const res = await fetch(`${http()}/v1/topics/filler/messages`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ routeKey: "q", body: BODY.toString("base64") }),
        });
        const reply = (await res.json()) as { id?: string; reason?: string };
        if (res.status === 200) stored.add(reply.id!);
        else {
          expect({ status: res.status, reason: reply.reason }).to.deep.equal({ status: 429, reason: "DISK_FULL" });
          httpFull++;
        }
      }
    }
    expect({ grpcFull: grpcFull > 0, httpFull: httpFull > 0 }).to.deep.equal({ grpcFull: true, httpFull: true });
    expect(stored.size).to.be.greaterThan(500);

    // A batch reaching queue a (room left) and queue b (needs a segment): refused whole, over gRPC and HTTP.
    const batch = [
      { routeKey: "a", body: Buffer.from("batch-a"), delayMs: 0n, ttlMs: 0n, idempotencyKey: "k-a" },
      { routeKey: "b", body: Buffer.from("batch-b"), delayMs: 0n, ttlMs: 0n, idempotencyKey: "k-b" },
    ];
    expect(await outcome(c.call("pushBatch", { topic: "full", messages: batch }))).to.deep.equal({ code: S.RESOURCE_EXHAUSTED, reason: "DISK_FULL" });
    const httpBatch = await fetch(`${http()}/v1/topics/full/messages:batch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: batch.map((m) => ({ routeKey: m.routeKey, body: m.body.toString("base64"), idempotencyKey: m.idempotencyKey })) }),
    });
    expect(httpBatch.status).to.equal(429);
    const readyOf = async (client: Client) => {
      const { stat } = await client.call<object, { stat: { queues: { bindKey: string; ready: bigint }[] } }>("getTopicStat", { topic: "full" });
      return Object.fromEntries(stat.queues.map((q) => [q.bindKey, Number(q.ready)]));
    };
    expect(await readyOf(c)).to.deep.equal({ a: 1, b: 0 });

    // Still serving: a delivery and its ack, and a small push into queue a's room.
    const popped = (await c.call<object, { message: Message }>("pop", { topic: "filler", bindKey: "q" })).message;
    expect(stored.has(popped.id.toString())).to.equal(true);
    expect(await outcome(c.call("ack", { topic: "filler", bindKey: "q", id: popped.id }))).to.deep.equal({ code: S.OK, reason: "" });
    stored.delete(popped.id.toString());
    expect(await outcome(c.call("push", { topic: "full", routeKey: "a", body: Buffer.from("a1") }))).to.deep.equal({ code: S.OK, reason: "" });

    // The operator frees space: pushes are taken again, over both protocols.
    rmSync(join(mnt, "ballast"));
    await waitFor(async () => (await outcome(c.call("push", { topic: "filler", routeKey: "q", body: BODY }))).code === S.OK, { what: "a push once space is back" });
    const again = await fetch(`${http()}/v1/topics/filler/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ routeKey: "q", body: BODY.toString("base64") }),
    });
    expect(again.status).to.equal(200);
    c.close();

    // After a restart: the refused batch left nothing, nothing acknowledged is missing.
    expect(await node.stop()).to.equal(0);
    node = await startNodeProcess({ dataDir, args });
    c = connect(node.grpcAddr);
    expect(await readyOf(c)).to.deep.equal({ a: 2, b: 0 });
    const popA = await c.call<object, { message: Message }>("pop", { topic: "full", bindKey: "a" });
    expect(popA.message.id).to.equal(first);
    const drain = c.consume();
    const found = new Set<string>();
    drain.on("data", (r: { messages: Message[] }) => {
      for (const m of r.messages) if (m.body.equals(BODY)) found.add(m.id.toString());
    });
    drain.on("error", () => {});
    drain.write({ kind: { $case: "subscribe", value: { topic: "filler", bindKey: "q", maxInFlight: 100_000, maxBatchBytes: 0 } } });
    const missing = () => [...stored].filter((id) => !found.has(id)).length;
    await waitFor(() => missing() === 0, { what: `all ${stored.size} acknowledged pushes (missing ${missing()} when the wait began)` });
    drain.cancel();
    c.close();
  });
});

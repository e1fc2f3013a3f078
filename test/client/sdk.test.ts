// The SDK's own logic against in-memory fake nodes (and a real etcd for
// discovery): balancing, failover, consuming from every node, following joins.
import { expect } from "chai";
import { register, type Registration } from "../../src/cluster/registration.js";
import { Code, GmqError, GmqClient, type Delivery } from "../../src/client/index.js";
import { startEtcd, freePort, type EtcdProcess } from "../helpers/etcd.js";
import { startFakeBroker, type FakeBroker } from "../helpers/fake-broker.js";

async function waitFor(cond: () => boolean, timeoutMs: number, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("client SDK (fake nodes)", function () {
  this.timeout(30_000);
  const brokers: FakeBroker[] = [];
  const clients: GmqClient[] = [];
  const regs: Registration[] = [];
  let etcd: EtcdProcess;

  before(async () => {
    etcd = await startEtcd();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(regs.splice(0).map((r) => r.close()));
    for (const b of brokers.splice(0)) b.kill();
  });
  after(async () => {
    await etcd?.destroy();
  });

  const broker = async (id: number) => {
    const b = await startFakeBroker(id);
    brokers.push(b);
    return b;
  };
  const connect = async (opts: Parameters<typeof GmqClient.connect>[0]) => {
    const c = await GmqClient.connect({ callTimeoutMs: 3000, ...opts });
    clients.push(c);
    return c;
  };

  it("spreads awaited pushes over nodes by weight (1:3) on push streams", async () => {
    const [a, b] = [await broker(1), await broker(2)];
    const client = await connect({ addresses: [`${a.addr}@1`, `${b.addr}@3`] });
    const t0 = Date.now();
    for (let i = 0; i < 4000; i++) await client.push("t", `m${i}`);
    const rate = 4000 / ((Date.now() - t0) / 1000);
    expect(a.pushed).to.equal(1000);
    expect(b.pushed).to.equal(3000);
    console.log(`      awaited pushes over push streams (fake nodes): ${Math.round(rate)}/s`);
  });

  it("fails over from an unreachable node without losing or duplicating a push", async () => {
    const a = await broker(1);
    const dead = `127.0.0.1:${await freePort()}`;
    const client = await connect({ addresses: [a.addr, dead], strategy: "round-robin" });
    const ids = new Set<bigint>();
    for (let i = 0; i < 200; i++) ids.add((await client.push("t", `m${i}`)).id);
    expect(ids.size).to.equal(200);
    expect(a.pushed).to.equal(200);
  });

  it("reports broker errors as GmqError with the gRPC code", async () => {
    const a = await broker(1);
    const client = await connect({ addresses: [a.addr] });
    const err = await client.push("t", "x", { routeKey: "nope" }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(GmqError);
    expect((err as GmqError).code).to.equal(Code.FAILED_PRECONDITION);
    expect((err as GmqError).codeName).to.equal("FAILED_PRECONDITION");
  });

  it("consumes a queue from every node and acks each message to the node it came from", async () => {
    const [a, b] = [await broker(1), await broker(2)];
    const client = await connect({ addresses: [a.addr, b.addr], strategy: "round-robin" });
    expect(await client.declareQueue("t", "q")).to.equal(true);
    for (let i = 0; i < 100; i++) await client.push("t", `m${i}`, { routeKey: "q" });
    const got: Delivery[] = [];
    const consumer = client.consume("t", "q", (m) => void got.push(m), { maxInFlight: 7 });
    await waitFor(() => got.length === 100 && a.acked.length + b.acked.length === 100, 5000, "drain");
    await consumer.close();
    expect(a.acked.length).to.equal(50);
    expect(b.acked.length).to.equal(50);
    for (const m of got) expect(m.node).to.equal(m.id >> 32n === 1n ? a.addr : b.addr);
  });

  it("follows etcd: uses nodes that join, drains them, and stops using a node the moment it leaves", async () => {
    const prefix = `/sdk-${Date.now()}/nodes/`;
    const reg = async (b: FakeBroker, weight = 1) => {
      const r = await register({
        endpoints: [etcd.endpoint],
        prefix,
        leaseTtlS: 2,
        node: { nodeId: b.nodeId, weight, grpcAddr: b.addr, httpAddr: "", version: "fake", startedAtMs: Date.now() },
      });
      regs.push(r);
      return r;
    };
    const a = await broker(1);
    await reg(a);
    const client = await connect({ etcd: { endpoints: [etcd.endpoint], prefix } });
    expect(client.nodes().map((n) => n.nodeId)).to.deep.equal([1]);
    await client.declareQueue("t", "q");
    const got: Delivery[] = [];
    const consumer = client.consume("t", "q", (m) => void got.push(m));

    // A node that joins later gets the declared queue and is consumed.
    const b = await broker(2);
    b.queues.set("t_q", []);
    const rb = await reg(b);
    await waitFor(() => client.nodes().length === 2, 3000, "join");
    await waitFor(() => consumer.nodes().length === 2, 3000, "consumer join");
    for (let i = 0; i < 20; i++) await client.push("t", `m${i}`, { routeKey: "q" });
    await waitFor(() => got.length === 20, 3000, "drain both");
    expect(new Set(got.map((m) => m.node))).to.have.length(2);

    // Leaving: the node is dropped at once, before its process stops.
    await rb.close();
    await waitFor(() => client.nodes().length === 1, 2000, "leave");
    const before = b.pushed;
    for (let i = 0; i < 20; i++) await client.push("t", `n${i}`, { routeKey: "q" });
    expect(b.pushed).to.equal(before);
    await consumer.close();
  });

  it("delivers publications from any node to a subscriber", async () => {
    const [a, b] = [await broker(1), await broker(2)];
    const client = await connect({ addresses: [a.addr, b.addr], strategy: "round-robin" });
    const got: string[] = [];
    const sub = client.subscribe(["news"], (p) => got.push(p.body.toString()));
    await new Promise((r) => setTimeout(r, 200));
    let receivers = 0;
    for (let i = 0; i < 4; i++) receivers += (await client.publish("news", `n${i}`)).receivers;
    await waitFor(() => got.length === 4, 2000, "publications");
    expect(receivers).to.equal(4);
    sub.close();
  });
});

// The cluster end to end: real etcd, real node processes, the SDK and the gmq CLI.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import { Etcd3 } from "etcd3";
import { GmqClient, GmqError, type Delivery } from "../../src/client/index.js";
import { runNodeExpectingExit, startNode, stopAll, type ClusterNode, type NodeSpec } from "../helpers/cluster.js";
import { startEtcd, type EtcdProcess } from "../helpers/etcd.js";
import { waitFor } from "../helpers/wait-for.js";

const run = promisify(execFile);
const ttlS = 2;


describe("cluster (real etcd, node processes, SDK, CLI)", function () {
  this.timeout(120_000);
  let etcd: EtcdProcess;
  let kv: Etcd3;
  let prefix = "";
  let n = 0;
  const clients: GmqClient[] = [];

  before(async () => {
    etcd = await startEtcd();
    kv = new Etcd3({ hosts: etcd.clientUrl });
  });
  beforeEach(() => {
    prefix = `/gmq-test-${process.pid}-${++n}/nodes/`;
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await stopAll();
  });
  after(async () => {
    kv?.close();
    await stopAll();
    await etcd?.destroy();
  });

  const spec = (nodeId: number, extra: Partial<NodeSpec> = {}): NodeSpec => ({ etcd: etcd.endpoint, prefix, nodeId, leaseTtlS: ttlS, ...extra });
  const connect = async (opts: Partial<Parameters<typeof GmqClient.connect>[0]> = {}) => {
    const c = await GmqClient.connect({ etcd: { endpoints: [etcd.endpoint], prefix }, callTimeoutMs: 5000, ...opts });
    clients.push(c);
    return c;
  };
  const keys = async () => Object.keys(await kv.getAll().prefix(prefix).strings()).sort();
  const gmq = (...args: string[]) => run(process.execPath, ["bin/gmq.js", "--etcd", etcd.endpoint, "--etcd-prefix", prefix, ...args], { timeout: 20_000 });

  it("three nodes register and appear in `gmq nodes`", async () => {
    const nodes = await Promise.all([1, 2, 3].map((id) => startNode(spec(id, { weight: id }))));
    expect(await keys()).to.deep.equal([1, 2, 3].map((id) => `${prefix}${id}`));
    const { stdout } = await gmq("--json", "nodes");
    const listed = (JSON.parse(stdout) as { nodes: { node_id: number; weight: number; grpc_addr: string; status: string }[] }).nodes;
    expect(listed.map((x) => [x.node_id, x.weight, x.grpc_addr, x.status])).to.deep.equal(nodes.map((nd, i) => [i + 1, i + 1, nd.grpcAddr, "up"]));
    const table = (await gmq("nodes")).stdout;
    expect(table).to.match(/node_id\s+weight\s+grpc_addr/);
    // A graceful stop revokes the lease: the key is gone at once.
    expect(await nodes[1]!.stop()).to.equal(0);
    expect(await keys()).to.deep.equal([`${prefix}1`, `${prefix}3`]);
  });

  it("refuses a node whose id a live node holds, with a clear message and a non-zero exit", async () => {
    const first = await startNode(spec(5));
    const { code, output } = await runNodeExpectingExit(spec(5));
    expect(code).to.not.equal(0);
    expect(output).to.match(/node id 5 is already registered/);
    const record = (await kv.get(`${prefix}5`).json()) as { grpc_addr: string };
    expect(record.grpc_addr).to.equal(first.grpcAddr);
  });

  it("spreads pushes over nodes by weight, exactly (smooth weighted round-robin: 1:3 over 400 pushes)", async () => {
    await startNode(spec(1, { weight: 1 }));
    await startNode(spec(2, { weight: 3 }));
    const client = await connect();
    await waitFor(() => client.nodes().length === 2, { what: "discovery" });
    const topic = `w${Date.now()}`;
    for (let i = 0; i < 400; i++) await client.push(topic, `m${i}`);
    const per = await client.stats(topic);
    const pushed = Object.fromEntries(per.map((p) => [p.node, Number(p.value?.pushed ?? 0)]));
    expect(pushed).to.deep.equal({ "node-1": 100, "node-2": 300 });
  });

  it("removes a killed node when its lease expires; producers fail over and no acknowledged push is lost", async () => {
    const nodes = await Promise.all([1, 2, 3].map((id) => startNode(spec(id))));
    const client = await connect({ strategy: "round-robin" });
    await waitFor(() => client.nodes().length === 3, { what: "discovery" });
    const topic = `f${Date.now()}`;
    await client.declareQueue(topic, "q");

    const acked = new Set<string>();
    let unknown = 0;
    let failedOther = 0;
    let seq = 0;
    let stopping = false;
    const producer = async () => {
      while (!stopping) {
        const body = `m${seq++}`;
        try {
          await client.push(topic, body, { routeKey: "q" });
          acked.add(body);
        } catch (e) {
          if (e instanceof GmqError && e.outcomeUnknown) unknown++;
          else failedOther++;
        }
      }
    };
    const producers = Array.from({ length: 8 }, producer);
    await waitFor(() => acked.size >= 300, { what: "pushes before the kill" });
    const victim = nodes[1]!;
    await victim.kill();
    const killedAt = Date.now();
    // Nothing revokes a killed node's lease: only its expiry removes the key.
    await waitFor(async () => !(await keys()).includes(`${prefix}2`), { what: "the killed node's key to expire" });
    const goneMs = Date.now() - killedAt;
    await waitFor(() => client.nodes().length === 2, { what: "client drops the node" });
    const ackedAtRemoval = acked.size;
    await waitFor(() => acked.size >= ackedAtRemoval + 300, { what: "pushes after the kill" });
    stopping = true;
    await Promise.all(producers);
    expect(failedOther, "pushes failing for another reason than an unknown outcome").to.equal(0);
    expect(unknown, "pushes in flight on the killed node").to.be.at.most(8);
    console.log(`      killed node's key gone after ${goneMs} ms (TTL ${ttlS} s); ${acked.size} pushes acked, ${unknown} with unknown outcome, ${Date.now() - killedAt} ms of pushing after the kill`);

    // The killed node comes back on its data dir; every acknowledged push is delivered.
    await startNode(spec(2, { dataDir: victim.dataDir }));
    await waitFor(() => client.nodes().length === 3, { what: "rejoin" });
    const got = new Set<string>();
    const consumer = client.consume(topic, "q", (m: Delivery) => void got.add(m.body.toString()), { maxInFlight: 500 });
    await waitFor(() => [...acked].every((b) => got.has(b)), { what: "drain every acknowledged push", deadlineMs: 30_000 });
    await consumer.close();
  });

  it("a graceful stop under load fails no push: the node leaves etcd first, then drains", async () => {
    const nodes = await Promise.all([1, 2, 3].map((id) => startNode(spec(id))));
    const client = await connect({ strategy: "round-robin" });
    await waitFor(() => client.nodes().length === 3, { what: "discovery" });
    const topic = `g${Date.now()}`;
    await client.declareQueue(topic, "q");
    let acked = 0;
    const failures: string[] = [];
    let stopping = false;
    const producer = async () => {
      while (!stopping) {
        try {
          await client.push(topic, "x", { routeKey: "q" });
          acked++;
        } catch (e) {
          failures.push(`${(e as GmqError).codeName}: ${(e as Error).message}`);
        }
      }
    };
    const producers = Array.from({ length: 8 }, producer);
    await waitFor(() => acked >= 300, { what: "pushes before the stop" });
    expect(await nodes[1]!.stop()).to.equal(0);
    const ackedAtStop = acked;
    await waitFor(() => acked >= ackedAtStop + 300, { what: "pushes after the stop" });
    stopping = true;
    await Promise.all(producers);
    expect(failures).to.deep.equal([]);
    expect(client.nodes().map((x) => x.nodeId).sort()).to.deep.equal([1, 3]);
  });

  it("a consumer started before a node joins drains that node's queue", async () => {
    await startNode(spec(1));
    const client = await connect();
    await waitFor(() => client.nodes().length === 1, { what: "discovery" });
    const topic = `j${Date.now()}`;
    await client.declareQueue(topic, "q");
    const got: Delivery[] = [];
    const consumer = client.consume(topic, "q", (m) => void got.push(m));

    const late = await startNode(spec(2));
    await waitFor(() => consumer.nodes().includes("node-2"), { what: "consumer sees the new node" });
    // Push straight to the new node only (the client replayed the declaration there).
    const direct = await GmqClient.connect({ addresses: [late.grpcAddr] });
    clients.push(direct);
    await waitFor(async () => (await direct.listQueues(topic)).includes("q"), { what: "queue declared on the new node" });
    for (let i = 0; i < 50; i++) await direct.push(topic, `late${i}`, { routeKey: "q" });
    await waitFor(() => got.length === 50, { what: "drain the new node" });
    expect(new Set(got.map((m) => m.node))).to.deep.equal(new Set(["node-2"]));
    await consumer.close();
  });

  it("rides out an etcd restart: nodes stay or re-register, clients keep working and see later joins", async () => {
    const nodes = await Promise.all([1, 2].map((id) => startNode(spec(id))));
    const client = await connect();
    await waitFor(() => client.nodes().length === 2, { what: "discovery" });
    const topic = `e${Date.now()}`;
    await client.declareQueue(topic, "q");

    await etcd.stop();
    // With etcd down the client keeps its last known nodes.
    for (let i = 0; i < 20; i++) await client.push(topic, `down${i}`, { routeKey: "q" });
    // The nodes' etcd clients declare their leases lost (after about 2 x TTL) and will register again.
    await waitFor(() => nodes.every((nd) => nd.logs.some((l) => l.includes("etcd lease lost"))), { what: "both nodes to lose their leases", deadlineMs: 20_000 });
    await etcd.restart();

    await waitFor(async () => (await keys()).length === 2, { what: "nodes registered after the restart" });
    await startNode(spec(3));
    await waitFor(() => client.nodes().length === 3, { what: "client's watch sees a join after the restart" });
    for (let i = 0; i < 30; i++) await client.push(topic, `up${i}`, { routeKey: "q" });
    const { stdout } = await gmq("--json", "nodes");
    expect((JSON.parse(stdout) as { nodes: unknown[] }).nodes).to.have.length(3);
  });
});

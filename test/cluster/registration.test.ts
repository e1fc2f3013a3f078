import { spawn } from "node:child_process";
import { expect } from "chai";
import { Etcd3 } from "etcd3";
import { NodeIdConflictError, register, type Registration } from "../../src/cluster/registration.js";
import { startEtcd, type EtcdProcess } from "../helpers/etcd.js";
import { waitFor } from "../helpers/wait-for.js";

const node = (nodeId: number) => ({
  nodeId,
  weight: 2,
  grpcAddr: "127.0.0.1:7001",
  httpAddr: "127.0.0.1:7002",
  version: "0.1.0",
  startedAtMs: 1_700_000_000_000,
});

describe("cluster registration (real etcd)", function () {
  this.timeout(120_000);
  let etcd: EtcdProcess;
  let kv: Etcd3;
  const regs: Registration[] = [];
  let prefixN = 0;
  let prefix = "";

  before(async () => {
    etcd = await startEtcd();
    kv = new Etcd3({ hosts: etcd.clientUrl });
  });
  beforeEach(() => {
    prefix = `/test-${process.pid}-${++prefixN}/nodes/`;
  });
  afterEach(async () => {
    await Promise.all(regs.splice(0).map((r) => r.close()));
  });
  after(async () => {
    kv?.close();
    await etcd?.destroy();
  });

  const reg = async (nodeId: number, leaseTtlS = 3) => {
    const r = await register({ endpoints: [etcd.endpoint], prefix, leaseTtlS, node: node(nodeId) });
    regs.push(r);
    return r;
  };

  it("publishes the node's record as JSON under <prefix><node_id> with a lease", async () => {
    const r = await reg(7);
    expect(r.key).to.equal(`${prefix}7`);
    const value = await kv.get(`${prefix}7`).json();
    expect(value).to.deep.equal({
      node_id: 7,
      weight: 2,
      grpc_addr: "127.0.0.1:7001",
      http_addr: "127.0.0.1:7002",
      version: "0.1.0",
      started_at: 1_700_000_000_000,
    });
    expect(r.leaseId()).to.be.a("string");
  });

  it("refuses a second registration of a live node id with a clear message", async () => {
    await reg(3);
    let err: unknown;
    try {
      await reg(3);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(NodeIdConflictError);
    expect((err as Error).message).to.match(/node id 3 is already registered/);
    // the first node's record is untouched
    expect((await kv.get(`${prefix}3`).json()) as { node_id: number }).to.include({ node_id: 3 });
  });

  it("removes the key at once when closed (lease revoked)", async () => {
    const r = await reg(4);
    expect(await kv.get(r.key).string()).to.be.a("string");
    await r.close();
    expect(await kv.get(r.key).string()).to.equal(null);
  });

  it("removes the key when its lease expires after the holder is killed with SIGKILL", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/register-process.ts", etcd.endpoint, prefix, "2", "9"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on("data", (d: Buffer) => d.toString().includes("registered") && resolve());
        child.once("exit", (code) => reject(new Error(`register-process exited ${code}`)));
      });
      expect(await kv.get(`${prefix}9`).string()).to.be.a("string");
      process.kill(child.pid!, "SIGKILL");
      // Nothing revokes the lease of a killed holder: only its expiry (TTL 2 s) removes the key.
      await waitFor(async () => (await kv.get(`${prefix}9`).string()) === null, { what: "the killed holder's key to expire" });
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
    }
  });

  it("is registered again after etcd was down longer than twice the TTL, and stays registered", async () => {
    const r = await reg(6, 2);
    const firstLease = r.leaseId();
    await etcd.stop();
    await waitFor(() => r.leaseId() === undefined, { what: "etcd3 to report the lease lost", deadlineMs: 20_000 });
    await etcd.restart();
    const newLease = await waitFor(() => (r.leaseId() !== firstLease ? r.leaseId() : undefined), { what: "a new lease", deadlineMs: 20_000 });
    // The old lease expires in etcd after the restart; the key lives on because it is held by the new one.
    const { kvs } = await kv.get(r.key).exec();
    expect(kvs.map((x) => [JSON.parse(x.value.toString()).node_id, x.lease])).to.deep.equal([[6, newLease]]);
  });

  it("registers again by itself after etcd restarts and after its lease is revoked behind its back", async () => {
    const r = await reg(5, 2);
    await etcd.restart();
    await waitFor(async () => (await kv.get(r.key).string()) !== null, { what: "the key after the etcd restart", deadlineMs: 20_000 });
    // A lost lease (here: revoked by someone else) makes the node register again.
    const leaseId = r.leaseId()!;
    await (kv as unknown as { leaseClient: { leaseRevoke(req: { ID: string }): Promise<unknown> } }).leaseClient.leaseRevoke({ ID: leaseId });
    expect(await kv.get(r.key).string()).to.equal(null);
    await waitFor(async () => (await kv.get(r.key).string()) !== null, { what: "the key under a new lease" });
    expect(r.leaseId()).to.not.equal(leaseId);
  });
});

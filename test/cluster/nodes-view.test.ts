// ListNodes (GET /v1/nodes), what the dashboard's cluster section shows: with
// real etcd and two node processes under token auth, one node lists both
// with their weight, version, addresses and start time, and totals each
// node's topics by asking the other with the caller's token. Without etcd
// the call fails with CLUSTER_UNAVAILABLE.
import { expect } from "chai";
import { AuthFile, opsToken } from "../helpers/auth-file.js";
import { startNode, stopAll, type ClusterNode } from "../helpers/cluster.js";
import { startEtcd, type EtcdProcess } from "../helpers/etcd.js";

const ADMIN = "nodes-admin-0123456789";

describe("ListNodes over a cluster (real etcd, two nodes, token auth)", function () {
  this.timeout(120_000);
  let etcd: EtcdProcess;
  let auth: AuthFile;
  let nodes: ClusterNode[];

  const http = async (node: ClusterNode, method: string, path: string, body?: object, token: string | undefined = ADMIN) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body) headers["content-type"] = "application/json";
    const res = await fetch(`http://${node.httpAddr}${path}`, { method, headers, ...(body && { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    etcd = await startEtcd();
    auth = new AuthFile([opsToken(ADMIN)]);
    const prefix = `/gmq-nodes-${process.pid}/nodes/`;
    nodes = await Promise.all([1, 2].map((id) => startNode({ etcd: etcd.endpoint, prefix, nodeId: id, weight: id * 3, args: ["--auth-file", auth.file] })));
    const second = nodes[1]!;
    await http(second, "PUT", "/v1/topics/orders/queues/paid");
    for (let i = 0; i < 3; i++) expect((await http(second, "POST", "/v1/topics/orders/messages", { routeKey: "paid", body: "" })).status).to.equal(200);
  });

  after(async () => {
    await stopAll();
    await etcd?.destroy();
    auth?.remove();
  });

  it("lists every registered node with its record and totals asked of it with the caller's token", async () => {
    const { status, body } = await http(nodes[0]!, "GET", "/v1/nodes");
    expect(status).to.equal(200);
    expect(body.clustered).to.equal(true);
    expect(body.nodes.map((n: any) => [n.nodeId, n.weight, n.grpcAddr, n.httpAddr, n.self, n.error])).to.deep.equal([
      [1, 3, nodes[0]!.grpcAddr, nodes[0]!.httpAddr, true, ""],
      [2, 6, nodes[1]!.grpcAddr, nodes[1]!.httpAddr, false, ""],
    ]);
    for (const n of body.nodes) {
      expect(n.version).to.match(/^\d+\.\d+\.\d+/);
      expect(Number(n.startedAtMs)).to.be.above(0);
    }
    expect(body.nodes[0].totals).to.include({ topics: 0, pushed: "0" });
    expect(body.nodes[1].totals).to.include({ topics: 1, queues: 1, pushed: "3", backlog: "3" });
    expect(body.totals).to.include({ topics: 1, queues: 1, pushed: "3", backlog: "3" });
  });

  it("needs the node-wide admin grant, as ListTopics does", async () => {
    const { status, body } = await http(nodes[0]!, "GET", "/v1/nodes", undefined, "");
    expect([status, body.reason]).to.deep.equal([401, "TOKEN_REQUIRED"]);
  });

  it("fails with CLUSTER_UNAVAILABLE while etcd is down", async () => {
    await etcd.stop();
    try {
      const { status, body } = await http(nodes[0]!, "GET", "/v1/nodes");
      expect([status, body.code, body.reason]).to.deep.equal([503, "UNAVAILABLE", "CLUSTER_UNAVAILABLE"]);
      // Asked for itself alone, the node answers without etcd.
      const local = await http(nodes[0]!, "GET", "/v1/nodes?local_only=true");
      expect([local.status, local.body.nodes.length]).to.deep.equal([200, 1]);
    } finally {
      await etcd.restart();
    }
  });
});

// nodes: the cluster as etcd sees it (or the fixed list), each node pinged.
import type { Command } from "commander";
import { listEtcdNodes, defaultEtcdPrefix, type NodeInfo } from "../../client/index.js";
import type { Context } from "../context.js";
import { formatTime, table } from "../format.js";

export function register(program: Command, ctx: () => Context): void {
  program
    .command("nodes")
    .description("list the nodes registered in etcd (or given with --addr), with a ping of each")
    .option("--no-ping", "do not ping the nodes")
    .action(async (o: { ping: boolean }) => {
      const c = ctx();
      const etcd = c.etcdEndpoints();
      let nodes: NodeInfo[];
      if (etcd.length > 0) nodes = await listEtcdNodes(etcd, c.opts.etcdPrefix ?? defaultEtcdPrefix);
      else nodes = (await c.connect()).nodes();
      nodes.sort((a, b) => (a.nodeId ?? 0) - (b.nodeId ?? 0) || a.grpcAddr.localeCompare(b.grpcAddr));
      const status = new Map<string, string>();
      if (o.ping && nodes.length > 0) {
        for (const p of await (await c.connect()).ping()) status.set(p.node, p.error ? `down (${p.error.codeName})` : "up");
      }
      const rows = nodes.map((n) => [n.nodeId, n.weight, n.grpcAddr, n.httpAddr, n.version, formatTime(n.startedAtMs), status.get(n.key) ?? ""]);
      c.out(nodes.length === 0 ? "no nodes registered" : table(["node_id", "weight", "grpc_addr", "http_addr", "version", "started", "status"], rows), {
        nodes: nodes.map((n) => ({
          node_id: n.nodeId,
          weight: n.weight,
          grpc_addr: n.grpcAddr,
          http_addr: n.httpAddr,
          version: n.version,
          started_at: n.startedAtMs,
          status: status.get(n.key),
        })),
      });
    });
}

// nodes: the cluster as etcd sees it (or the fixed list), each node pinged;
// ping: each node's answer (id, version, start time).
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
      else nodes = (await c.connect()).nodes().map((n) => ({ ...n }));
      const status = new Map<string, string>();
      if (o.ping && nodes.length > 0) {
        for (const p of await (await c.connect()).ping()) {
          status.set(p.node, p.error ? `down (${p.error.codeName})` : "up");
          // A node given by address has no record: what it answers fills the blanks.
          const n = nodes.find((x) => x.key === p.node);
          if (n && p.value) {
            n.nodeId ??= p.value.nodeId;
            n.version ||= p.value.version;
            n.startedAtMs ||= Number(p.value.startedAtMs);
          }
        }
      }
      nodes.sort((a, b) => (a.nodeId ?? 0) - (b.nodeId ?? 0) || a.grpcAddr.localeCompare(b.grpcAddr));
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

  program
    .command("ping")
    .description("ping every node (etcd's or --addr's): node id, version and start time; exit 1 when one does not answer")
    .action(async () => {
      const c = ctx();
      const pinged = await (await c.connect()).ping();
      const rows = pinged.map((p) => [
        p.node,
        p.value?.nodeId,
        p.value?.version,
        p.value ? formatTime(p.value.startedAtMs) : "",
        p.error ? `down (${p.error.codeName}: ${p.error.message})` : "up",
      ]);
      c.out(table(["node", "node_id", "version", "started", "status"], rows), {
        nodes: pinged.map((p) => ({
          node: p.node,
          node_id: p.value?.nodeId,
          version: p.value?.version,
          started_at: p.value ? Number(p.value.startedAtMs) : undefined,
          status: p.error ? "down" : "up",
          ...(p.error && { error: `${p.error.codeName}: ${p.error.message}` }),
        })),
      });
      if (pinged.some((p) => p.error)) process.exitCode = 1;
    });
}

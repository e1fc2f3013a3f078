// A stand-in node process (in-memory fake broker + real etcd registration)
// taking the node's cluster flags, to develop cluster tests before the real
// node exists. Prints the same JSON "listening" line as src/main.ts.
import { register } from "../../src/cluster/registration.js";
import { startFakeBroker } from "./fake-broker.js";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? def) : def;
};
const nodeId = Number(flag("node-id", "1"));
const broker = await startFakeBroker(nodeId, Number(flag("grpc-addr", "127.0.0.1:0").split(":")[1]));
const endpoints = flag("etcd-endpoints", "").split(",").filter(Boolean);
let reg: Awaited<ReturnType<typeof register>> | undefined;
if (endpoints.length) {
  try {
    reg = await register({
      endpoints,
      prefix: flag("etcd-prefix", "/gmq/nodes/"),
      leaseTtlS: Number(flag("etcd-lease-ttl-s", "10")),
      node: { nodeId, weight: Number(flag("node-weight", "1")), grpcAddr: broker.addr, httpAddr: "", version: "fake", startedAtMs: Date.now() },
    });
  } catch (err) {
    process.stderr.write(`${JSON.stringify({ level: 60, msg: (err as Error).message })}\n`);
    process.exit(1);
  }
}
process.stdout.write(`${JSON.stringify({ level: 30, msg: "listening", grpcAddr: broker.addr, httpAddr: "" })}\n`);
process.on("SIGTERM", async () => {
  await reg?.close();
  await broker.stop();
  process.exit(0);
});

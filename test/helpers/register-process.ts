// A process that only registers a node record in etcd and waits, so tests can
// kill -9 a lease holder. Args: endpoint prefix ttlS nodeId.
import { register } from "../../src/cluster/registration.js";

const [endpoint = "", prefix = "/gmq/nodes/", ttl = "2", id = "1"] = process.argv.slice(2);
const reg = await register({
  endpoints: [endpoint],
  prefix,
  leaseTtlS: Number(ttl),
  node: { nodeId: Number(id), weight: 1, grpcAddr: "127.0.0.1:1", httpAddr: "", version: "test", startedAtMs: Date.now() },
});
process.stdout.write("registered\n");
process.on("SIGTERM", () => void reg.close().then(() => process.exit(0)));
setInterval(() => undefined, 1 << 30);

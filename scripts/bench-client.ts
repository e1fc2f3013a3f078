// Awaited pushes from one producer (concurrency 1) through the SDK, push
// stream vs unary Push, against a running node.
// Usage: node --import tsx scripts/bench-client.ts <addr> [count]
import { GmqClient } from "../src/client/index.js";

const [addr, countArg = "20000"] = process.argv.slice(2);
if (!addr) {
  console.error("usage: node --import tsx scripts/bench-client.ts <host:port> [count]");
  process.exit(2);
}
const count = Number(countArg);
for (const pushStream of [true, false, true, false]) {
  const client = await GmqClient.connect({ addresses: [addr], pushStream });
  await client.push("bench-client", "warmup");
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await client.push("bench-client", "x".repeat(128));
  const s = (performance.now() - t0) / 1000;
  console.log(`${pushStream ? "push stream" : "unary push "}: ${Math.round(count / s)} awaited pushes/s`);
  await client.close();
}

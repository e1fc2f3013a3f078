// Awaited pushes from one producer (concurrency 1), push stream vs unary Push,
// against a node address (default: an in-process fake node, to measure the
// SDK's own overhead). Usage: node --import tsx scripts/bench-client.ts [addr] [count]
import { GmqClient } from "../src/client/index.js";

const [addrArg, countArg = "20000"] = process.argv.slice(2);
let addr = addrArg;
let stopFake: (() => void) | undefined;
if (!addr) {
  const { startFakeBroker } = await import("../test/helpers/fake-broker.js");
  const fake = await startFakeBroker(1);
  addr = fake.addr;
  stopFake = fake.kill;
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
stopFake?.();

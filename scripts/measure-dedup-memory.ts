// Heap cost of remembered idempotency keys (not a test): pushes N messages
// without keys and N with distinct keys into an in-process broker over real
// storage, and prints the extra heap per key after a full GC.
//
//   node --expose-gc --import tsx scripts/measure-dedup-memory.ts [N]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Broker } from "../src/broker/broker.js";
import { openStorage } from "../src/store/index.js";

if (!global.gc) throw new Error("run with --expose-gc");
const gc = global.gc;
const n = Number(process.argv[2] ?? 500_000);
const dir = mkdtempSync(join(tmpdir(), "gmq-dedup-mem-"));
const silent = { info() {}, warn() {}, error() {}, debug() {} };
const storage = openStorage({ dataDir: dir, fsync: "never", logger: silent });
const broker = Broker.open({ storage, nodeId: 1, version: "measure", maxBodyBytes: 1 << 20, logger: silent });
const body = Buffer.alloc(16, 1);
const keyOf = (i: number): string => `order-${String(i).padStart(8, "0")}-attempt`;

async function pushAll(topic: string, keyed: boolean): Promise<number> {
  broker.declareQueue(topic, "q");
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i += 1000) {
    const inputs = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ routeKey: "q", body, delayMs: 0, idempotencyKey: keyed ? keyOf(i + j) : "" }));
    await broker.pushBatch(topic, inputs);
  }
  gc();
  return (process.memoryUsage().heapUsed - before) / n;
}

try {
  const plain = await pushAll("plain", false);
  const keyed = await pushAll("keyed", true);
  console.log(`${n} pushes, keys of ${keyOf(0).length} characters: ${plain.toFixed(1)} heap bytes per push without a key, ${keyed.toFixed(1)} with one -> ${(keyed - plain).toFixed(0)} bytes per remembered key`);
} finally {
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
}

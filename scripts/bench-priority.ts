// What the priority wrapper (src/store/priority-queue.ts) costs a queue that
// uses no priorities (benchmark, not a test): appends and reserve+ack through
// the PriorityQueueLog a store hands out, against its bare level-0 FileQueueLog
// (the ceiling) in the same process, rounds alternating so load on the
// machine hits both alike. Prints medians and the per-round values.
//
//   node --import tsx scripts/bench-priority.ts [--rounds 5] [--batches 100]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NewMessage, QueueLog } from "../src/broker/storage.js";
import { openStorage } from "../src/store/index.js";
import type { PriorityQueueLog } from "../src/store/priority-queue.js";

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg("--rounds", 5);
const BATCHES = arg("--batches", 100);
const BATCH = 1000;
const body = Buffer.alloc(128, 0x61);
let nextId = 1n;
const batch = (): NewMessage[] => Array.from({ length: BATCH }, () => ({ id: nextId++, routeKey: "rk", body, createdAtMs: 1, deliverAtMs: 0, retry: 0 }));

/** Messages per second appended, then reserved and acked, by one log. */
function measure(q: QueueLog): { append: number; consume: number } {
  const batches = Array.from({ length: BATCHES }, batch);
  let t = performance.now();
  for (const b of batches) q.append(b);
  const append = (BATCHES * BATCH) / ((performance.now() - t) / 1000);
  t = performance.now();
  let n = 0;
  for (;;) {
    const got = q.reserve(BATCH, 1 << 30, Date.now() + 60_000);
    if (got.length === 0) break;
    for (const m of got) q.ack(m.id);
    n += got.length;
  }
  const consume = n / ((performance.now() - t) / 1000);
  return { append, consume };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), "gmq-bench-prio-"));
const store = openStorage({ dataDir: dir, fsync: "never" });
const wrapped = store.openQueue("bench", "wrapped", "main");
const bare = (store.openQueue("bench", "bare", "main") as unknown as PriorityQueueLog).levels()[0]!;
const runs = { wrapped: { append: [] as number[], consume: [] as number[] }, bare: { append: [] as number[], consume: [] as number[] } };
measure(wrapped); // warm-up
measure(bare);
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, q] of r % 2 === 0 ? ([["wrapped", wrapped], ["bare", bare]] as const) : ([["bare", bare], ["wrapped", wrapped]] as const)) {
    const m = measure(q);
    runs[name].append.push(m.append);
    runs[name].consume.push(m.consume);
  }
}
await store.close();
rmSync(dir, { recursive: true, force: true });
const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
console.log(`priority wrapper vs bare FileQueueLog, 128-byte bodies, ${BATCHES} x ${BATCH} per round, fsync never, median of ${ROUNDS} rounds`);
console.log("| metric | wrapped | bare (ceiling) | ratio | wrapped runs | bare runs |");
console.log("|---|--:|--:|--:|---|---|");
for (const k of ["append", "consume"] as const) {
  const w = median(runs.wrapped[k]);
  const b = median(runs.bare[k]);
  console.log(`| ${k} msg/s | ${fmt(w)} | ${fmt(b)} | ${(w / b).toFixed(2)} | ${runs.wrapped[k].map(fmt).join(", ")} | ${runs.bare[k].map(fmt).join(", ")} |`);
}

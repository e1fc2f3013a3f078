// The longest event-loop stall while one push fans out to many queues, and
// how long a concurrent probe (a small push to another topic) waits. In
// process: file storage in a temp dir, the broker, a probe timer;
// perf_hooks.monitorEventLoopDelay records the loop's delays. Medians over
// RUNS runs. fsync "never": the probe measures the loop, not the disk flush it would share.
//   node --import tsx scripts/fanout-stall.ts [queues=1000] [bodyKiB=200] [runs=3]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Broker } from "../src/broker/index.js";
import { openStorageYielding } from "../src/store/index.js";

const QUEUES = Number(process.argv[2] ?? 1000);
const BODY_KIB = Number(process.argv[3] ?? 200);
const RUNS = Number(process.argv[4] ?? 3);
const silent = { info() {}, warn() {}, error() {} };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function once(): Promise<{ stallMs: number; pushMs: number; probeMaxMs: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), "gmq-fanout-"));
  const storage = await openStorageYielding({ dataDir, fsync: "never", maxBodyBytes: 1024 * 1024 });
  const broker = Broker.open({ storage, nodeId: 1, version: "bench", maxBodyBytes: 1024 * 1024, maxPushFanoutBytes: 256 * 1024 * 1024, logger: silent });
  try {
    broker.configure("fan", { routeMode: "regex" });
    for (let i = 0; i < QUEUES; i++) broker.declareQueue("fan", `q${i}`);
    broker.declareQueue("probe", "p");
    // Warm: each queue's first segment exists before the measured push.
    await broker.push("fan", ".*", Buffer.alloc(16), 0);
    const body = Buffer.alloc(BODY_KIB * 1024, "f");
    const h = monitorEventLoopDelay({ resolution: 1 });
    // The longest gap between two answered probe pushes (each started 1 ms after the last answer).
    let probeMaxMs = 0;
    let probing = true;
    const probe = async () => {
      let last = performance.now();
      while (probing) {
        await broker.push("probe", "p", Buffer.from("x"), 0);
        const t = performance.now();
        probeMaxMs = Math.max(probeMaxMs, t - last);
        last = t;
        await new Promise((r) => setTimeout(r, 1));
      }
    };
    h.enable();
    const probing$ = probe();
    await new Promise((r) => setTimeout(r, 20)); // the monitor and the probe are running
    const t = performance.now();
    const r = await broker.push("fan", ".*", body, 0);
    const pushMs = performance.now() - t;
    await new Promise((r) => setTimeout(r, 20)); // the monitor's sample after the push is taken
    h.disable();
    probing = false;
    await probing$;
    if (r.queues !== QUEUES) throw new Error(`reached ${r.queues} queues`);
    return { stallMs: h.max / 1e6, pushMs, probeMaxMs };
  } finally {
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const runs = [];
for (let i = 0; i < RUNS; i++) runs.push(await once());
const fmt = (xs: number[]) => `median ${median(xs).toFixed(0)} ms (runs: ${xs.map((x) => x.toFixed(0)).join(", ")})`;
console.log(`one push of ${BODY_KIB} KiB to ${QUEUES} queues (${((QUEUES * BODY_KIB) / 1024).toFixed(0)} MiB written)`);
console.log(`  longest loop stall: ${fmt(runs.map((r) => r.stallMs))}`);
console.log(`  longest probe gap:  ${fmt(runs.map((r) => r.probeMaxMs))}`);
console.log(`  push time:          ${fmt(runs.map((r) => r.pushMs))}`);

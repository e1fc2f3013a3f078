// What tracing costs, measured in process (no gRPC, no client in the way):
// a Broker on the file store pushes (PushBatch of 500) and consumes with
// acks (a stream consumer, acking each batch) a fixed number of messages on
// an untraced and a traced topic, in alternating order, many short trials.
// On a machine shared with other loads, interleaved short trials and medians
// keep the comparison fair; wall and CPU time are both reported.
//
//   npx tsx scripts/bench-trace.ts [--trials 10] [--messages 20000]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Broker } from "../src/broker/index.js";
import { openStorage } from "../src/store/index.js";

const { values: opts } = parseArgs({ options: { trials: { type: "string", default: "10" }, messages: { type: "string", default: "20000" } } });
const TRIALS = Number(opts.trials);
const N = Number(opts.messages);
const BODY = Buffer.alloc(128, 120);
const silent = { info() {}, warn() {}, error() {} };

interface Sample {
  wallRate: number;
  cpuRate: number;
}

async function measure(work: () => Promise<void>): Promise<Sample> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wallRate: N / wall, cpuRate: N / ((c.user + c.system) / 1e6) };
}

let seq = 0;
async function trial(broker: Broker, traced: boolean): Promise<{ push: Sample; consume: Sample }> {
  const topic = `bench-trace-${seq++}`;
  broker.configure(topic, { trace: traced });
  broker.declareQueue(topic, "q");
  const batch = Array.from({ length: 500 }, () => ({ routeKey: "q", body: BODY, delayMs: 0 }));
  const push = await measure(async () => {
    for (let i = 0; i < N; i += 500) await broker.pushBatch(topic, batch);
  });
  const consume = await measure(
    () =>
      new Promise<void>((resolve) => {
        let got = 0;
        const consumer = broker.consume(
          topic,
          "q",
          { maxInFlight: 5000, maxBatchBytes: 4 << 20 },
          (b) => {
            got += b.length;
            consumer.ack(b.map((m) => m.id));
            if (got >= N) {
              consumer.close();
              resolve();
            }
          },
          () => {},
        );
      }),
  );
  return { push, consume };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "gmq-bench-trace-"));
  const storage = openStorage({ dataDir, segmentBytes: 64 << 20, fsync: "interval" });
  const broker = Broker.open({ storage, nodeId: 1, version: "bench", maxBodyBytes: 1 << 20, logger: silent });
  try {
    await trial(broker, false); // warm-up: JIT and the store's first segments
    await trial(broker, true);
    const rows: Record<string, number[]> = {};
    const add = (k: string, v: number) => (rows[k] ??= []).push(v);
    for (let t = 0; t < TRIALS; t++) {
      const order = t % 2 === 0 ? [false, true] : [true, false];
      const got: Record<string, { push: Sample; consume: Sample }> = {};
      for (const traced of order) got[traced ? "on" : "off"] = await trial(broker, traced);
      for (const phase of ["push", "consume"] as const) {
        const off = got["off"]![phase];
        const on = got["on"]![phase];
        add(`${phase} off msg/s (wall)`, off.wallRate);
        add(`${phase} on msg/s (wall)`, on.wallRate);
        add(`${phase} on/off (wall)`, on.wallRate / off.wallRate);
        add(`${phase} off msg per CPU s`, off.cpuRate);
        add(`${phase} on msg per CPU s`, on.cpuRate);
        add(`${phase} on/off (CPU)`, on.cpuRate / off.cpuRate);
      }
      process.stderr.write(`trial ${t + 1}/${TRIALS}\n`);
    }
    console.log(`\ntracing on vs off, in process, ${N} messages of 128 B per trial, ${TRIALS} interleaved trials (medians; per-trial values)\n`);
    console.log("| metric | median | trials |");
    console.log("|---|--:|---|");
    const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(2));
    for (const [k, v] of Object.entries(rows)) console.log(`| ${k} | ${fmt(median(v))} | ${v.map(fmt).join(", ")} |`);
  } finally {
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

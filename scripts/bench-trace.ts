// What tracing costs, measured two ways in one invocation, each comparing an
// untraced and a traced topic (on a machine shared with other loads,
// interleaving and CPU-time ratios keep the comparison fair; wall rates are
// shown too), medians with every trial's value:
//
// - in process: a Broker built into dist/ on the file store, two topics
//   worked in alternating chunks of 500 messages (a PushBatch each, then a
//   stream consumer's ack of one chunk with the delivery of the next), each
//   chunk's CPU time added to its topic's; what tracing costs with nothing
//   else in the way. Ratio: messages per CPU second of this process, on / off.
// - over the wire: a node built into dist/ (what users run), driven over
//   gRPC loopback: PushBatch (1,000 per call, 4 in flight) then a Consume
//   stream acking every batch, an untraced and a traced topic back to back
//   (order alternating per run). Ratios: messages per second (what a client
//   sees) and messages per CPU second of the node (/proc), on / off. Then
//   single pushes: unary Push calls, 64 in flight (each arrives in its own
//   I/O callback, so the trace log's per-turn cost is paid per message).
//
//   npx tsx scripts/bench-trace.ts [--trials 10] [--messages 50000] [--runs 5] [--wire-messages 100000] [--unary-messages 10000] [--only inproc,wire]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { BrokerServiceClient, ConfigRequest, PushBatchRequest, PushRequest, type ConsumeResponse } from "../src/gen/gmq/v1/broker.js";
import { call, consumeAndAck, median, processCpuMicros, progress, sendEncodedBatch, startProcess, type Proc } from "./bench-procs.js";

const { values: opts } = parseArgs({
  options: {
    trials: { type: "string", default: "10" },
    messages: { type: "string", default: "50000" },
    runs: { type: "string", default: "5" },
    "wire-messages": { type: "string", default: "100000" },
    "unary-messages": { type: "string", default: "10000" },
    only: { type: "string", default: "inproc,wire" },
  },
});
const TRIALS = Number(opts.trials);
const N = Math.max(2, Math.ceil(Number(opts.messages) / 500)) * 500;
const RUNS = Number(opts.runs);
const WIRE_N = Math.ceil(Number(opts["wire-messages"]) / 4000) * 4000;
const UNARY_N = Math.ceil(Number(opts["unary-messages"]) / 64) * 64;
const UNARY_INFLIGHT = 64;
const ONLY = opts.only!.split(",");
const BODY = Buffer.alloc(128, 120);
const silent = { info() {}, warn() {}, error() {} };

type Rows = Map<string, number[]>;
const add = (rows: Rows, k: string, v: number) => rows.set(k, [...(rows.get(k) ?? []), v]);
const loadAverage = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");

interface Sample {
  /** Messages per wall-clock second. */
  wallRate: number;
  /** Messages per CPU second (of this process in process, of the node over the wire). */
  cpuRate: number;
}

// ------------------------------------------------------------- in process

type BrokerModule = typeof import("../src/broker/index.js");
type StoreModule = typeof import("../src/store/index.js");
type Broker = import("../src/broker/index.js").Broker;

async function measureHere(n: number, work: () => Promise<void>): Promise<Sample> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await work();
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wallRate: n / wall, cpuRate: n / ((c.user + c.system) / 1e6) };
}

/** A stream consumer holding up to CHUNK messages; next() acks what it holds and waits for the next CHUNK. */
function chunkConsumer(broker: Broker, topic: string) {
  let held: bigint[] = [];
  let waiter: (() => void) | undefined;
  const consumer = broker.consume(
    topic,
    "q",
    { maxInFlight: CHUNK, maxBatchBytes: 4 << 20 },
    (b) => {
      for (const m of b) held.push(m.id);
      if (held.length >= CHUNK && waiter) {
        const w = waiter;
        waiter = undefined;
        w();
      }
    },
    () => {},
  );
  return {
    next(): Promise<void> {
      const ids = held;
      held = [];
      const got = new Promise<void>((resolve) => (waiter = resolve));
      if (ids.length > 0) consumer.ack(ids);
      return got;
    },
    close(): void {
      consumer.ack(held);
      consumer.close();
    },
  };
}

const CHUNK = 500;
let seq = 0;
/**
 * One trial: an untraced and a traced topic, worked in alternating chunks of
 * CHUNK messages (a PushBatch each, then an ack of a chunk with the delivery
 * of the next), each chunk's CPU time added to its topic's: both see the same
 * load from the rest of the machine, millisecond by millisecond.
 */
async function trialInProcess(broker: Broker, t: number): Promise<{ push: Sample; consume: Sample }[]> {
  const topics = [`bench-trace-${seq++}`, `bench-trace-${seq++}`];
  topics.forEach((topic, i) => {
    broker.configure(topic, { trace: i === 1 });
    broker.declareQueue(topic, "q");
  });
  const batch = Array.from({ length: CHUNK }, () => ({ routeKey: "q", body: BODY, delayMs: 0 }));
  const cpu = [
    { push: 0, consume: 0 },
    { push: 0, consume: 0 },
  ];
  const wall = [
    { push: 0, consume: 0 },
    { push: 0, consume: 0 },
  ];
  const timed = async (i: number, phase: "push" | "consume", work: () => Promise<unknown>) => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await work();
    wall[i]![phase] += performance.now() - t0;
    const c = process.cpuUsage(c0);
    cpu[i]![phase] += c.user + c.system;
  };
  const rounds = N / CHUNK;
  for (let r = 0; r < rounds; r++) for (const i of (r + t) % 2 ? [1, 0] : [0, 1]) await timed(i, "push", () => broker.pushBatch(topics[i]!, batch));
  const consumers = topics.map((topic) => chunkConsumer(broker, topic));
  await Promise.all(consumers.map((c) => c.next())); // the first chunks, delivered as the consumers start
  for (let r = 1; r < rounds; r++) for (const i of (r + t) % 2 ? [1, 0] : [0, 1]) await timed(i, "consume", () => consumers[i]!.next());
  for (const c of consumers) c.close();
  const n = { push: N, consume: N - CHUNK };
  return [0, 1].map((i) => ({
    push: { wallRate: n.push / (wall[i]!.push / 1000), cpuRate: n.push / (cpu[i]!.push / 1e6) },
    consume: { wallRate: n.consume / (wall[i]!.consume / 1000), cpuRate: n.consume / (cpu[i]!.consume / 1e6) },
  }));
}

async function inProcess(rows: Rows): Promise<void> {
  // The modules users run (dist/), not tsx's transpilation of src/ (which adds a call per named closure).
  const dist = join(import.meta.dirname, "../dist");
  const { Broker } = (await import(join(dist, "broker/index.js"))) as BrokerModule;
  const { openStorage } = (await import(join(dist, "store/index.js"))) as StoreModule;
  const dataDir = mkdtempSync(join(tmpdir(), "gmq-bench-trace-"));
  const storage = openStorage({ dataDir, segmentBytes: 64 << 20, fsync: "interval" });
  const broker = Broker.open({ storage, nodeId: 1, version: "bench", maxBodyBytes: 1 << 20, logger: silent });
  try {
    await trialInProcess(broker, 0); // warm-up: JIT and the store's first segments
    for (let t = 0; t < TRIALS; t++) {
      progress(`in process: trial ${t + 1}/${TRIALS}`);
      const [off, on] = await trialInProcess(broker, t);
      for (const phase of ["push", "consume+ack"] as const) {
        const key = phase === "push" ? "push" : "consume";
        add(rows, `in process: ${phase} on/off, msg per CPU s`, on![key].cpuRate / off![key].cpuRate);
        add(rows, `in process: ${phase} on/off, msg/s (wall)`, on![key].wallRate / off![key].wallRate);
        add(rows, `in process: ${phase} off, msg per CPU s`, off![key].cpuRate);
        add(rows, `in process: ${phase} on, msg per CPU s`, on![key].cpuRate);
      }
    }
    // Every traced topic saw N messages pushed, delivered and acked.
    // After close: the segment being written is cut to its records then (until then its file holds zeros to write into).
    await broker.close();
    const traceBytes = readdirSync(join(dataDir, "traces"), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);
    add(rows, "in process: trace bytes on disk per message (pushed, delivered, acked)", traceBytes / ((TRIALS + 1) * N));
  } finally {
    await broker.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------ over the wire

const clientOptions = {
  "grpc.use_local_subchannel_pool": 1,
  "grpc-node.flow_control_window": 8 * 1024 * 1024,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
};

async function measureNode(node: Proc, n: number, work: () => Promise<void>): Promise<Sample> {
  const cpu0 = processCpuMicros(node.child.pid!) / 1e6;
  const t0 = performance.now();
  await work();
  const wall = (performance.now() - t0) / 1000;
  return { wallRate: n / wall, cpuRate: n / (processCpuMicros(node.child.pid!) / 1e6 - cpu0) };
}

type WireSamples = { push: Sample; consume: Sample; unary: Sample };

async function trialWire(node: Proc, client: BrokerServiceClient, traced: boolean): Promise<WireSamples> {
  const topic = `bench-trace-wire-${seq++}`;
  await call(client, "config", ConfigRequest.fromPartial({ topic, trace: traced }));
  await call(client, "declareQueue", { topic, bindKey: "q" });
  // Encoded once: the producer's encoding is its own cost, and on a shared machine it would otherwise starve the node.
  const encoded = Buffer.from(PushBatchRequest.encode(PushBatchRequest.fromPartial({ topic, messages: Array.from({ length: 1000 }, () => ({ routeKey: "q", body: BODY })) })).finish());
  const send = () => sendEncodedBatch(client, encoded);
  const push = await measureNode(node, WIRE_N, async () => {
    for (let i = 0; i < WIRE_N; i += 4000) await Promise.all([send(), send(), send(), send()]);
  });
  const consume = await measureNode(node, WIRE_N, async () => {
    await consumeAndAck(client, topic, WIRE_N);
  });
  const pushOne = PushRequest.fromPartial({ topic, routeKey: "q", body: BODY });
  const unary = await measureNode(node, UNARY_N, async () => {
    let sent = 0;
    const worker = async () => {
      while (sent < UNARY_N) {
        sent++;
        await call(client, "push", pushOne);
      }
    };
    await Promise.all(Array.from({ length: UNARY_INFLIGHT }, worker));
  });
  await call(client, "deleteTopic", { topic }).catch(() => {});
  return { push, consume, unary };
}

async function overTheWire(rows: Rows): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "gmq-bench-trace-wire-"));
  const node = await startProcess(join(import.meta.dirname, "../dist/main.js"), ["--grpc-addr", "127.0.0.1:0", "--data-dir", dataDir, "--fsync", "interval", "--log-level", "warn"]);
  const client = new BrokerServiceClient(node.addr, grpc.credentials.createInsecure(), clientOptions);
  try {
    await trialWire(node, client, false); // warm-up
    await trialWire(node, client, true);
    for (let r = 0; r < RUNS; r++) {
      progress(`over the wire: run ${r + 1}/${RUNS}`);
      const order = r % 2 === 0 ? [false, true] : [true, false];
      const got: Record<string, WireSamples> = {};
      for (const traced of order) got[traced ? "on" : "off"] = await trialWire(node, client, traced);
      for (const phase of ["PushBatch", "consume+ack", `Push (${UNARY_INFLIGHT} concurrent unary)`] as const) {
        const key = phase === "PushBatch" ? "push" : phase === "consume+ack" ? "consume" : "unary";
        const off = got["off"]![key];
        const on = got["on"]![key];
        add(rows, `wire: ${phase} on/off, msg/s`, on.wallRate / off.wallRate);
        add(rows, `wire: ${phase} on/off, msg per node CPU s`, on.cpuRate / off.cpuRate);
        add(rows, `wire: ${phase} off, msg/s`, off.wallRate);
        add(rows, `wire: ${phase} on, msg/s`, on.wallRate);
        add(rows, `wire: ${phase} off, msg per node CPU s`, off.cpuRate);
        add(rows, `wire: ${phase} on, msg per node CPU s`, on.cpuRate);
        if (key === "unary") {
          add(rows, `wire: ${phase} off, node CPU µs per push`, 1e6 / off.cpuRate);
          add(rows, `wire: ${phase} on, node CPU µs per push`, 1e6 / on.cpuRate);
        }
      }
    }
  } finally {
    client.close();
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  execFileSync(process.execPath, [join(import.meta.dirname, "build.mjs")], { stdio: "inherit" });
  const rows: Rows = new Map();
  const loadBefore = loadAverage();
  if (ONLY.includes("inproc")) await inProcess(rows);
  if (ONLY.includes("wire")) await overTheWire(rows);
  progress("");
  console.log(`\ntracing on vs off, 128-byte bodies; in process: ${N} messages x ${TRIALS} trials in interleaved chunks of ${CHUNK}; wire: ${WIRE_N} messages (${UNARY_N} unary pushes) x ${RUNS} interleaved runs (medians; per-run values)`);
  console.log(`load average before ${loadBefore}, after ${loadAverage()} (${cpus().length} CPUs)\n`);
  console.log("| metric | median | runs |");
  console.log("|---|--:|---|");
  const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(2));
  for (const [k, v] of rows) console.log(`| ${k} | ${fmt(median(v))} | ${v.map(fmt).join(", ")} |`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

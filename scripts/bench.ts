// gmq broker benchmark (not a test). Starts a real node process (and a
// no-op grpc-js echo server for the ceiling), drives it from this process
// over loopback, and prints medians of several runs.
//
//   npm run bench                # 3 runs of everything
//   npm run bench -- --runs 5 --fsync always
//   npm run bench -- --only traceCost   # push and consume, tracing off vs on
//
// Bodies are 128 bytes. The node runs with --fsync interval (1 s) unless told
// otherwise: an acknowledged push survives kill -9 of the broker under every policy.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as hdr from "hdr-histogram-js";
import {
  BrokerServiceClient,
  ConfigRequest,
  PushBatchRequest,
  PushRequest,
  type ConsumeResponse,
  type PushStreamResponse,
} from "../src/gen/gmq/v1/broker.js";
import { call, consumeAndAck, median, progress, sendEncodedBatch, startProcess, type Proc } from "./bench-procs.js";
import { httpLoad } from "./http-load.js";

const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    fsync: { type: "string", default: "interval" },
    seconds: { type: "string", default: "3" },
    only: { type: "string", default: "" },
  },
});
const RUNS = Number(opts.runs);
const SECONDS = Number(opts.seconds);
const BODY = Buffer.alloc(128, 120);
const ONLY = opts.only ? opts.only.split(",") : [];

const clientOptions = {
  "grpc.use_local_subchannel_pool": 1,
  "grpc-node.flow_control_window": 8 * 1024 * 1024,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
};

let topicSeq = 0;
async function freshQueue(client: BrokerServiceClient, traced = false): Promise<string> {
  const topic = `bench-${process.pid}-${topicSeq++}`;
  if (traced) await call(client, "config", ConfigRequest.fromPartial({ topic, trace: true }));
  await call(client, "declareQueue", { topic, bindKey: "q" });
  return topic;
}

/** CPU seconds (user + system) the process has used so far, from /proc (Linux); NaN elsewhere. */
function cpuSecondsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Phase {
  /** Messages per wall-clock second. */
  rate: number;
  /** The node's CPU time per message, µs: steadier than wall rates on a loaded machine. */
  cpuUs: number;
}

/** Runs `work` (which handles `n` messages) and measures the node's wall rate and CPU per message. */
async function phase(node: Proc, n: number, work: () => Promise<void>): Promise<Phase> {
  const cpu0 = cpuSecondsOf(node.child.pid);
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  return { rate: n / seconds, cpuUs: ((cpuSecondsOf(node.child.pid) - cpu0) * 1e6) / n };
}

/** Fixed amounts of Push (64 concurrent), PushBatch (4 x 1000 in flight) and Consume+Ack on a fresh topic, traced or not. */
async function throughput(node: Proc, traced: boolean): Promise<{ push: Phase; batch: Phase; consume: Phase }> {
  const client = new BrokerServiceClient(node.addr, grpc.credentials.createInsecure(), clientOptions);
  const label = traced ? "traced" : "untraced";
  const topic = await freshQueue(client, traced);
  const req = PushRequest.fromPartial({ topic, routeKey: "q", body: BODY });
  const pushes = 64 * Math.max(1, Math.round(SECONDS * 10));
  progress(`${label} Push x${pushes}`);
  const push = await phase(node, pushes, async () => {
    for (let i = 0; i < pushes; i += 64) await Promise.all(Array.from({ length: 64 }, () => call(client, "push", req)));
  });
  const batchReq = batch1000(topic);
  const batches = 4 * Math.max(1, Math.round(SECONDS * 3));
  progress(`${label} PushBatch ${batches} x1000`);
  const batch = await phase(node, batches * 1000, async () => {
    for (let i = 0; i < batches; i += 4) await Promise.all([0, 1, 2, 3].map(() => call(client, "pushBatch", batchReq)));
  });
  // Consume+Ack drains everything the pushes stored (every delivery and ack traced too).
  const total = pushes + batches * 1000;
  progress(`${label} Consume+Ack ${total}`);
  const consume = await phase(node, total, async () => {
    await consumeAndAck(client, topic, total);
  });
  client.close();
  return { push, batch, consume };
}

let traceCostRun = 0;

/** Runs `step` repeatedly for SECONDS; returns msgs/s. */
async function timed(label: string, step: () => Promise<number>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  let n = 0;
  let lastShown = 0;
  while (performance.now() < end) {
    n += await step();
    if (performance.now() - lastShown > 250) {
      lastShown = performance.now();
      progress(`${label}: ${Math.round(n / ((lastShown - t0) / 1000)).toLocaleString()} msg/s`);
    }
  }
  return n / ((performance.now() - t0) / 1000);
}

// Requests are built with fromPartial: every field set, as a generated stub sends them.
const batch1000 = (topic: string) =>
  PushBatchRequest.fromPartial({
    topic,
    messages: Array.from({ length: 1000 }, () => ({ routeKey: "q", body: BODY })),
  });

const scenarios: Record<string, (node: Proc, echo: Proc) => Promise<Record<string, number>>> = {
  async pushBatch(node) {
    const client = new BrokerServiceClient(node.addr, grpc.credentials.createInsecure(), clientOptions);
    const topic = await freshQueue(client);
    // The batch is encoded once: a producer's encoding cost is its own, and on
    // a 2-core machine it would otherwise starve the broker being measured.
    const encoded = Buffer.from(PushBatchRequest.encode(batch1000(topic)).finish());
    const send = () => sendEncodedBatch(client, encoded);
    // Several batches in flight keep the broker busy while replies travel.
    const rate = await timed("PushBatch x1000", async () => {
      await Promise.all([send(), send(), send(), send()]);
      return 4000;
    });
    client.close();
    return { "PushBatch (1000/call) msg/s": rate };
  },

  async awaitedPublish(node, echo) {
    const run = async (addr: string, label: string) => {
      const client = new BrokerServiceClient(addr, grpc.credentials.createInsecure(), clientOptions);
      const topic = addr === node.addr ? await freshQueue(client) : "echo";
      const req = PushRequest.fromPartial({ topic, routeKey: "q", body: BODY });
      const unary = await timed(`${label} Push, each awaited`, async () => {
        await call(client, "push", req);
        return 1;
      });
      const stream = client.pushStream();
      stream.on("error", () => {});
      let resolveNext: (() => void) | undefined;
      stream.on("data", (_r: PushStreamResponse) => resolveNext?.());
      let seq = 0n;
      const streamed = await timed(`${label} PushStream, each awaited`, async () => {
        await new Promise<void>((resolve) => {
          resolveNext = resolve;
          stream.write({ seq: seq++, topic, routeKey: "q", body: BODY, delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
        });
        return 1;
      });
      stream.end();
      client.close();
      return { unary, streamed };
    };
    const e = await run(echo.addr, "echo");
    const g = await run(node.addr, "gmq");
    return {
      "echo ceiling: unary awaited calls/s": e.unary,
      "Push awaited msg/s": g.unary,
      "echo ceiling: stream awaited msgs/s": e.streamed,
      "PushStream awaited msg/s": g.streamed,
      "PushStream awaited / echo ratio": g.streamed / e.streamed,
    };
  },

  async concurrentPush(node, echo) {
    const run = async (addr: string, label: string) => {
      const client = new BrokerServiceClient(addr, grpc.credentials.createInsecure(), clientOptions);
      const topic = addr === node.addr ? await freshQueue(client) : "echo";
      const req = PushRequest.fromPartial({ topic, routeKey: "q", body: BODY });
      const rate = await timed(label, async () => {
        await Promise.all(Array.from({ length: 64 }, () => call(client, "push", req)));
        return 64;
      });
      client.close();
      return rate;
    };
    const echoRate = await run(echo.addr, "echo ceiling, 64 concurrent");
    const pushRate = await run(node.addr, "Push, 64 concurrent");
    return { "echo ceiling 64 concurrent calls/s": echoRate, "Push 64 concurrent msg/s": pushRate, "Push / echo ratio": pushRate / echoRate };
  },

  async consumeAck(node) {
    const client = new BrokerServiceClient(node.addr, grpc.credentials.createInsecure(), clientOptions);
    const topic = await freshQueue(client);
    const total = 600_000;
    const req = batch1000(topic);
    for (let i = 0; i < total / 1000; i += 4) {
      await Promise.all([0, 1, 2, 3].map(() => call(client, "pushBatch", req)));
      progress(`filling queue ${(i + 4) * 1000}/${total}`);
    }
    const stream = client.consume();
    stream.on("error", () => {});
    const t0 = performance.now();
    let got = 0;
    let lastShown = 0;
    const rate = await new Promise<number>((resolve) => {
      stream.on("data", (r: ConsumeResponse) => {
        got += r.messages.length;
        const ackIds = r.messages.map((m) => m.id);
        stream.write({ kind: { $case: "update", value: { credit: 0, ackIds, nackIds: [], touchIds: [] } } });
        const now = performance.now();
        if (now - lastShown > 250) {
          lastShown = now;
          progress(`Consume+Ack: ${Math.round(got / ((now - t0) / 1000)).toLocaleString()} msg/s`);
        }
        if (got >= total || now - t0 > SECONDS * 3000) resolve(got / ((now - t0) / 1000));
      });
      stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 10_000, maxBatchBytes: 0 } } });
    });
    stream.cancel();
    client.close();
    return { "Consume+Ack msg/s": rate };
  },

  async latency(node) {
    const client = new BrokerServiceClient(node.addr, grpc.credentials.createInsecure(), clientOptions);
    const topic = await freshQueue(client);
    const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    const sentAt = new Map<string, number>();
    const stream = client.consume();
    stream.on("error", () => {});
    stream.on("data", (r: ConsumeResponse) => {
      const now = performance.now();
      for (const m of r.messages) {
        const t = sentAt.get(m.body.subarray(0, 16).toString());
        if (t !== undefined) histogram.recordValue(Math.round((now - t) * 1000));
      }
      stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: r.messages.map((m) => m.id), nackIds: [], touchIds: [] } } });
    });
    stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 1000, maxBatchBytes: 0 } } });
    const push = client.pushStream();
    push.on("data", () => {});
    push.on("error", () => {});
    const rate = 2000;
    const total = rate * SECONDS;
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const key = String(i).padStart(16, "0");
      const body = Buffer.concat([Buffer.from(key), BODY.subarray(16)]);
      sentAt.set(key, performance.now());
      push.write({ seq: BigInt(i), topic, routeKey: "q", body, delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
      if (i % 500 === 0) progress(`latency at ${rate} msg/s: ${i}/${total}`);
    }
    await new Promise((r) => setTimeout(r, 500));
    push.end();
    stream.cancel();
    client.close();
    return { "e2e p50 ms @2k/s": histogram.getValueAtPercentile(50) / 1000, "e2e p99 ms @2k/s": histogram.getValueAtPercentile(99) / 1000 };
  },

  async delayLateness(node) {
    const client = new BrokerServiceClient(node.addr, grpc.credentials.createInsecure(), clientOptions);
    const topic = await freshQueue(client);
    const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
    const total = 10_000;
    const delayMs = 1000;
    let got = 0;
    const done = new Promise<void>((resolve) => {
      const stream = client.consume();
      stream.on("data", (r: ConsumeResponse) => {
        const now = Date.now();
        for (const m of r.messages) {
          const due = Number(m.body.readBigUInt64BE(0));
          histogram.recordValue(Math.max(1, Math.round((now - due) * 1000)));
        }
        got += r.messages.length;
        stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: r.messages.map((m) => m.id), nackIds: [], touchIds: [] } } });
        if (got >= total) {
          stream.cancel();
          resolve();
        }
      });
      stream.on("error", () => {});
      stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 10_000, maxBatchBytes: 0 } } });
    });
    // Spread over ~1 s in batches of 100, each message carrying its due time.
    for (let i = 0; i < total; i += 100) {
      const messages = Array.from({ length: 100 }, () => {
        const body = Buffer.from(BODY);
        body.writeBigUInt64BE(BigInt(Date.now() + delayMs), 0);
        return { routeKey: "q", body, delayMs: BigInt(delayMs) };
      });
      await call(client, "pushBatch", PushBatchRequest.fromPartial({ topic, messages }));
      await new Promise((r) => setTimeout(r, 8));
      progress(`delayed pushes ${i + 100}/${total}`);
    }
    await done;
    client.close();
    return { "delay lateness p50 ms": histogram.getValueAtPercentile(50) / 1000, "delay lateness p99 ms": histogram.getValueAtPercentile(99) / 1000 };
  },
  /** What tracing costs: the same loads on an untraced and a traced topic of one node, back to back (order alternating per run). */
  async traceCost(node) {
    const tracedFirst = traceCostRun++ % 2 === 1;
    const first = await throughput(node, tracedFirst);
    const second = await throughput(node, !tracedFirst);
    const [off, on] = tracedFirst ? [second, first] : [first, second];
    const out: Record<string, number> = {};
    for (const [name, k] of [["Push 64 concurrent", "push"], ["PushBatch", "batch"], ["Consume+Ack", "consume"]] as const) {
      out[`trace off: ${name} msg/s`] = off[k].rate;
      out[`trace on: ${name} msg/s`] = on[k].rate;
      out[`trace on/off: ${name} msg/s`] = on[k].rate / off[k].rate;
      out[`trace off: ${name} node CPU µs/msg`] = off[k].cpuUs;
      out[`trace on: ${name} node CPU µs/msg`] = on[k].cpuUs;
      // What the node can do per CPU second, on over off: the throughput ratio when the broker is CPU-bound.
      out[`trace on/off: ${name} msg per CPU s`] = off[k].cpuUs / on[k].cpuUs;
    }
    return out;
  },

  /** The HTTP gateway under autocannon, 32 connections: push 128 B bodies, then pop them. */
  async http(node) {
    const base = `http://${node.httpAddr!}`;
    const client = new BrokerServiceClient(node.addr, grpc.credentials.createInsecure(), clientOptions);
    const topic = await freshQueue(client);
    await call(client, "config", ConfigRequest.fromPartial({ topic, autoAck: true })); // a pop is the whole consume
    const push = await httpLoad(SECONDS, {
      url: `${base}/v1/topics/${topic}/messages`,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ routeKey: "q", body: BODY.toString("base64") }),
    });
    // Enough backlog that the pop run never finds the queue empty.
    for (let i = 0; i < 150; i++) await call(client, "pushBatch", batch1000(topic));
    const pop = await httpLoad(SECONDS, { url: `${base}/v1/topics/${topic}/queues/q:pop` });
    client.close();
    if (push.failed || pop.failed) throw new Error(`HTTP run had ${push.failed + pop.failed} failed requests`);
    return {
      "HTTP push req/s": push.reqPerS,
      "HTTP push p99 ms": push.p99Ms,
      "HTTP pop req/s": pop.reqPerS,
      "HTTP pop p99 ms": pop.p99Ms,
    };
  },
};

async function main(): Promise<void> {
  // The node measured is the one users run (npm start, bin/gnode.js): src/ built into dist/.
  execFileSync(process.execPath, [join(import.meta.dirname, "build.mjs")], { stdio: "inherit" });
  const results = new Map<string, number[]>();
  for (let run = 1; run <= RUNS; run++) {
    const dataDir = mkdtempSync(join(tmpdir(), "gmq-bench-"));
    const node = await startProcess(join(import.meta.dirname, "../dist/main.js"), ["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--data-dir", dataDir, "--fsync", opts.fsync!, "--log-level", "warn"]);
    const echo = await startProcess("scripts/echo-server.ts", []);
    try {
      for (const [name, scenario] of Object.entries(scenarios)) {
        if (ONLY.length && !ONLY.includes(name)) continue;
        progress(`run ${run}/${RUNS}: ${name}`);
        const r = await scenario(node, echo);
        for (const [k, v] of Object.entries(r)) results.set(k, [...(results.get(k) ?? []), v]);
        progress("");
        process.stderr.write(`run ${run} ${name}: ${JSON.stringify(r)}\n`);
      }
    } finally {
      await node.stop();
      await echo.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  progress("");
  console.log(`\ngmq benchmark: 128-byte bodies, --fsync ${opts.fsync}, ${SECONDS}s per step, median of ${RUNS} runs\n`);
  console.log("| metric | median | runs |");
  console.log("|---|--:|---|");
  for (const [k, v] of results) {
    const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(2));
    console.log(`| ${k} | ${fmt(median(v))} | ${v.map(fmt).join(", ")} |`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

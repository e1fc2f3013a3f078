// The SDK's benchmark (not a test): the six scenarios of issue 10, each through
// GmqClient with producer and consumer in this one process, as an application
// has them, against a real node built into dist/ (--fsync interval). Each
// figure that has a ceiling is measured next to it in the same invocation:
// the node driven with pre-encoded requests (what the SDK could reach) and a
// no-op grpc-js echo server (what grpc-js allows an awaited push).
//
//   npm run bench:sdk                                  # 3 runs of everything
//   npm run bench:sdk -- --runs 5 --seconds 5 --only seq,latency
//
// Prints a markdown table (median and every run) and writes the figures as
// JSON (--out, default .bench/bench-sdk.json).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as hdr from "hdr-histogram-js";
import { BrokerServiceClient, PushBatchRequest, type ConsumeResponse, type PushStreamResponse } from "../src/gen/gmq/v1/broker.js";
import { GmqClient } from "../src/client/index.js";
import { cpuMeter, median, progress, sendEncodedBatch, startProcess, type Proc } from "./bench-procs.js";

const { values: opts } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    seconds: { type: "string", default: "3" },
    "latency-seconds": { type: "string", default: "5" },
    "consume-count": { type: "string", default: "200000" },
    only: { type: "string", default: "" },
    out: { type: "string", default: ".bench/bench-sdk.json" },
  },
});
const RUNS = Number(opts.runs);
const SECONDS = Number(opts.seconds);
const LATENCY_SECONDS = Number(opts["latency-seconds"]);
const CONSUME_COUNT = Number(opts["consume-count"]);
const ONLY = opts.only ? opts.only.split(",") : [];
const BODY = Buffer.alloc(128, 120);

/** A raw grpc-js client for the ceilings: its own connection, as the bench of the node uses. */
const rawClient = (addr: string) =>
  new BrokerServiceClient(addr, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc-node.flow_control_window": 8 * 1024 * 1024,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });

let topicSeq = 0;
async function freshTopic(client: GmqClient): Promise<string> {
  const topic = `sdk-${process.pid}-${topicSeq++}`;
  await client.declareQueue(topic, "q");
  return topic;
}

/** Units `timed` counted last: what CPU per unit is divided by. */
let lastCount = 0;

/**
 * Time each measured step first runs unmeasured: the node and the client
 * JIT-compile their paths and touch their first segment pages then. Without
 * it the first phase after the node's start (the SDK's, before the ceiling)
 * paid that alone and measured up to 3x the CPU per message of the second.
 */
const WARMUP_MS = Math.min(1000, (SECONDS * 1000) / 3);

async function warmUp(step: () => Promise<unknown>): Promise<void> {
  const end = performance.now() + WARMUP_MS;
  while (performance.now() < end) await step();
}

/** Runs `step` repeatedly for SECONDS, after warming up; returns units per second. */
async function timed(label: string, step: () => Promise<number>): Promise<number> {
  progress(`${label}: warming up`);
  await warmUp(step);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let n = 0;
  let shown = t0;
  while (performance.now() < end) {
    n += await step();
    if (performance.now() - shown > 250) {
      shown = performance.now();
      progress(`${label}: ${Math.round(n / ((shown - t0) / 1000)).toLocaleString("en-US")}/s`);
    }
  }
  lastCount = n;
  return n / ((performance.now() - t0) / 1000);
}

const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
const msAt = (h: hdr.Histogram, p: number) => h.getValueAtPercentile(p) / 1000;

/** Resolves once `cond` holds, checking every 5 ms; rejects after `ms`. */
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The latency scenario's rate, msg/s. */
const RATE = 2000;

/** Calls `send` RATE times a second for `seconds`, on schedule (a late call is made at once, not skipped); returns how many calls it made. */
async function paced(seconds: number, send: () => void, label: string): Promise<number> {
  const total = Math.round(RATE * seconds);
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = t0 + (i * 1000) / RATE - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    send();
    if (i % 1000 === 0) progress(`${label} at ${RATE} msg/s: ${i}/${total}`);
  }
  return total;
}

/** Fills a fresh topic's queue with `count` 128 B messages, pre-encoded, 4 batches in flight. */
async function fill(raw: BrokerServiceClient, topic: string, count: number): Promise<void> {
  const encoded = Buffer.from(PushBatchRequest.encode(PushBatchRequest.fromPartial({ topic, messages: Array.from({ length: 1000 }, () => ({ routeKey: "q", body: BODY })) })).finish());
  for (let i = 0; i < count; i += 4000) {
    await Promise.all([0, 1, 2, 3].map(() => sendEncodedBatch(raw, encoded)));
    progress(`filling ${topic} ${i + 4000}/${count}`);
  }
}


type Figures = Record<string, number>;

const scenarios: Record<string, (node: Proc, echo: Proc) => Promise<Figures>> = {
  /** Batches of 1000 through pushBatch, each awaited; the ceiling sends the same batch pre-encoded. */
  async batch(node) {
    const client = await GmqClient.connect({ addresses: [node.addr] });
    const topic = await freshTopic(client);
    const messages = Array.from({ length: 1000 }, () => ({ routeKey: "q", body: BODY }));
    const cpu = cpuMeter(node.child);
    const sdk = await timed("pushBatch x1000, awaited", async () => {
      await client.pushBatch(topic, messages);
      return 1000;
    });
    const sdkCpu = cpu.stop(lastCount);
    const raw = rawClient(node.addr);
    const rawTopic = await freshTopic(client);
    const encoded = Buffer.from(PushBatchRequest.encode(PushBatchRequest.fromPartial({ topic: rawTopic, messages })).finish());
    const rawCpu = cpuMeter(node.child);
    const ceiling = await timed("pre-encoded PushBatch x1000, awaited", async () => {
      await sendEncodedBatch(raw, encoded);
      return 1000;
    });
    const ceilingCpu = rawCpu.stop(lastCount);
    raw.close();
    await client.close();
    return {
      "batch: pushBatch x1000 awaited msg/s": sdk,
      "batch: node pre-encoded msg/s": ceiling,
      "batch: SDK / node": sdk / ceiling,
      "batch: SDK client CPU us/msg": sdkCpu.client,
      "batch: SDK node CPU us/msg": sdkCpu.node,
      "batch: pre-encoded client CPU us/msg": ceilingCpu.client,
      "batch: pre-encoded node CPU us/msg": ceilingCpu.node,
    };
  },

  /** A queue of CONSUME_COUNT messages drained through consume() with 1000 in flight; the ceiling is a raw Consume stream. */
  async consume(node) {
    const client = await GmqClient.connect({ addresses: [node.addr] });
    const raw = rawClient(node.addr);
    // Warm-up, unmeasured: the same consume on a small queue of its own.
    const warm = await freshTopic(client);
    const warmCount = Math.min(CONSUME_COUNT, 20_000);
    await fill(raw, warm, warmCount);
    let warmed = 0;
    const warmer = client.consume(warm, "q", () => void warmed++, { maxInFlight: 1000 });
    progress("consume: warming up");
    await until(() => warmed >= warmCount, 120_000, "the warm-up consumer");
    await warmer.close();
    const topic = await freshTopic(client);
    await fill(raw, topic, CONSUME_COUNT);
    let got = 0;
    let t0 = 0;
    let tEnd = 0;
    const cpu = cpuMeter(node.child);
    const consumer = client.consume(
      topic,
      "q",
      () => {
        if (got++ === 0) t0 = performance.now();
        if (got === CONSUME_COUNT) tEnd = performance.now();
      },
      { maxInFlight: 1000 },
    );
    await until(() => got >= CONSUME_COUNT, 120_000, "the SDK consumer");
    await consumer.close();
    const sdkCpu = cpu.stop(CONSUME_COUNT);
    // The first message's arrival starts the clock: connecting is not consuming.
    const sdk = (CONSUME_COUNT - 1) / ((tEnd - t0) / 1000);

    const rawTopic = await freshTopic(client);
    await fill(raw, rawTopic, CONSUME_COUNT);
    const rawCpu = cpuMeter(node.child);
    const ceiling = await new Promise<number>((resolve) => {
      const stream = raw.consume();
      stream.on("error", () => {});
      let n = 0;
      let r0 = 0;
      stream.on("data", (r: ConsumeResponse) => {
        if (n === 0) r0 = performance.now();
        n += r.messages.length;
        stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: r.messages.map((m) => m.id), nackIds: [], touchIds: [] } } });
        if (n >= CONSUME_COUNT) {
          stream.cancel();
          resolve((n - r.messages.length) / ((performance.now() - r0) / 1000));
        }
      });
      stream.write({ kind: { $case: "subscribe", value: { topic: rawTopic, bindKey: "q", maxInFlight: 1000, maxBatchBytes: 0 } } });
    });
    const ceilingCpu = rawCpu.stop(CONSUME_COUNT);
    raw.close();
    await client.close();
    return {
      "consume: consume+ack 1000 in flight msg/s": sdk,
      "consume: node raw stream msg/s": ceiling,
      "consume: SDK / node": sdk / ceiling,
      "consume: SDK client CPU us/msg": sdkCpu.client,
      "consume: SDK node CPU us/msg": sdkCpu.node,
      "consume: raw client CPU us/msg": ceilingCpu.client,
      "consume: raw node CPU us/msg": ceilingCpu.node,
    };
  },

  /** push() per message, at most 1000 unconfirmed: 1000 loops each awaiting its own push. */
  async window(node) {
    const client = await GmqClient.connect({ addresses: [node.addr] });
    const topic = await freshTopic(client);
    const window = (end: number, counted: () => void) =>
      Promise.all(
        Array.from({ length: 1000 }, async () => {
          while (performance.now() < end) {
            await client.push(topic, BODY, { routeKey: "q" });
            counted();
          }
        }),
      );
    progress("push() window 1000: warming up");
    await window(performance.now() + WARMUP_MS, () => undefined);
    let n = 0;
    const cpu = cpuMeter(node.child);
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    const ticker = setInterval(() => progress(`push() window 1000: ${Math.round(n / ((performance.now() - t0) / 1000)).toLocaleString("en-US")}/s`), 250);
    await window(end, () => n++);
    clearInterval(ticker);
    const rate = n / ((performance.now() - t0) / 1000);
    const used = cpu.stop(n);
    await client.close();
    return { "window: push() <=1000 unconfirmed msg/s": rate, "window: client CPU us/msg": used.client, "window: node CPU us/msg": used.node };
  },

  /** push() per message, each awaited; the ceilings are the same loop on a raw PushStream, to the node and to the echo server. */
  async seq(node, echo) {
    const client = await GmqClient.connect({ addresses: [node.addr] });
    const topic = await freshTopic(client);
    await client.push(topic, BODY, { routeKey: "q" });
    const sdk = await timed("push() each awaited", async () => {
      await client.push(topic, BODY, { routeKey: "q" });
      return 1;
    });
    const rawStream = async (addr: string, label: string) => {
      const raw = rawClient(addr);
      const stream = raw.pushStream();
      stream.on("error", () => {});
      let next: (() => void) | undefined;
      stream.on("data", (_r: PushStreamResponse) => next?.());
      let seq = 1n;
      const rawTopic = addr === node.addr ? await freshTopic(client) : "echo";
      const rate = await timed(label, async () => {
        await new Promise<void>((resolve) => {
          next = resolve;
          stream.write({ seq: seq++, topic: rawTopic, routeKey: "q", body: BODY, delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
        });
        return 1;
      });
      stream.end();
      raw.close();
      return rate;
    };
    const echoRate = await rawStream(echo.addr, "echo bidi stream, each awaited");
    const rawNode = await rawStream(node.addr, "raw PushStream to the node, each awaited");
    await client.close();
    return {
      "seq: push() each awaited msg/s": sdk,
      "seq: raw PushStream to the node msg/s": rawNode,
      "seq: no-op echo bidi stream msg/s": echoRate,
      "seq: SDK / echo": sdk / echoRate,
    };
  },

  /**
   * 2,000 msg/s through push() (not awaited) to a consumer in the same client;
   * latency push call → handler, after a warm-up (WARMUP_MS) at the same rate on
   * the same topic. The floor in the same run: the same paced loop on a raw
   * grpc-js bidirectional stream to the no-op echo server, latency write → reply.
   */
  async latency(node, echo) {
    const client = await GmqClient.connect({ addresses: [node.addr] });
    const topic = await freshTopic(client);
    const h = histogram();
    let got = 0;
    const consumer = client.consume(
      topic,
      "q",
      (m) => {
        h.recordValue(Math.max(1, Math.round((performance.now() - m.body.readDoubleLE(0)) * 1000)));
        got++;
      },
      { maxInFlight: 1000 },
    );
    await client.push(topic, BODY, { routeKey: "q" }); // the consumer's stream is open once this arrives
    await until(() => got === 1, 10_000, "the consumer");
    let failed = 0;
    const push = () => {
      const body = Buffer.from(BODY);
      body.writeDoubleLE(performance.now(), 0);
      client.push(topic, body, { routeKey: "q" }).catch(() => failed++);
    };
    const warm = await paced(WARMUP_MS / 1000, push, "latency warm-up");
    await until(() => got + failed >= 1 + warm, 30_000, "the warm-up messages");
    got = 0;
    h.reset();
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const cpu = cpuMeter(node.child);
    const total = await paced(LATENCY_SECONDS, push, "latency");
    await until(() => got + failed >= total, 30_000, "every message");
    const used = cpu.stop(total);
    loop.disable();
    await consumer.close();
    await client.close();
    if (failed > 0) throw new Error(`${failed} pushes failed`);

    const raw = rawClient(echo.addr);
    const stream = raw.pushStream();
    stream.on("error", () => {});
    const sentAt = new Map<bigint, number>();
    const floor = histogram();
    let measuring = false;
    stream.on("data", (r: PushStreamResponse) => {
      const t = sentAt.get(r.seq)!;
      sentAt.delete(r.seq);
      if (measuring) floor.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
    });
    let seq = 0n;
    const echoOne = () => {
      sentAt.set(++seq, performance.now());
      stream.write({ seq, topic: "echo", routeKey: "q", body: BODY, delayMs: 0n, ttlMs: 0n, idempotencyKey: "", pushes: [] });
    };
    await paced(WARMUP_MS / 1000, echoOne, "echo floor warm-up");
    measuring = true;
    await paced(LATENCY_SECONDS, echoOne, "echo floor");
    await until(() => sentAt.size === 0, 30_000, "every echo");
    stream.end();
    raw.close();
    return {
      "latency: e2e p50 ms @2k/s": msAt(h, 50),
      "latency: e2e p99 ms @2k/s": msAt(h, 99),
      "latency: e2e max ms @2k/s": h.maxValue / 1000,
      "latency: echo round trip p50 ms @2k/s": msAt(floor, 50),
      "latency: echo round trip p99 ms @2k/s": msAt(floor, 99),
      "latency: echo round trip max ms @2k/s": floor.maxValue / 1000,
      "latency: client loop delay p99 ms": loop.percentile(99) / 1e6,
      "latency: client loop delay max ms": loop.max / 1e6,
      "latency: client CPU us/msg": used.client,
      "latency: node CPU us/msg": used.node,
    };
  },

  /**
   * 10,000 messages delayed 1 s, pushed in batches of 1000; lateness = arrival
   * at the handler − due time. Like every step, first run unmeasured (2,000
   * messages on a topic of their own): no other scenario fires delayed messages,
   * so their paths are still cold in both processes.
   */
  async delay(node) {
    const client = await GmqClient.connect({ addresses: [node.addr] });
    const now = () => performance.timeOrigin + performance.now();
    const delayMs = 1000;
    const run = async (total: number, h?: hdr.Histogram) => {
      const topic = await freshTopic(client);
      let got = 0;
      const consumer = client.consume(
        topic,
        "q",
        (m) => {
          h?.recordValue(Math.max(1, Math.round((now() - m.body.readDoubleLE(0)) * 1000)));
          got++;
        },
        { maxInFlight: 1000 },
      );
      for (let i = 0; i < total; i += 1000) {
        const messages = Array.from({ length: 1000 }, () => {
          const body = Buffer.from(BODY);
          body.writeDoubleLE(now() + delayMs, 0);
          return { routeKey: "q", body, delayMs };
        });
        await client.pushBatch(topic, messages);
        await new Promise((r) => setTimeout(r, 50)); // spread over ~0.5 s
        progress(`delayed pushes${h ? "" : " (warm-up)"} ${i + 1000}/${total}`);
      }
      await until(() => got >= total, 30_000, "the delayed messages");
      await consumer.close();
    };
    await run(2000);
    const h = histogram();
    await run(10_000, h);
    await client.close();
    return { "delay: lateness p50 ms": msAt(h, 50), "delay: lateness p99 ms": msAt(h, 99), "delay: lateness max ms": h.maxValue / 1000 };
  },
};

async function main(): Promise<void> {
  execFileSync(process.execPath, [join(import.meta.dirname, "build.mjs")], { stdio: "inherit" });
  const results = new Map<string, number[]>();
  for (let run = 1; run <= RUNS; run++) {
    const dataDir = mkdtempSync(join(tmpdir(), "gmq-bench-sdk-"));
    const node = await startProcess(join(import.meta.dirname, "../dist/main.js"), ["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--data-dir", dataDir, "--fsync", "interval", "--log-level", "warn"]);
    const echo = await startProcess(join(import.meta.dirname, "echo-server.ts"), []);
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
  const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(2));
  console.log(`\ngmq through the SDK: 128-byte bodies, --fsync interval, ${SECONDS} s per step (latency ${LATENCY_SECONDS} s), median of ${RUNS} runs\n`);
  console.log("| metric | median | runs |");
  console.log("|---|--:|---|");
  for (const [k, v] of results) console.log(`| ${k} | ${fmt(median(v))} | ${v.map(fmt).join(", ")} |`);
  const out = opts.out!;
  mkdirSync(dirname(out), { recursive: true });
  const json = Object.fromEntries([...results].map(([k, v]) => [k, { median: median(v), runs: v }]));
  writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), runs: RUNS, seconds: SECONDS, latencySeconds: LATENCY_SECONDS, consumeCount: CONSUME_COUNT, results: json }, null, 2)}\n`);
  console.log(`\nwritten to ${out}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

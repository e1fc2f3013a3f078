// bench: push and/or consume load against the cluster through the SDK, with a
// live progress bar and a summary table. Bounded by --count and --duration.
// Each body carries its send time in its first 8 bytes, so with --mode both
// the consumer measures end-to-end latency. Ctrl-C ends it early with the
// summary so far. At the end it deletes what it created (its topic, or its
// queue on a topic that existed) unless --keep.
import type { Command } from "commander";
import type * as hdr from "hdr-histogram-js";
import { Reason, type GmqClient } from "../../client/index.js";
import { CliError, type Context } from "../context.js";
import { parseDuration, table } from "../format.js";

/**
 * One progress line, at most 80 columns for counts up to 10^8 and rates up
 * to 10^9/s: the bar takes what the numbers leave.
 */
export function progressLine(p: { phase: string; done: number; total: number; rate: number; failed: number; elapsedS: number }): string {
  const numbers = `${p.done}/${p.total} ${p.rate}/s ${p.failed} failed ${p.elapsedS.toFixed(1)}s`;
  const head = ` ${p.phase.padEnd(7)} `;
  const width = Math.max(0, Math.min(30, 80 - head.length - numbers.length - 3));
  const filled = p.total > 0 ? Math.min(width, Math.round((p.done / p.total) * width)) : 0;
  return `${head}[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${numbers}`;
}

interface BenchOptions {
  keep?: boolean;
  mode: string;
  topic?: string;
  bindKey: string;
  count: string;
  duration: string;
  size: string;
  concurrency: string;
  batch: string;
  maxInFlight: string;
}

const nowMs = () => performance.timeOrigin + performance.now();

interface Phase {
  name: string;
  done: number;
  failed: number;
  startMs: number;
  endMs: number;
  latencyUs: hdr.Histogram;
}

// hdr-histogram-js and cli-progress load only when bench runs: every other
// gmq command (and each README example) would pay ~0.15 s of CPU to load them.
const newPhase = (name: string, build: typeof hdr.build): Phase => ({
  name,
  done: 0,
  failed: 0,
  startMs: nowMs(),
  endMs: 0,
  latencyUs: build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 }),
});

function int(name: string, s: string, min: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${name} must be an integer >= ${min}, got ${JSON.stringify(s)}`);
  return n;
}

/** What bench made that was not there before, and so deletes at the end. */
type Created = "topic" | "queue" | "nothing";

/** Declares the bench queue on every node and tells what that created. */
async function declareBenchQueue(client: GmqClient, topic: string, bindKey: string): Promise<Created> {
  // GetTopicStat, not ListTopics: it needs admin on this topic only, not on the whole node.
  const before = await client.stats(topic);
  const unknown = before.find((p) => p.error && p.error.reason !== Reason.TOPIC_NOT_FOUND);
  if (unknown?.error) throw unknown.error;
  const topicExisted = before.some((p) => p.value);
  const created = await client.declareQueue(topic, bindKey);
  return !topicExisted ? "topic" : created ? "queue" : "nothing";
}

async function pushLoad(client: GmqClient, topic: string, routeKey: string, o: { count: number; deadlineMs: number; size: number; concurrency: number; batch: number }, p: Phase): Promise<void> {
  let issued = 0;
  const body = (): Buffer => {
    const b = Buffer.alloc(o.size);
    b.writeDoubleLE(nowMs(), 0);
    return b;
  };
  const worker = async () => {
    while (issued < o.count && nowMs() < o.deadlineMs) {
      const n = Math.min(o.batch, o.count - issued);
      issued += n;
      const t0 = nowMs();
      try {
        if (o.batch > 1) await client.pushBatch(topic, Array.from({ length: n }, () => ({ body: body(), routeKey })));
        else await client.push(topic, body(), { routeKey });
        p.done += n;
        p.latencyUs.recordValue(Math.max(1, Math.round((nowMs() - t0) * 1000)));
      } catch {
        p.failed += n;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  p.endMs = nowMs();
}

export function register(program: Command, ctx: () => Context): void {
  program
    .command("bench")
    .description(
      "load test: push and/or consume, with a live progress bar and a summary (Ctrl-C: stop early with the summary so far). " +
        "At the end it deletes what it created: its topic when no node had it, else its queue when no node had that (--keep: keep them). " +
        "With token auth it needs push and consume on the topic, and admin on it (to declare and delete).",
    )
    .option("--mode <mode>", "push | consume | both", "both")
    .option("-t, --topic <topic>", "topic (default: a new bench-<time> topic)")
    .option("-b, --bind-key <key>", "queue bind key (pushes use it as route key)", "bench")
    .option("-n, --count <n>", "messages to push (and to consume)", "100000")
    .option("-d, --duration <duration>", "stop after this long, with its unit: 30s, 2m", "60s")
    .option("-s, --size <bytes>", "body size (>= 8)", "128")
    .option("-c, --concurrency <n>", "pushes (or batches) in flight", "64")
    .option("--batch <n>", "messages per PushBatch call (1: push streams)", "1")
    .option("-m, --max-in-flight <n>", "consumer credit per node", "1000")
    .option("--keep", "keep the topic or queue bench created, with its messages (default: deleted at the end)")
    .action(async (raw: BenchOptions) => {
      const c = ctx();
      const mode = raw.mode;
      if (!["push", "consume", "both"].includes(mode)) throw new CliError("--mode must be push, consume or both");
      const count = int("--count", raw.count, 1);
      const durationMs = parseDuration("--duration", raw.duration);
      if (durationMs <= 0) throw new CliError("--duration must be above 0");
      const size = int("--size", raw.size, 8);
      const o = { count, deadlineMs: nowMs() + durationMs, size, concurrency: int("--concurrency", raw.concurrency, 1), batch: int("--batch", raw.batch, 1) };
      const topic = raw.topic ?? `bench-${Date.now()}`;
      const client = await c.connect();
      const created = await declareBenchQueue(client, topic, raw.bindKey);

      const { build } = await import("hdr-histogram-js");
      const phases: Phase[] = [];
      const push = mode !== "consume" ? newPhase("push", build) : undefined;
      const consume = mode !== "push" ? newPhase("consume", build) : undefined;
      if (push) phases.push(push);
      if (consume) phases.push(consume);

      // A live bar on a terminal; a plain line per second otherwise (CI logs).
      const tty = !c.json && process.stderr.isTTY === true;
      const cliProgress = tty ? (await import("cli-progress")).default : undefined;
      const bars = cliProgress
        ? new cliProgress.MultiBar(
            {
              format: (_opts, params, payload: { phase: string; rate: number; failed: number; elapsed: string }) =>
                progressLine({ phase: payload.phase, done: params.value, total: params.total, rate: payload.rate, failed: payload.failed, elapsedS: Number(payload.elapsed) }),
              stream: process.stderr,
              hideCursor: true,
              clearOnComplete: false,
              fps: 5,
            },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
      const barOf = new Map(phases.map((p) => [p, bars?.create(count, 0, { phase: p.name.padEnd(7), rate: 0, failed: 0, elapsed: "0.0" })]));
      let lastLineMs = nowMs();
      const render = (final: boolean) => {
        const lines: string[] = [];
        for (const p of phases) {
          const s = ((p.endMs || nowMs()) - p.startMs) / 1000;
          const rate = Math.round(p.done / Math.max(s, 0.001));
          barOf.get(p)?.update(p.done, { rate, failed: p.failed, elapsed: s.toFixed(1) });
          lines.push(`${p.name} ${p.done}/${count} ${rate}/s ${p.failed} failed ${s.toFixed(1)}s`);
        }
        if (!tty && !c.json && (final || nowMs() - lastLineMs >= 1000)) {
          lastLineMs = nowMs();
          process.stderr.write(`bench: ${lines.join(" | ")}\n`);
        }
      };
      const tick = setInterval(() => render(false), 200);
      // Ctrl-C: stop pushing and consuming now, then print what was measured.
      let interrupted = false;
      const interrupt = () => {
        interrupted = true;
        o.deadlineMs = nowMs();
        process.exitCode = 130;
      };
      process.once("SIGINT", interrupt);
      process.once("SIGTERM", interrupt);

      let consumer: ReturnType<GmqClient["consume"]> | undefined;
      let consumed: Promise<void> = Promise.resolve();
      if (consume) {
        consumed = new Promise<void>((resolve) => {
          const finish = () => {
            if (!consume.endMs) consume.endMs = nowMs();
            resolve();
          };
          consumer = client.consume(
            topic,
            raw.bindKey,
            (m) => {
              consume.done++;
              if (m.body.length >= 8) consume.latencyUs.recordValue(Math.max(1, Math.round((nowMs() - m.body.readDoubleLE(0)) * 1000)));
              if (consume.done >= count) finish();
            },
            { maxInFlight: int("--max-in-flight", raw.maxInFlight, 1) },
          );
          const guard = setInterval(() => {
            if (nowMs() >= o.deadlineMs || consume.endMs) {
              clearInterval(guard);
              finish();
            }
          }, 50);
        });
      }
      try {
        if (push) await pushLoad(client, topic, raw.bindKey, o, push);
        await consumed;
        await consumer?.close();
      } finally {
        clearInterval(tick);
        render(true);
        bars?.stop(); // shows the cursor again
        process.off("SIGINT", interrupt);
        process.off("SIGTERM", interrupt);
      }
      const deleted: Created = raw.keep ? "nothing" : created;
      if (deleted === "topic") await client.deleteTopic(topic);
      else if (deleted === "queue") await client.deleteQueue(topic, raw.bindKey);
      const cleanup = deleted !== "nothing" ? `${deleted} deleted` : created !== "nothing" ? `${created} kept` : "nothing created";

      // Numbers stay numbers (null when nothing was measured): the table formats them.
      const ms = (h: hdr.Histogram, q: number) => (h.totalCount ? Number((Math.min(h.getValueAtPercentile(q), h.maxValue) / 1000).toFixed(3)) : null);
      const summary = phases.map((p) => {
        const s = (p.endMs - p.startMs) / 1000;
        return {
          phase: p.name,
          messages: p.done,
          failed: p.failed,
          seconds: Number(s.toFixed(2)),
          rate_per_s: Math.round(p.done / Math.max(s, 0.001)),
          latency: p.name === "push" ? (o.batch > 1 ? "per batch" : "per push") : "end to end",
          p50_ms: ms(p.latencyUs, 50),
          p99_ms: ms(p.latencyUs, 99),
          p999_ms: ms(p.latencyUs, 99.9),
          max_ms: p.latencyUs.totalCount ? Number((p.latencyUs.maxValue / 1000).toFixed(3)) : null,
        };
      });
      const head = `topic ${topic}, ${size} B bodies, ${client.nodes().length} node(s), concurrency ${o.concurrency}${o.batch > 1 ? `, batches of ${o.batch}` : ", push streams"}${interrupted ? ", interrupted" : ""}; ${cleanup}\n`;
      c.out(
        head +
          table(
            ["phase", "messages", "failed", "seconds", "msgs/s", "latency", "p50 ms", "p99 ms", "p99.9 ms", "max ms"],
            summary.map((r) => [r.phase, r.messages, r.failed, r.seconds, r.rate_per_s, r.latency, ...[r.p50_ms, r.p99_ms, r.p999_ms, r.max_ms].map((v) => v?.toFixed(2))]),
          ),
        { topic, size, nodes: client.nodes().length, concurrency: o.concurrency, batch: o.batch, interrupted, kept: Boolean(raw.keep), deleted, phases: summary },
      );
      if (phases.some((p) => p.failed > 0)) process.exitCode = 1;
    });
}

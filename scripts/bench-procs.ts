// What the benchmarks share: the processes under test (a node built into
// dist/, the no-op echo server), killed with the benchmark however it ends,
// and how figures are summarised.
import { spawn, type ChildProcess } from "node:child_process";
import type { BrokerServiceClient, ConsumeResponse } from "../src/gen/gmq/v1/broker.js";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";

export function progress(msg: string): void {
  process.stderr.write(`\r\x1b[K${msg}`);
}

export interface Proc {
  addr: string;
  /** The node's HTTP gateway (host:port), when it has one. */
  httpAddr?: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

// Children die with the bench, however it ends (Ctrl-C, timeout, a crash).
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => process.exit(130));

export function startProcess(script: string, args: string[]): Promise<Proc> {
  // GMQ_BENCH_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p") profiles the processes under test.
  const flags = process.env["GMQ_BENCH_NODE_FLAGS"]?.split(" ").filter(Boolean) ?? [];
  // TypeScript through tsx; plain JavaScript (the built node) as it is.
  const loader = script.endsWith(".ts") ? ["--import", "tsx"] : [];
  const child = spawn(process.execPath, [...flags, ...loader, script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${script} exited ${code}`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (!line.includes('"listening"')) {
        // The node's warnings, and what GMQ_BENCH_NODE_FLAGS asked for (--trace-gc prints to stdout).
        process.stderr.write(`[${child.pid}] ${line}\n`);
        return;
      }
      const { grpcAddr: addr, httpAddr } = JSON.parse(line) as { grpcAddr: string; httpAddr?: string };
      resolve({
        addr,
        ...(httpAddr && { httpAddr }),
        child,
        stop: () =>
          new Promise<void>((r) => {
            child.removeAllListeners("exit");
            child.once("exit", () => r());
            child.kill("SIGTERM");
          }),
      });
    });
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}


/** A process's CPU time (user + system) in µs, from /proc (Linux; 10 ms ticks). */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
}

/**
 * Starts counting CPU in this process and in `child`; `stop(n)` gives each
 * side's CPU µs per unit over n units, what a loaded machine leaves exact
 * where rates drift with the other load.
 */
export function cpuMeter(child: ChildProcess): { stop(n: number): { client: number; node: number } } {
  const c0 = process.cpuUsage();
  const n0 = processCpuMicros(child.pid!);
  return {
    stop(n) {
      const c = process.cpuUsage(c0);
      return { client: (c.user + c.system) / n, node: (processCpuMicros(child.pid!) - n0) / n };
    },
  };
}

/** A unary call on a generated client, as a promise. */
export function call<Res>(client: BrokerServiceClient, method: string, req: unknown): Promise<Res> {
  return new Promise((resolve, reject) =>
    (client as unknown as Record<string, Function>)[method]!.call(client, req, (err: Error | null, res: Res) => (err ? reject(err) : resolve(res))),
  );
}

/**
 * Consumes `total` messages of topic's queue "q" on one Consume stream
 * (credit 10,000), acking each response's messages in one update; resolves
 * once the last acks have reached the node.
 */
export async function consumeAndAck(client: BrokerServiceClient, topic: string, total: number): Promise<void> {
  const stream = client.consume();
  stream.on("error", () => {});
  let got = 0;
  await new Promise<void>((resolve) => {
    stream.on("data", (r: ConsumeResponse) => {
      got += r.messages.length;
      stream.write({ kind: { $case: "update", value: { credit: 0, ackIds: r.messages.map((m) => m.id), nackIds: [], touchIds: [] } } });
      if (got >= total) resolve();
    });
    stream.write({ kind: { $case: "subscribe", value: { topic, bindKey: "q", maxInFlight: 10_000, maxBatchBytes: 0 } } });
  });
  // A unary call after the last acks: answered once the node has read them.
  await call(client, "getTopicStat", { topic });
  stream.cancel();
}

/** One PushBatch sent as bytes encoded beforehand (a producer's encoding is its own cost, not the node's). */
export function sendEncodedBatch(client: BrokerServiceClient, encoded: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      "/gmq.v1.BrokerService/PushBatch",
      (b: Buffer) => b,
      (b: Buffer) => b,
      encoded,
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

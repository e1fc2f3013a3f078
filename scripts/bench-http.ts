// HTTP gateway throughput and latency with autocannon against a real node
// process: push (gateway and the original's /push), pop, and a plain
// /healthz as the HTTP ceiling. Medians of N runs (default 3).
//
//   node --import tsx scripts/bench-http.ts [--runs 3] [--seconds 5] [--connections 32] [--body-bytes 128]
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startNodeProcess } from "../test/helpers/node-process.js";
import { httpLoad } from "./http-load.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    "body-bytes": { type: "string", default: "128" },
  },
});
const runs = Number(args.runs);
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const bodyBytes = Number(args["body-bytes"]);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU seconds (user + system) the node process has used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}
let nodePid = 0;

interface Row {
  name: string;
  /** Node process CPU during the runs, in cores (1.0 = one core busy). */
  nodeCores: number;
  reqPerS: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  runs: number[];
}

async function bench(name: string, opts: Record<string, unknown>): Promise<Row> {
  const rates: number[] = [];
  const p50s: number[] = [];
  const p99s: number[] = [];
  let non2xx = 0;
  const cores: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cpu0 = cpuSeconds(nodePid);
    const t0 = performance.now();
    const r = await httpLoad(seconds, { connections, ...opts });
    cores.push((cpuSeconds(nodePid) - cpu0) / ((performance.now() - t0) / 1000));
    rates.push(r.reqPerS);
    p50s.push(r.p50Ms);
    p99s.push(r.p99Ms);
    non2xx += r.failed;
    process.stderr.write(`  ${name} run ${i + 1}: ${Math.round(r.reqPerS)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, non-2xx/errors ${r.failed}\n`);
  }
  return { name, nodeCores: median(cores), reqPerS: median(rates), p50Ms: median(p50s), p99Ms: median(p99s), non2xx, runs: rates.map(Math.round) };
}

async function main(): Promise<void> {
  execFileSync(process.execPath, [join(import.meta.dirname, "build.mjs")], { stdio: "inherit" }); // the node users run: src/ built into dist/
  const node = await startNodeProcess({ built: true, args: ["--max-body-bytes", String(1024 * 1024), "--segment-bytes", String(64 * 1024 * 1024)] });
  const base = `http://${node.httpAddr}`;
  nodePid = node.pid;
  const json = { "content-type": "application/json" };
  try {
    const topic = `bench-${Date.now().toString(36)}`;
    // Auto-ack: a pop is the whole consume, so the pop run measures delivery, not TTR bookkeeping.
    await fetch(`${base}/v1/topics/${topic}/config`, { method: "PUT", headers: json, body: JSON.stringify({ autoAck: true }) });
    await fetch(`${base}/v1/topics/${topic}/queues/q`, { method: "PUT" });
    const payload = Buffer.alloc(bodyBytes, "x");
    const pushBody = JSON.stringify({ routeKey: "q", body: payload.toString("base64") });
    const legacyBody = `data=${encodeURIComponent(JSON.stringify({ body: payload.toString(), topic, delay: 0, route_key: "q" }))}`;

    const rows: Row[] = [];
    rows.push(await bench("GET /healthz (HTTP ceiling)", { url: `${base}/healthz` }));
    rows.push(await bench(`POST /v1/topics/{t}/messages (${bodyBytes} B)`, { url: `${base}/v1/topics/${topic}/messages`, method: "POST", headers: json, body: pushBody }));
    rows.push(await bench(`same, 8 pipelined per connection`, { url: `${base}/v1/topics/${topic}/messages`, method: "POST", headers: json, body: pushBody, pipelining: 8, connections: Math.max(1, connections / 4) }));
    rows.push(await bench(`POST /push (original API, ${bodyBytes} B)`, { url: `${base}/push`, method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: legacyBody }));
    rows.push(await bench("GET /v1/topics/{t}/queues/q:pop", { url: `${base}/v1/topics/${topic}/queues/q:pop` }));

    console.log(`\nHTTP gateway, ${connections} connections, ${seconds} s per run, median of ${runs} runs (node ${process.version}, 1 node process + autocannon on this machine)\n`);
    console.log("| route | req/s | p50 ms | p99 ms | node CPU (cores) | µs node CPU/req | non-2xx/errors | runs (req/s) |");
    console.log("|---|--:|--:|--:|--:|--:|--:|---|");
    for (const r of rows) {
      const usPerReq = (r.nodeCores * 1e6) / r.reqPerS;
      console.log(`| ${r.name} | ${Math.round(r.reqPerS).toLocaleString("en-US")} | ${r.p50Ms} | ${r.p99Ms} | ${r.nodeCores.toFixed(2)} | ${usPerReq.toFixed(0)} | ${r.non2xx} | ${r.runs.join(", ")} |`);
    }
    console.log(`\nload average during the run: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} (${(await import("node:os")).cpus().length} CPUs)`);
  } finally {
    await node.stop();
    node.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

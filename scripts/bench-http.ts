// HTTP gateway throughput and latency with autocannon against a real node
// process: push (gateway and the original's /push), pop, and a plain
// /healthz as the HTTP ceiling. Medians of N runs (default 3).
//
//   node --import tsx scripts/bench-http.ts [--runs 3] [--seconds 5] [--connections 32] [--body-bytes 128]
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { startNodeProcess } from "../test/helpers/node-process.js";

interface Histogram {
  average: number;
  p50: number;
  p99: number;
}
interface CannonResult {
  requests: Histogram;
  latency: Histogram;
  non2xx: number;
  errors: number;
  timeouts: number;
  totalRequests?: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Cannon;

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

interface Row {
  name: string;
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
  for (let i = 0; i < runs; i++) {
    const r = await autocannon({ connections, duration: seconds, ...opts });
    rates.push(r.requests.average);
    p50s.push(r.latency.p50);
    p99s.push(r.latency.p99);
    non2xx += r.non2xx + r.errors + r.timeouts;
    process.stderr.write(`  ${name} run ${i + 1}: ${Math.round(r.requests.average)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx/errors ${r.non2xx + r.errors}\n`);
  }
  return { name, reqPerS: median(rates), p50Ms: median(p50s), p99Ms: median(p99s), non2xx, runs: rates.map(Math.round) };
}

async function main(): Promise<void> {
  const node = await startNodeProcess({ args: ["--max-body-bytes", String(1024 * 1024), "--segment-bytes", String(64 * 1024 * 1024)] });
  const base = `http://${node.httpAddr}`;
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
    console.log("| route | req/s | p50 ms | p99 ms | non-2xx/errors | runs (req/s) |");
    console.log("|---|--:|--:|--:|--:|---|");
    for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.reqPerS).toLocaleString("en-US")} | ${r.p50Ms} | ${r.p99Ms} | ${r.non2xx} | ${r.runs.join(", ")} |`);
  } finally {
    await node.stop();
    node.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

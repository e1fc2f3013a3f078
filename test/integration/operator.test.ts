// Operator endpoints of a real node: liveness, readiness, Prometheus metrics,
// pprof profiles, the dashboard, and switching them off.
import { spawnSync } from "node:child_process";
import { Script } from "node:vm";
import { gunzipSync } from "node:zlib";
import { expect } from "chai";
import { Profile } from "pprof-format";
import { b64, call } from "../helpers/http.js";
import { connect, uniqueTopic } from "../helpers/grpc-client.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

/** Parses Prometheus text into series -> value. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe("operator endpoints (real node)", function () {
  this.timeout(90_000);
  let node: NodeProcess;
  let base: string;

  before(async () => {
    node = await startNodeProcess();
    base = `http://${node.httpAddr}`;
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
  });

  it("answers /healthz and /readyz", async () => {
    expect(await call(base, "GET", "/healthz")).to.deep.include({ status: 200, body: { status: "ok" } });
    expect(await call(base, "GET", "/readyz")).to.deep.include({ status: 200, body: { ready: true } });
    expect((await call(base, "POST", "/healthz")).status).to.equal(405);
  });

  it("exposes per-topic and per-queue series and per-RPC latency for HTTP and gRPC in /metrics", async () => {
    const topic = uniqueTopic("metrics");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    for (let i = 0; i < 3; i++) await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("x") });
    const popped = await call(base, "GET", `/v1/topics/${topic}/queues/q:pop`);
    await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("later"), delayMs: "60000" });
    const client = connect(node.grpcAddr);
    try {
      await client.call("ping", {});
    } finally {
      client.close();
    }
    const res = await fetch(`${base}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.include("text/plain");
    const m = parseProm(await res.text());
    const q = `{topic="${topic}",queue="q"}`;
    expect(m.get(`gmq_topic_pushed_total{topic="${topic}"}`)).to.equal(4);
    expect(m.get(`gmq_queue_pushed_total${q}`)).to.equal(4);
    expect(m.get(`gmq_queue_delivered_total${q}`)).to.equal(1);
    expect(m.get(`gmq_queue_in_flight${q}`)).to.equal(1);
    expect(m.get(`gmq_queue_backlog${q}`)).to.equal(2);
    expect(m.get(`gmq_queue_delayed${q}`)).to.equal(1);
    expect(m.get(`gmq_queue_acked_total${q}`)).to.equal(0);
    expect(m.get(`gmq_queue_dead${q}`)).to.equal(0);
    expect(m.get(`gmq_queue_redelivered_total${q}`)).to.equal(0);
    expect(m.get(`gmq_queue_disk_bytes${q}`)).to.be.a("number");
    expect(m.get('gmq_rpc_duration_seconds_count{method="Push",protocol="http",code="OK"}')).to.be.at.least(4);
    expect(m.get('gmq_rpc_duration_seconds_count{method="Pop",protocol="http",code="OK"}')).to.be.at.least(1);
    expect(m.get('gmq_rpc_duration_seconds_count{method="Ping",protocol="grpc",code="OK"}')).to.be.at.least(1);
    expect(m.get("gmq_storage_recovery_seconds")).to.be.a("number");
    expect(m.get("gmq_storage_fsyncs_total")).to.be.a("number");
    expect(m.get("gmq_storage_fsync_seconds_total")).to.be.a("number");
    expect(m.get("gmq_process_cpu_seconds_total")).to.be.a("number");
    expect(popped.status).to.equal(200);
  });

  it("types every *_total series as a counter and keeps durations in seconds", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((x) => [x[1]!, x[2]!]));
    const totals = [...types].filter(([name]) => name.endsWith("_total"));
    expect(totals.map(([name]) => name)).to.include.members(["gmq_topic_pushed_total", "gmq_queue_acked_total", "gmq_storage_fsyncs_total"]);
    expect(totals.filter(([, type]) => type !== "counter")).to.deep.equal([]);
    expect([...types.keys()].filter((name) => /_ms(_|$)|^gmq_process_process_/.test(name))).to.deep.equal([]);
  });

  it("passes promtool check metrics with no finding", async () => {
    const topic = uniqueTopic("promtool");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("x") });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).to.include(`gmq_queue_pushed_total{topic="${topic}",queue="q"} 1`);
    // promtool is in Debian's prometheus package (.ci/run installs it); it exits
    // non-zero and prints each finding when a series breaks Prometheus's rules.
    const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(r.error, "promtool must be installed (apt-get install prometheus)").to.equal(undefined);
    expect({ status: r.status, findings: `${r.stdout}${r.stderr}`.trim() }).to.deep.equal({ status: 0, findings: "" });
  });

  it("returns a gzipped pprof CPU profile for /debug/pprof/profile?seconds=1", async () => {
    const res = await fetch(`${base}/debug/pprof/profile?seconds=1`);
    expect(res.status).to.equal(200);
    const gz = Buffer.from(await res.arrayBuffer());
    expect([gz[0], gz[1]]).to.deep.equal([0x1f, 0x8b]);
    const profile = Profile.decode(gunzipSync(gz));
    expect(profile.sampleType.length).to.be.greaterThan(0);
    expect(profile.function.length).to.be.greaterThan(0);
  });

  it("returns a gzipped pprof heap profile for /debug/pprof/heap", async () => {
    const res = await fetch(`${base}/debug/pprof/heap`);
    expect(res.status).to.equal(200);
    const profile = Profile.decode(gunzipSync(Buffer.from(await res.arrayBuffer())));
    expect(profile.sampleType.length).to.equal(2);
  });

  it("refuses a bad seconds value", async () => {
    expect((await call(base, "GET", "/debug/pprof/profile?seconds=abc")).status).to.equal(400);
    expect((await call(base, "GET", "/debug/pprof/profile?seconds=9999")).status).to.equal(400);
  });

  it("ends a pending long poll when the node shuts down, without waiting for it", async () => {
    const other = await startNodeProcess();
    const b = `http://${other.httpAddr}`;
    const topic = uniqueTopic("drain");
    await call(b, "PUT", `/v1/topics/${topic}/queues/q`);
    // Waiting 60 s, longer than this test may take: a shutdown that waited for it would fail the test.
    const pending = fetch(`${b}/v1/topics/${topic}/queues/q:pop?wait_ms=60000`).then(
      (r) => r.status,
      () => 0,
    );
    // A round trip after the poll was sent, so the poll is (almost surely) waiting in the node when it stops.
    expect((await call(b, "GET", "/v1/ping")).status).to.equal(200);
    const code = await other.stop();
    other.cleanup();
    expect(code).to.equal(0);
    // Ended by the shutdown (an error status or a closed connection), not by its own wait_ms (404) or a message.
    expect(await pending).to.not.be.oneOf([200, 404]);
  });

  it("serves the dashboard at /dashboard (/ redirects there), a page whose data calls are all served routes", async () => {
    const root = await fetch(`${base}/`, { redirect: "manual" });
    expect(root.status).to.equal(302);
    expect(root.headers.get("location")).to.equal("/dashboard");
    const res = await fetch(`${base}/dashboard`);
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.equal("text/html; charset=utf-8");
    expect(res.headers.get("content-security-policy")).to.include("default-src 'self'");
    const html = await res.text();
    // The page's script and the vendored uPlot are files of the node, so the CSP can forbid inline scripts.
    expect(res.headers.get("content-security-policy")).to.include("script-src 'self';");
    expect([...html.matchAll(/<script src="([^"]+)"><\/script>/g)].map((m) => m[1])).to.deep.equal(["/dashboard/uPlot.iife.min.js", "/dashboard/app.js"]);
    expect(html).to.include('<link rel="stylesheet" href="/dashboard/uPlot.min.css">');
    for (const [path, type] of [["/dashboard/uPlot.iife.min.js", "text/javascript"], ["/dashboard/app.js", "text/javascript"], ["/dashboard/uPlot.min.css", "text/css"]] as const) {
      const asset = await fetch(`${base}${path}`);
      expect([asset.status, asset.headers.get("content-type")]).to.deep.equal([200, `${type}; charset=utf-8`]);
    }
    const script = await (await fetch(`${base}/dashboard/app.js`)).text();
    new Script(script); // throws on a syntax error
    // Every path the page fetches is a route of the node that answers the JSON fields it reads.
    const topic = uniqueTopic("dash");
    await call(base, "PUT", `/v1/topics/${topic}/queues/q`);
    await call(base, "POST", `/v1/topics/${topic}/messages`, { routeKey: "q", body: b64("x") });
    const paths = [...new Set([...script.matchAll(/api\("([^"]+)"/g)].map((m) => m[1]!))].sort();
    expect(paths).to.deep.equal(["/v1/history", "/v1/nodes", "/v1/ping", "/v1/topics", "/v1/topics/"]);
    const ping = await call(base, "GET", "/v1/ping");
    expect(ping.body).to.have.keys("nodeId", "version", "startedAtMs");
    const topics = await call(base, "GET", "/v1/topics");
    expect((topics.body as { topics: { topic: string }[] }).topics.map((t) => t.topic)).to.include(topic);
    const stat = (await call(base, "GET", `/v1/topics/${encodeURIComponent(topic)}/stat`)).body as { stat: Record<string, unknown> };
    expect(stat.stat).to.include.keys("topic", "pushed", "popped", "acked", "backlog", "inFlight", "delayed", "dead", "expired", "queues");
    expect((stat.stat["queues"] as object[])[0]).to.include.keys("bindKey", "ready", "inFlight", "delayed", "dead", "expired", "pushed", "bytesOnDisk", "consumers");
    const history = await call(base, "GET", `/v1/history?topic=${encodeURIComponent(topic)}`);
    expect(history.body).to.have.keys("stepMs", "series", "truncated");
    const nodes = await call(base, "GET", "/v1/nodes");
    expect(nodes.body).to.have.keys("clustered", "nodes", "totals");
    // Rendering in a real browser: test/integration/dashboard.test.ts.
  });

  it("serves neither /metrics, /debug/pprof nor /dashboard when switched off", async () => {
    const off = await startNodeProcess({ args: ["--metrics", "false", "--pprof", "false", "--dashboard", "false"] });
    try {
      const b = `http://${off.httpAddr}`;
      expect((await call(b, "GET", "/metrics")).status).to.equal(404);
      expect((await call(b, "GET", "/debug/pprof/heap")).status).to.equal(404);
      expect((await call(b, "GET", "/debug/pprof/profile?seconds=1")).status).to.equal(404);
      expect((await call(b, "GET", "/dashboard")).status).to.equal(404);
      expect((await fetch(`${b}/`, { redirect: "manual" })).status).to.equal(404);
      expect((await call(b, "GET", "/healthz")).status).to.equal(200);
    } finally {
      await off.stop();
      off.cleanup();
    }
  });
});

// The gmq CLI's argument handling, output formats and exit codes, against
// two real node processes given by address (the cluster suite covers --etcd).
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { waitFor } from "../helpers/wait-for.js";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function gmq(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ["bin/gmq.js", ...args], { timeout: 120_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

describe("gmq CLI", function () {
  this.timeout(300_000);
  let a: NodeProcess;
  let b: NodeProcess;
  let addr = "";

  before(async () => {
    [a, b] = await Promise.all([startNodeProcess({ args: ["--node-id", "1"] }), startNodeProcess({ args: ["--node-id", "2"] })]);
    addr = `${a.grpcAddr},${b.grpcAddr}`;
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    a?.cleanup();
    b?.cleanup();
  });

  it("--help lists every command and exits 0", async () => {
    const r = await gmq(["--help"]);
    expect(r.code).to.equal(0);
    for (const cmd of ["config", "declare", "delete-topic", "push", "pop", "ack", "consume", "dead", "redrive", "get", "peek", "delete", "reschedule", "purge", "publish", "subscribe", "stats", "nodes", "bench"]) {
      expect(r.stdout).to.match(new RegExp(`^  ${cmd}\\b`, "m"));
    }
  });

  it("declares, pushes lines from stdin as JSON, pops and consumes", async () => {
    expect((await gmq(["--addr", addr, "declare", "cli", "q"])).stdout).to.match(/declared: cli_q/);
    const pushed = await gmq(["--addr", addr, "--strategy", "round-robin", "--json", "push", "cli", "-r", "q", "--lines"], "one\ntwo\n\nthree\n");
    expect(pushed.code).to.equal(0);
    const lines = pushed.stdout.trim().split("\n").map((l) => JSON.parse(l) as { id: string; node: string });
    expect(lines).to.have.length(3);
    expect(lines[0]!.id).to.match(/^\d+$/);
    expect(new Set(lines.map((l) => l.node)).size).to.equal(2);

    const popped = await gmq(["--addr", addr, "--json", "pop", "cli", "q", "--ack"]);
    expect(popped.code).to.equal(0);
    expect(JSON.parse(popped.stdout)).to.include({ acked: true, topic: "cli", bind_key: "q" });

    const consumed = await gmq(["--addr", addr, "consume", "cli", "q", "--count", "2"]);
    expect(consumed.code).to.equal(0);
    expect(consumed.stdout.trim().split("\n")).to.have.length(2);
  });

  it("gets, peeks, reschedules, deletes and purges single messages", async function () {
    this.timeout(240_000); // eleven CLI processes, each a Node.js start-up on a loaded machine
    await gmq(["--addr", addr, "declare", "cli-msg", "q"]);
    const one = JSON.parse((await gmq(["--addr", a.grpcAddr, "--json", "push", "cli-msg", "first", "-r", "q"])).stdout) as { id: string };
    const two = JSON.parse((await gmq(["--addr", a.grpcAddr, "--json", "push", "cli-msg", "second", "-r", "q"])).stdout) as { id: string };
    const got = JSON.parse((await gmq(["--addr", addr, "--json", "get", "cli-msg", one.id, "--body"])).stdout) as Record<string, unknown>;
    expect(got).to.include({ id: one.id, bind_key: "q", state: "ready", body: "first", body_bytes: 5 });
    const peeked = (await gmq(["--addr", addr, "--json", "peek", "cli-msg", "q", "--limit", "1", "--after", one.id])).stdout.trim().split("\n");
    expect(peeked.map((l) => (JSON.parse(l) as { id: string }).id)).to.deep.equal([two.id]);
    expect((await gmq(["--addr", addr, "reschedule", "cli-msg", "q", one.id, "--delay", "1h"])).code).to.equal(0);
    const delayed = (await gmq(["--addr", addr, "--json", "peek", "cli-msg", "q", "--state", "delayed"])).stdout.trim().split("\n");
    expect(delayed.map((l) => (JSON.parse(l) as { id: string; state: string }).state)).to.deep.equal(["delayed"]);
    expect((await gmq(["--addr", addr, "delete", "cli-msg", "q", two.id])).stdout).to.match(/^deleted/);
    const gone = await gmq(["--addr", addr, "get", "cli-msg", two.id]);
    expect(gone.code).to.equal(1);
    expect(gone.stderr).to.include("NOT_FOUND (MESSAGE_NOT_FOUND)");
    expect((await gmq(["--addr", addr, "purge", "cli-msg", "q", "all"])).stdout).to.match(/^purged 1 message\(s\).*delayed 1/);
  });

  it("pushes a body argument with a delay, and rejects a bad delay with a one-line error", async () => {
    expect((await gmq(["--addr", addr, "push", "cli", "later", "--delay", "1500ms"])).code).to.equal(0);
    const bad = await gmq(["--addr", addr, "push", "cli", "x", "--delay", "soon"]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr.trim().split("\n")).to.have.length(1);
    expect(bad.stderr).to.match(/^gmq: invalid duration "soon" for --delay/);
  });

  it("refuses a bare number where the option's name carries no unit, with a hint to write it", async () => {
    for (const args of [["push", "cli", "x", "--delay", "10"], ["config", "cli", "--ttr", "30"], ["bench", "-d", "20"]]) {
      const r = await gmq(["--addr", addr, ...args]);
      expect(r.code, args.join(" ")).to.equal(1);
      expect(r.stderr.trim().split("\n"), args.join(" ")).to.have.length(1);
      expect(r.stderr, args.join(" ")).to.match(/^gmq: --\w+ \d+: give the unit, e\.g\. \d+s or \d+ms$/m);
    }
    const ttr = await gmq(["--addr", addr, "--json", "config", "cli-units", "--ttr", "2m", "--retry-backoff-ms", "1500"]);
    expect(ttr.code, ttr.stderr).to.equal(0);
    expect(JSON.parse(ttr.stdout)).to.deep.include({ msg_ttr: 120, retry_backoff_ms: 1500 });
    expect((await gmq(["--help"])).stdout).to.include("A bare number is refused (write 10s or 10ms)");
  });

  it("streams push --lines: a line is pushed while stdin is still open", async () => {
    await gmq(["--addr", addr, "declare", "cli-stream", "q"]);
    const child = spawn(process.execPath, ["bin/gmq.js", "--addr", addr, "push", "cli-stream", "-r", "q", "--lines"], { stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stdin!.write("first\n");
    // The first line's id is printed, and the message can be popped, before stdin ends.
    await waitFor(() => out.includes("\n"), { what: "the first line's id printed" });
    expect(out).to.match(/^\d+ \[/);
    const popped = await gmq(["--addr", addr, "--json", "pop", "cli-stream", "q", "--ack", "--wait-ms", "5s"]);
    expect(JSON.parse(popped.stdout)).to.include({ body: "first" });
    child.stdin!.end("second\n");
    expect(await exited).to.equal(0);
    expect(out.trim().split("\n")).to.have.length(2);
  });

  it("ends consume with one line and exit 1 on an unknown queue, also with --idle-exit-ms", async () => {
    for (const extra of [[], ["--idle-exit-ms", "20000"]]) {
      const r = await gmq(["--addr", addr, "consume", "cli-nosuch", "q", ...extra]);
      expect(r.code, extra.join(" ")).to.equal(1);
      expect(r.stderr.trim().split("\n"), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(/^gmq: NOT_FOUND \(TOPIC_NOT_FOUND\): /);
    }
  });

  it("keeps consuming from the nodes that have the queue while another refuses it with NOT_FOUND", async () => {
    expect((await gmq(["--addr", a.grpcAddr, "declare", "cli-half", "q"])).code).to.equal(0);
    expect((await gmq(["--addr", a.grpcAddr, "push", "cli-half", "only-on-a", "-r", "q"])).code).to.equal(0);
    const r = await gmq(["--addr", addr, "consume", "cli-half", "q", "--count", "1"]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/only-on-a$/m);
  });

  it("pings every node with its id, version and start time", async () => {
    const r = await gmq(["--addr", addr, "--json", "ping"]);
    expect(r.code, r.stderr).to.equal(0);
    const nodes = (JSON.parse(r.stdout) as { nodes: { node_id: number; version: string; started_at: number; status: string }[] }).nodes;
    expect(nodes.map((n) => n.node_id).sort()).to.deep.equal([1, 2]);
    for (const n of nodes) {
      expect(n.status).to.equal("up");
      expect(n.version).to.match(/^\d+\.\d+\.\d+/);
      expect(n.started_at).to.be.greaterThan(0);
    }
    const down = await gmq(["--addr", `${a.grpcAddr},127.0.0.1:1`, "--timeout-ms", "2s", "ping"]);
    expect(down.code).to.equal(1);
    expect(down.stdout).to.match(/127\.0\.0\.1:1 .*down \(UNAVAILABLE/);
  });

  it("pushes with --priority: pops take the highest first; a priority outside 0..9 is refused", async function () {
    this.timeout(240_000); // seven CLI processes
    const node = a.grpcAddr;
    for (const [body, p] of [["low", []], ["high", ["--priority", "9"]], ["mid", ["-p", "4"]]] as const) {
      const r = await gmq(["--addr", node, "push", "cli-prio", body, ...p]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const order: [string, number][] = [];
    for (let i = 0; i < 3; i++) {
      const r = await gmq(["--addr", node, "--json", "pop", "cli-prio", "default", "--ack"]);
      const m = JSON.parse(r.stdout) as { body: string; priority: number };
      order.push([m.body, m.priority]);
    }
    expect(order).to.deep.equal([["high", 9], ["mid", 4], ["low", 0]]);
    const bad = await gmq(["--addr", node, "push", "cli-prio", "x", "--priority", "10"]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/^gmq: --priority must be an integer 0\.\.9/);
  });

  it("pushes with --key to the same node twice, the second reported as a duplicate with the first id", async () => {
    const first = await gmq(["--addr", addr, "--json", "push", "cli-key", "once", "--key", "order-7"]);
    expect(first.code, first.stderr).to.equal(0);
    const a = JSON.parse(first.stdout) as { id: string; node: string; duplicate: boolean; idempotency_key: string };
    expect(a).to.deep.include({ duplicate: false, idempotency_key: "order-7" });
    const second = await gmq(["--addr", addr, "push", "cli-key", "once", "--key", "order-7"]);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout.trim()).to.equal(`${a.id} [${a.node}] duplicate (not stored again)`);
    const window = await gmq(["--addr", addr, "--json", "config", "cli-key", "--dedup-window", "5m"]);
    expect(JSON.parse(window.stdout)).to.deep.include({ dedup_window_ms: "300000" });
  });

  it("sets a topic's retry backoff on every node with config, shows it in stats, and refuses a cap below the base", async () => {
    const r = await gmq(["--addr", addr, "--json", "config", "cli-backoff", "--retry-backoff-ms", "250", "--retry-backoff-max-ms", "2000"]);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.deep.include({ topic: "cli-backoff", msg_retry: 5, retry_backoff_ms: 250, retry_backoff_max_ms: 2000 });
    const stats = await gmq(["--addr", addr, "stats", "cli-backoff"]);
    expect(stats.stdout).to.match(/^topic cli-backoff: .* msg_retry=5 retry_backoff=250ms max=2000ms$/m);
    const bad = await gmq(["--addr", addr, "config", "cli-backoff", "--retry-backoff-max-ms", "100"]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/^gmq: INVALID_ARGUMENT \(INVALID_FIELD\): retry_backoff_max_ms/);
  });

  it("exits 3 when pop finds nothing, and 1 with the gRPC code name and reason on a broker error", async () => {
    expect((await gmq(["--addr", addr, "declare", "cli", "empty"])).code).to.equal(0);
    expect((await gmq(["--addr", addr, "pop", "cli", "empty"])).code).to.equal(3);
    const r = await gmq(["--addr", addr, "push", "cli", "x", "-r", "nope"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^gmq: FAILED_PRECONDITION \(NO_ROUTE\): /);
  });

  it("exits 1 with QUEUE_NOT_FOUND when popping a queue that does not exist", async () => {
    const r = await gmq(["--addr", addr, "pop", "cli", "no-such-queue"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^gmq: NOT_FOUND \(QUEUE_NOT_FOUND\): queue cli_no-such-queue does not exist/);
  });

  it("reports an unreachable node in one line with a non-zero exit", async () => {
    const r = await gmq(["--addr", "127.0.0.1:1", "--timeout-ms", "2000", "declare", "t", "q"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^gmq: UNAVAILABLE: .*ECONNREFUSED/);
    expect(r.stderr.trim().split("\n")).to.have.length(1);
  });

  it("exits 2 on a usage error", async () => {
    expect((await gmq(["--addr", addr, "bogus"])).code).to.equal(2);
    expect((await gmq(["--addr", addr, "push"])).code).to.equal(2);
  });

  it("lists the --addr nodes with `nodes`, and runs a bounded bench with a JSON summary", async () => {
    const nodes = JSON.parse((await gmq(["--addr", addr, "--json", "nodes"])).stdout) as {
      nodes: { status: string; node_id: number; version: string; started_at: number }[];
    };
    expect(nodes.nodes.map((n) => n.status)).to.deep.equal(["up", "up"]);
    expect(nodes.nodes.map((n) => n.node_id)).to.deep.equal([1, 2]);
    for (const n of nodes.nodes) {
      expect(n.version).to.match(/^\d+\.\d+\.\d+/);
      expect(n.started_at).to.be.greaterThan(0);
    }
    const r = await gmq(["--addr", addr, "--json", "bench", "-n", "2000", "-d", "4m", "-t", "cli-bench"]);
    expect(r.code).to.equal(0);
    const summary = JSON.parse(r.stdout) as { kept: boolean; deleted: string; phases: { phase: string; messages: number; failed: number; p50_ms: unknown; rate_per_s: unknown }[] };
    expect(summary.phases.map((p) => [p.phase, p.messages, p.failed])).to.deep.equal([
      ["push", 2000, 0],
      ["consume", 2000, 0],
    ]);
    expect(summary.phases.map((p) => [typeof p.p50_ms, typeof p.rate_per_s])).to.deep.equal([
      ["number", "number"],
      ["number", "number"],
    ]);
    expect([summary.kept, summary.deleted]).to.deep.equal([false, "topic"]);
    // The topic bench created is gone from every node.
    const gone = await gmq(["--addr", addr, "--json", "stats", "cli-bench"]);
    expect(gone.code).to.equal(1);
    expect(gone.stderr).to.match(/^gmq: NOT_FOUND \(TOPIC_NOT_FOUND\): /);
  });

  it("on a topic that existed, bench deletes only the queue it declared", async () => {
    await gmq(["--addr", addr, "declare", "cli-bench-shared", "other"]);
    const r = await gmq(["--addr", addr, "--json", "bench", "-n", "10", "-d", "20s", "-t", "cli-bench-shared", "--mode", "push"]);
    expect(r.code, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as { deleted: string }).deleted).to.equal("queue");
    const stats = JSON.parse((await gmq(["--addr", addr, "--json", "stats", "cli-bench-shared"])).stdout) as { nodes: { stat: { queues: { bind_key: string }[] } }[] };
    expect(stats.nodes.map((n) => n.stat.queues.map((q) => q.bind_key))).to.deep.equal([["other"], ["other"]]);
  });

  it("keeps the bench topic and queue with --keep", async () => {
    const r = await gmq(["--addr", addr, "--json", "bench", "-n", "10", "-d", "20s", "-t", "cli-bench-keep", "--mode", "push", "--keep"]);
    expect(r.code, r.stderr).to.equal(0);
    expect((JSON.parse(r.stdout) as { deleted: string }).deleted).to.equal("nothing");
    const stats = await gmq(["--addr", addr, "--json", "stats", "cli-bench-keep"]);
    expect(stats.stdout).to.include('"bind_key":"bench"');
  });

  it("deletes a topic with its queues on every node with delete-topic", async () => {
    for (const q of ["b", "a"]) await gmq(["--addr", addr, "declare", "cli-doomed", q]);
    expect((await gmq(["--addr", addr, "push", "cli-doomed", "x", "-r", "a"])).code).to.equal(0);
    const r = await gmq(["--addr", addr, "delete-topic", "cli-doomed"]);
    expect([r.code, r.stdout]).to.deep.equal([0, "deleted topic cli-doomed with queues a, b\n"]);
    const again = await gmq(["--addr", addr, "delete-topic", "cli-doomed"]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.match(/^gmq: NOT_FOUND \(TOPIC_NOT_FOUND\): /);
    // A topic only one node has: the other node's TOPIC_NOT_FOUND is no failure.
    await gmq(["--addr", a.grpcAddr, "declare", "cli-half", "q"]);
    const half = await gmq(["--addr", addr, "delete-topic", "cli-half"]);
    expect([half.code, half.stdout]).to.deep.equal([0, "deleted topic cli-half with queues q\n"]);
  });

  it("on Ctrl-C, bench stops and prints the summary so far with exit code 130", async () => {
    const child = spawn(process.execPath, ["bin/gmq.js", "--addr", addr, "bench", "-n", "100000000", "-d", "10m", "-t", "cli-bench-int"], { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    await waitFor(() => /^bench: push [1-9]/m.test(err), { what: "bench reporting pushes" });
    child.kill("SIGINT");
    expect(await exited).to.equal(130);
    expect(out).to.match(/interrupted; topic deleted/);
    expect(out).to.match(/^push +[1-9]\d* +0 /m);
  });
});

describe("gmq CLI with token auth and message expiry", function () {
  this.timeout(90_000);
  const token = "cli-admin-token-0123456789";
  const pushOnly = "cli-push-only-token-0123456789";
  let dir: string;
  let node: NodeProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gmq-cli-auth-"));
    const tokens = [
      { name: "ops", token, admin: ["*"], push: ["*"], consume: ["*"] },
      { name: "producer", token: pushOnly, push: ["*"] },
    ];
    writeFileSync(join(dir, "auth.json"), JSON.stringify({ tokens }));
    node = await startNodeProcess({ args: ["--auth-file", join(dir, "auth.json")] });
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends --token or GMQ_TOKEN with every call, and fails in one line without it", async () => {
    const anonymous = await gmq(["--addr", node.grpcAddr, "declare", "secured", "q"]);
    expect(anonymous.code).to.equal(1);
    expect(anonymous.stderr.trim()).to.match(/^gmq: UNAUTHENTICATED \(TOKEN_REQUIRED\): /);
    expect((await gmq(["--addr", node.grpcAddr, "--token", token, "declare", "secured", "q"])).stdout).to.match(/declared: secured_q/);
    const pushed = await gmq(["--addr", node.grpcAddr, "push", "secured", "hello", "-r", "q"], undefined, { GMQ_TOKEN: token });
    expect(pushed.code).to.equal(0);
  });

  it("ends consume with one line and exit 1 when the token may not consume, or there is none", async () => {
    await gmq(["--addr", node.grpcAddr, "declare", "guarded", "q"], undefined, { GMQ_TOKEN: token });
    for (const [env, code] of [
      [{ GMQ_TOKEN: pushOnly }, "PERMISSION_DENIED \\(NOT_GRANTED\\)"],
      [{}, "UNAUTHENTICATED \\(TOKEN_REQUIRED\\)"],
    ] as const) {
      const r = await gmq(["--addr", node.grpcAddr, "consume", "guarded", "q", "--idle-exit-ms", "20s"], undefined, env);
      expect(r.code, code).to.equal(1);
      expect(r.stderr.trim().split("\n"), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(new RegExp(`^gmq: ${code}: `));
    }
  });

  it("pushes with --ttl: the message is gone once it expired", async () => {
    const env = { GMQ_TOKEN: token };
    await gmq(["--addr", node.grpcAddr, "declare", "ttl", "q"], undefined, env);
    expect((await gmq(["--addr", node.grpcAddr, "push", "ttl", "short-lived", "-r", "q", "--ttl", "200ms"], undefined, env)).code).to.equal(0);
    await waitFor(async () => /"expired":\s*"?1"?/.test((await gmq(["--addr", node.grpcAddr, "--json", "stats", "ttl"], undefined, env)).stdout), {
      what: "gmq stats to show the message expired",
    });
    expect((await gmq(["--addr", node.grpcAddr, "pop", "ttl", "q"], undefined, env)).code).to.equal(3);
  });
});

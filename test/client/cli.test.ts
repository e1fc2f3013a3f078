// The gmq CLI's argument handling, output formats and exit codes, against
// two real node processes given by address (the cluster suite covers --etcd).
import { execFile } from "node:child_process";
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
    const child = execFile(process.execPath, ["bin/gmq.js", ...args], { timeout: 20_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin!.end(input);
    else child.stdin!.end();
  });
}

describe("gmq CLI", function () {
  this.timeout(90_000);
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
    for (const cmd of ["config", "declare", "push", "pop", "ack", "consume", "dead", "redrive", "publish", "subscribe", "stats", "nodes", "bench"]) {
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

  it("pushes a body argument with a delay, and rejects a bad delay with a one-line error", async () => {
    expect((await gmq(["--addr", addr, "push", "cli", "later", "--delay", "1500ms"])).code).to.equal(0);
    const bad = await gmq(["--addr", addr, "push", "cli", "x", "--delay", "soon"]);
    expect(bad.code).to.equal(1);
    expect(bad.stderr.trim().split("\n")).to.have.length(1);
    expect(bad.stderr).to.match(/^gmq: invalid duration/);
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
    expect(bad.stderr).to.match(/^gmq: INVALID_ARGUMENT: retry_backoff_max_ms/);
  });

  it("exits 3 when pop finds nothing, and 1 with the gRPC code name on a broker error", async () => {
    expect((await gmq(["--addr", addr, "pop", "cli", "empty"])).code).to.equal(3);
    const r = await gmq(["--addr", addr, "push", "cli", "x", "-r", "nope"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^gmq: FAILED_PRECONDITION: /);
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
    const nodes = JSON.parse((await gmq(["--addr", addr, "--json", "nodes"])).stdout) as { nodes: { status: string }[] };
    expect(nodes.nodes.map((n) => n.status)).to.deep.equal(["up", "up"]);
    const r = await gmq(["--addr", addr, "--json", "bench", "-n", "2000", "-d", "20"]);
    expect(r.code).to.equal(0);
    const summary = JSON.parse(r.stdout) as { phases: { phase: string; messages: number; failed: number }[] };
    expect(summary.phases.map((p) => [p.phase, p.messages, p.failed])).to.deep.equal([
      ["push", 2000, 0],
      ["consume", 2000, 0],
    ]);
  });
});

describe("gmq CLI with token auth and message expiry", function () {
  this.timeout(90_000);
  const token = "cli-admin-token-0123456789";
  let dir: string;
  let node: NodeProcess;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gmq-cli-auth-"));
    writeFileSync(join(dir, "auth.json"), JSON.stringify({ tokens: [{ name: "ops", token, admin: ["*"], push: ["*"], consume: ["*"] }] }));
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
    expect(anonymous.stderr.trim()).to.match(/^gmq: UNAUTHENTICATED: /);
    expect((await gmq(["--addr", node.grpcAddr, "--token", token, "declare", "secured", "q"])).stdout).to.match(/declared: secured_q/);
    const pushed = await gmq(["--addr", node.grpcAddr, "push", "secured", "hello", "-r", "q"], undefined, { GMQ_TOKEN: token });
    expect(pushed.code).to.equal(0);
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

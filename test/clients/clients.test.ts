// The Python and Go clients (clients/) against real node processes: each
// language's own test suite runs once against a node over mutual TLS with token
// auth, and every test of it is reported here; then the README's client
// examples and the HTTP walkthroughs run exactly as the README shows them.
// Needs Debian's python3-grpcio, python3-protobuf, protobuf-compiler,
// protobuf-compiler-grpc, golang-go and the Go packages (.ci/run installs them).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { makeTestCerts, type TestCerts } from "../helpers/certs.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";

const ROOT = join(import.meta.dirname, "../..");
const PYTHON_DIR = join(ROOT, "clients/python");
const GO_DIR = join(ROOT, "clients/go");
/** Debian's interpreter, which has python3-grpcio, whatever python3 comes first on PATH. */
const PYTHON = "/usr/bin/python3";
const MAX_BODY_BYTES = 256 * 1024;
const TOKENS = { admin: "admin-token-0123456789", limited: "limited-token-0123456789" };
// Generous bounds for whole suites (first Go build included); no assertion depends on them.
const SUITE_TIMEOUT_MS = 10 * 60_000;

interface Run {
  code: number | null;
  output: string;
}

function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

async function mustRun(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  const r = await run(cmd, args, options);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}:\n${r.output}`);
  return r.output;
}

/** A node over mutual TLS with token auth, and the environment both suites read. */
function secureNode(): { env: NodeJS.ProcessEnv } {
  const fixture = { env: {} as NodeJS.ProcessEnv };
  let node: NodeProcess | undefined;
  let certs: TestCerts | undefined;
  before(async () => {
    certs = makeTestCerts();
    const authFile = join(certs.dir, "auth.json");
    writeFileSync(
      authFile,
      JSON.stringify({
        tokens: [
          { name: "admin", token: TOKENS.admin, admin: ["*"], push: ["*"], consume: ["*"] },
          { name: "limited", token: TOKENS.limited, push: ["limited"] },
        ],
      }),
    );
    node = await startNodeProcess({
      args: ["--tls-cert", certs.serverCert, "--tls-key", certs.serverKey, "--tls-client-ca", certs.caCert, "--auth-file", authFile, "--max-body-bytes", String(MAX_BODY_BYTES)],
    });
    fixture.env = {
      GMQ_ADDR: node.grpcAddr,
      GMQ_CA_FILE: certs.caCert,
      GMQ_CERT_FILE: certs.clientCert,
      GMQ_KEY_FILE: certs.clientKey,
      GMQ_OTHER_CA_FILE: join(certs.dir, "otherca.crt"),
      GMQ_OTHER_CERT_FILE: certs.otherClientCert,
      GMQ_OTHER_KEY_FILE: certs.otherClientKey,
      GMQ_ADMIN_TOKEN: TOKENS.admin,
      GMQ_LIMITED_TOKEN: TOKENS.limited,
      GMQ_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    };
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });
  return fixture;
}

const ACRONYMS = new Set(["ttr", "tls", "ca", "ttl", "id"]);

/** "TestRedeliversAfterTheTTRWithRetryCount" / "test_redelivers_after_the_ttr" -> "redelivers after the TTR ...". */
function spoken(name: string): string {
  const words = name.startsWith("test_")
    ? name
        .slice(5)
        .split("_")
        .map((w) => (ACRONYMS.has(w) ? w.toUpperCase() : w))
    : (name.slice(4).match(/[A-Z]+(?![a-z])|[A-Z][a-z]*|[0-9]+[a-z]*/g) ?? []).map((w) => (/^[A-Z]{2,}$/.test(w) ? w : w.toLowerCase()));
  return words.join(" ");
}

function testNames(file: string, pattern: RegExp): string[] {
  return [...readFileSync(file, "utf8").matchAll(pattern)].map((m) => m[1]!);
}

function goEnv(): NodeJS.ProcessEnv {
  const cache = process.env.GOCACHE || process.env.XDG_CACHE_HOME || process.env.HOME ? {} : { GOCACHE: join(tmpdir(), "gmq-go-build") };
  return { GO111MODULE: "off", GOPATH: `${join(GO_DIR, ".gopath")}:/usr/share/gocode`, GOFLAGS: "", ...cache };
}

describe("Python client (clients/python) against a real node over mutual TLS with token auth", function () {
  this.timeout(SUITE_TIMEOUT_MS);
  const node = secureNode();
  let outcomes: Record<string, string> = {};
  let output = "";

  before(async () => {
    await mustRun(join(PYTHON_DIR, "generate.sh"), [], { cwd: PYTHON_DIR });
    const dir = mkdtempSync(join(tmpdir(), "gmq-py-"));
    try {
      const r = await run(PYTHON, ["-m", "tests.run", join(dir, "outcomes.json")], { cwd: PYTHON_DIR, env: node.env });
      output = r.output;
      outcomes = JSON.parse(readFileSync(join(dir, "outcomes.json"), "utf8")) as Record<string, string>;
    } catch (err) {
      throw new Error(`the Python suite did not report its outcomes: ${(err as Error).message}\n${output}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const name of testNames(join(PYTHON_DIR, "tests/test_client.py"), /^ {4}def (test_\w+)\(/gm)) {
    it(spoken(name), () => {
      const outcome = outcomes[name];
      if (outcome === undefined) throw new Error(`did not run\n--- Python suite output ---\n${output}`);
      if (outcome !== "ok") throw new Error(outcome);
    });
  }
});

describe("Go client (clients/go) against a real node over mutual TLS with token auth", function () {
  this.timeout(SUITE_TIMEOUT_MS);
  const node = secureNode();
  const outcomes = new Map<string, { action: string; output: string }>();
  let output = "";

  before(async () => {
    await mustRun(join(GO_DIR, "generate.sh"), [], { cwd: GO_DIR });
    const r = await run("go", ["test", "-json", "-count=1", "gmq/clients/go/gmq"], { cwd: GO_DIR, env: { ...goEnv(), ...node.env } });
    output = r.output;
    for (const line of r.output.split("\n")) {
      let event: { Action?: string; Test?: string; Output?: string };
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      if (!event.Test) continue;
      const o = outcomes.get(event.Test) ?? { action: "run", output: "" };
      if (event.Action === "output") o.output += event.Output ?? "";
      if (event.Action === "pass" || event.Action === "fail" || event.Action === "skip") o.action = event.Action;
      outcomes.set(event.Test, o);
    }
  });

  for (const name of testNames(join(GO_DIR, "gmq/client_test.go"), /^func (Test\w+)\(t \*testing\.T\)/gm)) {
    it(spoken(name), () => {
      const o = outcomes.get(name);
      if (o === undefined) throw new Error(`did not run\n--- go test output ---\n${output}`);
      if (o.action !== "pass") throw new Error(o.output);
    });
  }
});

/** The shell block that follows `<!-- run by test/clients: NAME -->` in README.md. */
function readmeBlock(name: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const marker = `<!-- run by test/clients: ${name} -->`;
  const at = readme.indexOf(marker);
  if (at < 0) throw new Error(`README.md has no ${marker}`);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`no sh block after ${marker}`);
  return block[1]!;
}

describe("the README's client examples and HTTP walkthroughs, run as written against a real node", function () {
  this.timeout(SUITE_TIMEOUT_MS);
  let node: NodeProcess;
  let bin: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    node = await startNodeProcess();
    // `python3` in the README is Debian's, with its grpcio.
    bin = mkdtempSync(join(tmpdir(), "gmq-bin-"));
    symlinkSync(PYTHON, join(bin, "python3"));
    env = { PATH: `${bin}:${process.env.PATH}`, GMQ_ADDR: node.grpcAddr, GMQ_HTTP: `http://${node.httpAddr}` };
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
    rmSync(bin, { recursive: true, force: true });
  });

  const sh = (name: string): Promise<string> => mustRun("bash", ["-euo", "pipefail", "-c", readmeBlock(name)], { cwd: ROOT, env });

  it("runs the Python producer, worker (ack, nack, touch), delayed and throughput examples", async () => {
    const out = await sh("python examples");
    expect(out).to.match(/refused as expected: FAILED_PRECONDITION/);
    expect(out).to.match(/nack \d+ \(partner API timed out\), retry 0/);
    expect(out).to.match(/done \d+: slow: transcode video/);
    expect(out).to.match(/^5 jobs done$/m);
    expect(out).to.match(/got \d+ after \d+\.\d s: your trial ends tomorrow/);
    expect(out).to.match(/^python: pushed 2000 in .* consumed\+acked 2000 in /m);
  });

  it("runs the Go producer, worker (ack, nack, touch) and throughput examples", async () => {
    const out = await sh("go examples");
    expect(out).to.match(/^go: pushed 2000 in .* consumed\+acked 2000 in /m);
    expect(out).to.match(/refused as expected: FailedPrecondition/);
    expect(out).to.match(/nack \d+ \(partner API timed out\), retry 0/);
    expect(out).to.match(/done \d+: slow: transcode video/);
    expect(out).to.match(/^5 jobs done$/m);
  });

  it("walks through the HTTP gateway with curl and with Python's standard library, finding every route in /openapi.json", async () => {
    const out = await sh("http walkthroughs");
    expect(out).to.match(/^curl walkthrough passed$/m);
    expect(out).to.match(/^Python walkthrough passed$/m);
    expect(out).not.to.match(/^FAILED:/m);
  });
});

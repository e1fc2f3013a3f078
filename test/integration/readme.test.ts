// Runs the README's shell examples as a user would, so a README change that
// breaks one fails the suite. Blocks marked `<!-- runnable: <group> -->` run
// in README order, each group in one bash session (variables and functions
// carry over, as in a user's terminal), against real nodes started here from
// dist/ on free ports. The convention (also in README's "Development"):
//   - the default addresses written in the blocks, 127.0.0.1:9503 (gRPC),
//     127.0.0.1:9504 (HTTP) and 127.0.0.1:2379 (etcd), are replaced by the
//     test's own before the blocks run; ids are captured from earlier output
//     by the blocks themselves (jq), as a user would;
//   - `npx gmq …` and `gmq …` run this repository's bin/gmq.js (what npx runs);
//   - the session runs with `set -eo pipefail`, and curl fails on an HTTP
//     error status or an original-API reply with "code":1, so an example that
//     answers an error fails the test.
// Every ```sh block must carry a marker (runnable, run by test/clients, or
// not runnable with the reason), so a new example is never silently untested.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startEtcd, type EtcdProcess } from "../helpers/etcd.js";
import { startNodeProcess, type NodeProcess } from "../helpers/node-process.js";
import { readmeShellBlocks, type ShellBlock } from "../helpers/readme-blocks.js";

const ROOT = join(import.meta.dirname, "../..");
const GMQ = join(ROOT, "bin/gmq.js");

/** Shell definitions the blocks run under (see the header). */
const PRELUDE = String.raw`
set -eo pipefail
npx() { if [ "$1" = gmq ]; then shift; node "$GMQ_BIN" "$@"; else command npx "$@"; fi; }
gmq() { node "$GMQ_BIN" "$@"; }
curl() {
  case " $* " in
    # A stream: its output must flow. In the background (cmd &) it replaces the
    # subshell, so kill $! stops curl itself, as it would in a user's shell.
    *" -N "*|*" -sN "*) if [ "$BASHPID" != "$$" ]; then exec curl --fail-with-body "$@"; fi; command curl --fail-with-body "$@"; return ;;
  esac
  local body
  if ! body=$(command curl --fail-with-body "$@"); then
    printf '%s\n' "$body"; echo "readme runner: curl $* failed" >&2; return 1
  fi
  printf '%s\n' "$body"
  case "$body" in '{"code":1'*) echo "readme runner: curl $* answered an error envelope" >&2; return 1 ;; esac
}
`;

interface Addresses {
  grpc: string;
  http: string;
  etcd?: string;
}

function substitute(code: string, a: Addresses): string {
  let out = code.replaceAll("127.0.0.1:9503", a.grpc).replaceAll("127.0.0.1:9504", a.http);
  if (a.etcd) out = out.replaceAll("127.0.0.1:2379", a.etcd);
  return out;
}

/** Runs a group's blocks in one bash session; resolves with its exit code and output. */
function runGroup(blocks: ShellBlock[], a: Addresses): Promise<{ code: number | null; output: string }> {
  const script = PRELUDE + blocks.map((b) => `echo "--- README.md:${b.line} $(date +%T.%N)" >&2\nset -x\n${substitute(b.code, a)}\nset +x`).join("\n");
  const cwd = mkdtempSync(join(tmpdir(), "gmq-readme-"));
  const child = spawn("bash", ["-c", script], {
    cwd,
    detached: true, // its own process group: what the blocks leave in the background is stopped with it
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, GMQ_BIN: GMQ, GMQ_ADDR: a.grpc, GMQ_ETCD: "", GMQ_TOKEN: "" },
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => {
    child.once("exit", (code) => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // the group is already gone
      }
      rmSync(cwd, { recursive: true, force: true });
      resolve({ code, output });
    });
  });
}

const tail = (s: string, lines = 80) => s.split("\n").slice(-lines).join("\n");

describe("README shell examples", function () {
  this.timeout(180_000);
  const blocks = readmeShellBlocks();
  const group = (name: string) => blocks.filter((b) => b.kind === "runnable" && b.arg === name);

  it("marks every shell block: runnable, run by test/clients, or not runnable with a reason", () => {
    expect(blocks.filter((b) => b.kind === "").map((b) => `README.md:${b.line}`)).to.deep.equal([]);
    expect(group("standalone").length).to.be.greaterThan(5);
    expect(group("cluster").length).to.be.greaterThan(1);
  });

  describe("against one node", () => {
    let node: NodeProcess;
    before(async () => {
      node = await startNodeProcess();
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
    });

    it("runs the standalone blocks in order (quick start, gmq, original API, gateway, streams, operator endpoints)", async () => {
      const r = await runGroup(group("standalone"), { grpc: node.grpcAddr, http: node.httpAddr });
      expect(r.code, tail(r.output)).to.equal(0);
    });

    it("fails on an example that answers an error: HTTP error status, original-API error envelope, failing gmq", async () => {
      const a = { grpc: node.grpcAddr, http: node.httpAddr };
      const block = (code: string): ShellBlock[] => [{ line: 0, kind: "runnable", arg: "self-check", code }];
      const gateway = await runGroup(block('curl -s "http://127.0.0.1:9504/v1/topics/readme-nosuch/stat"\necho not reached'), a);
      expect([gateway.code, gateway.output.includes("readme runner: curl"), gateway.output.includes("not reached\n")]).to.deep.equal([1, true, false]);
      const legacy = await runGroup(block('curl -s "http://127.0.0.1:9504/pop?topic=readme-nosuch&bindKey=q"\necho not reached'), a);
      expect([legacy.code, legacy.output.includes("answered an error envelope"), legacy.output.includes("not reached\n")]).to.deep.equal([1, true, false]);
      const cli = await runGroup(block("npx gmq pop readme-nosuch q\necho not reached"), a);
      expect([cli.code, cli.output.includes("TOPIC_NOT_FOUND"), cli.output.includes("not reached\n")]).to.deep.equal([1, true, false]);
    });
  });

  describe("against a node registered in etcd", () => {
    let etcd: EtcdProcess;
    let node: NodeProcess;
    before(async () => {
      etcd = await startEtcd();
      node = await startNodeProcess({ args: ["--etcd-endpoints", etcd.endpoint] });
    });
    after(async () => {
      await node?.stop();
      node?.cleanup();
      await etcd?.destroy();
    });

    it("runs the cluster blocks in order (nodes, CLI push and consume, CLI examples)", async () => {
      const r = await runGroup(group("cluster"), { grpc: node.grpcAddr, http: node.httpAddr, etcd: etcd.endpoint });
      expect(r.code, tail(r.output)).to.equal(0);
    });
  });
});

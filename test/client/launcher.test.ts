// The bin launchers run the node in their own process, so one signal stops it,
// also through `npx gnode` (npm -> sh -> node, where npm hands signals to the
// shell only): the node ends when that wrapper ends.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../helpers/wait-for.js";
import { createInterface } from "node:readline";
import { expect } from "chai";

const root = join(import.meta.dirname, "../..");

/** Starts a launcher, resolves once the node logged "listening"; collects its log messages. */
function start(cmd: string, args: string[], dataDir: string): { child: ChildProcess; msgs: string[]; listening: Promise<void> } {
  const child = spawn(cmd, [...args, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--data-dir", dataDir], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const msgs: string[] = [];
  const listening = new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`exited with ${code} before listening`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        msgs.push((JSON.parse(line) as { msg: string }).msg);
      } catch {
        return;
      }
      if (msgs.at(-1) === "listening") resolve();
    });
  });
  return { child, msgs, listening };
}

describe("gnode launcher and signals", function () {
  this.timeout(60_000);
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), "gmq-launch-"))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it("stops the node with one SIGTERM to the pid of `node bin/gnode.js`, exit code 0", async () => {
    const n = start(process.execPath, ["bin/gnode.js"], dataDir);
    await n.listening;
    const exited = new Promise<number | null>((r) => n.child.once("exit", (code) => r(code)));
    n.child.kill("SIGTERM");
    expect(await exited).to.equal(0);
    expect(n.msgs).to.include("stopped");
  });

  it("stops the node when `npx gnode …` (its pid, as `kill $!` would) gets SIGTERM", async () => {
    const n = start("npx", ["gnode"], dataDir);
    await n.listening;
    n.child.kill("SIGTERM");
    // npx is gone at once; the node, a grandchild, shuts down gracefully on its own.
    await waitFor(() => n.msgs.includes("stopped"), { what: "node stopped", deadlineMs: 30_000 });
  });
});

// Starts a real gnode child process on loopback port 0 with a temp data dir,
// and learns its bound addresses from its "listening" log line.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { connect, type Client } from "./grpc-client.js";

export interface NodeProcess {
  grpcAddr: string;
  httpAddr: string;
  pid: number;
  dataDir: string;
  child: ChildProcess;
  /** Every log line printed so far (JSON strings). */
  logs: string[];
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** Removes the data dir (after stop/kill). */
  cleanup(): void;
}

const MAIN = join(import.meta.dirname, "../../src/main.ts");
/** What `npm start` and bin/gnode.js run: src/ transpiled by scripts/build.mjs. */
export const BUILT_MAIN = join(import.meta.dirname, "../../dist/main.js");

export interface StartOptions {
  /** Reuse a data dir (restart tests); default a new temp dir. */
  dataDir?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Run dist/main.js (build it first: scripts/build.mjs) instead of the sources through tsx. */
  built?: boolean;
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), "gmq-test-"));
}

export function startNodeProcess(options: StartOptions = {}): Promise<NodeProcess> {
  const dataDir = options.dataDir ?? tempDataDir();
  const args = [
    ...(options.built ? [BUILT_MAIN] : ["--import", "tsx", MAIN]),
    "--grpc-addr",
    "127.0.0.1:0",
    "--http-addr",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    "--segment-bytes",
    String(1024 * 1024),
    "--max-body-bytes",
    String(256 * 1024),
    "--log-level",
    "info",
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
  const logs: string[] = [];
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise<NodeProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node did not start in time; stderr: ${stderr}; logs: ${logs.join("\n")}`));
    }, options.timeoutMs ?? 15_000);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before listening; stderr: ${stderr}; logs: ${logs.join("\n")}`));
    });
    createInterface({ input: child.stdout! }).on("line", (line) => {
      logs.push(line);
      let rec: { msg?: string; grpcAddr?: string; httpAddr?: string };
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      if (rec.msg !== "listening") return;
      clearTimeout(timer);
      resolve({
        grpcAddr: rec.grpcAddr ?? "",
        httpAddr: rec.httpAddr ?? "",
        pid: child.pid!,
        dataDir,
        child,
        logs,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          return exited;
        },
        async kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          await exited;
        },
        cleanup() {
          rmSync(dataDir, { recursive: true, force: true });
        },
      });
    });
  });
}

/**
 * One node process and a gRPC client to it for the enclosing describe
 * block: started before its tests, stopped after. Read the fields inside
 * tests or hooks, once the node is up.
 */
export function nodeWithClient(options: StartOptions = {}): { node: NodeProcess; client: Client } {
  const fixture = {} as { node: NodeProcess; client: Client };
  before(async () => {
    fixture.node = await startNodeProcess(options);
    fixture.client = connect(fixture.node.grpcAddr);
  });
  after(async () => {
    fixture.client?.close();
    await fixture.node?.stop();
    fixture.node?.cleanup();
  });
  return fixture;
}

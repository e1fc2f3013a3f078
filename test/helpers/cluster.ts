// Starts broker node processes for cluster tests: real child processes on
// port 0 with temp data dirs, registered in the given etcd. Every process is
// tracked so `stopAll` can end it by PID in an after hook.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILT_MAIN, ensureBuilt } from "./node-process.js";

export interface ClusterNode {
  nodeId: number;
  grpcAddr: string;
  httpAddr: string;
  pid: number;
  dataDir: string;
  /** Every log line printed so far (JSON strings). */
  logs: string[];
  /** SIGTERM and wait for exit (graceful: deregisters). */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
}

export interface NodeSpec {
  etcd: string;
  prefix: string;
  nodeId: number;
  weight?: number;
  leaseTtlS?: number;
  /** Reuse a data dir (restart after a crash); default a new temp dir. */
  dataDir?: string;
  /** More flags for the node. */
  args?: string[];
}

const running = new Set<ChildProcess>();
const dirs = new Set<string>();

export function nodeArgs(s: NodeSpec, dataDir: string): string[] {
  ensureBuilt();
  return [
    BUILT_MAIN,
    "--grpc-addr", "127.0.0.1:0",
    "--http-addr", "127.0.0.1:0",
    "--data-dir", dataDir,
    "--node-id", String(s.nodeId),
    "--node-weight", String(s.weight ?? 1),
    "--etcd-endpoints", s.etcd,
    "--etcd-prefix", s.prefix,
    "--etcd-lease-ttl-s", String(s.leaseTtlS ?? 2),
    "--log-level", "info",
    ...(s.args ?? []),
  ];
}

function waitExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/** Runs a node to completion (for nodes expected to be refused); resolves with its exit code and output. */
export async function runNodeExpectingExit(s: NodeSpec, timeoutMs = 60_000): Promise<{ code: number | null; output: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "gmq-node-"));
  dirs.add(dataDir);
  const child = spawn(process.execPath, nodeArgs(s, dataDir), { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await waitExit(child);
  clearTimeout(timer);
  running.delete(child);
  return { code, output };
}

export async function startNode(s: NodeSpec, timeoutMs = 60_000): Promise<ClusterNode> {
  const dataDir = s.dataDir ?? mkdtempSync(join(tmpdir(), "gmq-node-"));
  dirs.add(dataDir);
  const child = spawn(process.execPath, nodeArgs(s, dataDir), { stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let output = "";
  const logs: string[] = [];
  const { grpcAddr, httpAddr } = await new Promise<{ grpcAddr: string; httpAddr: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${s.nodeId} not listening after ${timeoutMs} ms:\n${output}`)), timeoutMs);
    let buf = "";
    child.stdout!.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        logs.push(line);
        if (output.length < 20_000) output += `${line}\n`;
        try {
          const rec = JSON.parse(line) as { msg?: string; grpcAddr?: string; httpAddr?: string };
          if (rec.msg === "listening" && rec.grpcAddr) {
            clearTimeout(timer);
            resolve({ grpcAddr: rec.grpcAddr, httpAddr: rec.httpAddr ?? "" });
          }
        } catch {
          // not a JSON log line
        }
      }
    });
    child.stderr!.on("data", (d: Buffer) => {
      if (output.length < 20_000) output += d.toString();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${s.nodeId} exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    nodeId: s.nodeId,
    grpcAddr,
    httpAddr,
    pid: child.pid!,
    dataDir,
    logs,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGTERM");
      return waitExit(child);
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, "SIGKILL");
      await waitExit(child);
    },
  };
}

/** Kills every node process still running (by PID) and removes their data dirs. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map((c) => {
      if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, "SIGKILL");
      return waitExit(c);
    }),
  );
  running.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

// Starts a real etcd from PATH for cluster tests: free loopback ports, a temp
// data dir, ready once GET /health answers. Stopped by PID; restartable on the
// same ports and data dir (to test nodes and clients riding out an etcd restart).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface EtcdProcess {
  /** "127.0.0.1:<port>", as the SDK, CLI and node flags take it. */
  endpoint: string;
  clientUrl: string;
  dataDir: string;
  pid(): number | undefined;
  /** SIGTERM, wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit. */
  kill(): Promise<void>;
  /** Start again on the same ports and data dir. */
  restart(): Promise<void>;
  /** Stop and remove the data dir. */
  destroy(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`etcd exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(500) });
      const body = (await res.json()) as { health?: string };
      if (body.health === "true") return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`etcd at ${url} not healthy after ${timeoutMs} ms`);
}

function waitExit(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    if (child.pid) process.kill(child.pid, signal);
  });
}

export async function startEtcd(): Promise<EtcdProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), "gmq-etcd-"));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;

  const launch = async () => {
    child = spawn(
      "etcd",
      [
        "--name", "gmq-test",
        "--data-dir", dataDir,
        "--listen-client-urls", clientUrl,
        "--advertise-client-urls", clientUrl,
        "--listen-peer-urls", peerUrl,
        "--initial-advertise-peer-urls", peerUrl,
        "--initial-cluster", `gmq-test=${peerUrl}`,
        "--log-level", "error",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    try {
      await waitHealthy(clientUrl, child, 60_000);
    } catch (err) {
      await waitExit(child, "SIGKILL");
      throw new Error(`${(err as Error).message}\n${stderr}`);
    }
  };
  await launch();

  const self: EtcdProcess = {
    endpoint: `127.0.0.1:${clientPort}`,
    clientUrl,
    dataDir,
    pid: () => child?.pid,
    stop: async () => {
      if (child) await waitExit(child, "SIGTERM");
    },
    kill: async () => {
      if (child) await waitExit(child, "SIGKILL");
    },
    restart: async () => {
      if (child) await waitExit(child, "SIGTERM");
      await launch();
    },
    destroy: async () => {
      if (child) await waitExit(child, "SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return self;
}

// Starts a real gnode child process on loopback port 0 with a temp data dir,
// and learns its bound addresses from its "listening" log line.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { connect, type Client } from "./grpc-client.js";

export interface NodeProcess {
  grpcAddr: string;
  httpAddr: string;
  pid: number;
  /** Date.now() just before the process was spawned: the node's start time is after it. */
  spawnedAtMs: number;
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

const ROOT = join(import.meta.dirname, "../..");
let built = false;

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtimeMs(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Makes dist/ current with src/ once per test process: rebuilt (esbuild and
 * the proto descriptors, ~0.5 s) only when a source file is newer than the last build, the check
 * bin/launch.js makes. Nodes then start from plain JavaScript, ~40% sooner
 * than through tsx (2.2 s against 3.9 s on a loaded 2-core machine), and what
 * is tested is what `npm start` runs; the type check stays with `npm run check`.
 */
export function ensureBuilt(): void {
  if (built) return;
  let fresh = false;
  try {
    fresh = statSync(join(ROOT, "dist/.built")).mtimeMs >= newestMtimeMs(join(ROOT, "src"));
  } catch {
    // never built
  }
  if (!fresh) execFileSync(process.execPath, [join(ROOT, "scripts/build.mjs")], { stdio: ["ignore", "ignore", "inherit"] });
  built = true;
}

export interface StartOptions {
  /** Reuse a data dir (restart tests); default a new temp dir. */
  dataDir?: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Run dist/main.js, built from src/ by ensureBuilt (the default), or src/main.ts through tsx (false). */
  built?: boolean;
  /** false: pass no --http-addr, so GMQ_HTTP_ADDR (or the default) decides. */
  httpAddrFlag?: boolean;
  /** The log message that means "started" (default "listening"; "recovering": the servers listen, recovery begins). */
  until?: string;
}

/**
 * GMQ_TEST_NODE_ROOT=/path/to/another/checkout runs that checkout's node
 * (its bin/gnode.js: its dist/ when fresh, else its sources) in every test
 * that starts one, to show which tests fail on an older build. Flags that node
 * does not list in its --help are dropped with their values and named once on
 * stderr, so each test plays its scenario against that node's defaults.
 */
const OTHER_ROOT = process.env["GMQ_TEST_NODE_ROOT"] || undefined;
let otherFlags: Set<string> | undefined;
const droppedFlags = new Set<string>();

function forOtherNode(root: string, args: string[]): string[] {
  const gnode = join(root, "bin/gnode.js");
  otherFlags ??= new Set(execFileSync(process.execPath, [gnode, "--help"], { encoding: "utf8" }).match(/--[a-z][a-z0-9-]*/g));
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = /^--[a-z][a-z0-9-]*/.exec(args[i]!)?.[0];
    if (flag === undefined || otherFlags.has(flag)) {
      kept.push(args[i]!);
      continue;
    }
    if (!args[i]!.includes("=") && i + 1 < args.length && !args[i + 1]!.startsWith("--")) i++; // its value
    if (!droppedFlags.has(flag)) console.warn(`GMQ_TEST_NODE_ROOT: the node in ${root} does not accept ${flag}; dropped`);
    droppedFlags.add(flag);
  }
  return [gnode, ...kept];
}

export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), "gmq-test-"));
}

export function startNodeProcess(options: StartOptions = {}): Promise<NodeProcess> {
  const dataDir = options.dataDir ?? tempDataDir();
  const built = options.built ?? true;
  if (built && OTHER_ROOT === undefined) ensureBuilt();
  const flags = [
    "--grpc-addr",
    "127.0.0.1:0",
    ...(options.httpAddrFlag === false ? [] : ["--http-addr", "127.0.0.1:0"]),
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
  const args = OTHER_ROOT !== undefined ? forOtherNode(OTHER_ROOT, flags) : [...(built ? [BUILT_MAIN] : ["--import", "tsx", MAIN]), ...flags];
  const spawnedAtMs = Date.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } });
  const logs: string[] = [];
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise<NodeProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`node did not start in time; stderr: ${stderr}; logs: ${logs.join("\n")}`));
    }, options.timeoutMs ?? 60_000);
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
      if (rec.msg !== (options.until ?? "listening")) return;
      clearTimeout(timer);
      resolve({
        grpcAddr: rec.grpcAddr ?? "",
        httpAddr: rec.httpAddr ?? "",
        pid: child.pid!,
        spawnedAtMs,
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

/**
 * One RestartableNode for the enclosing describe block: started before its
 * tests, closed after. Tests that restart it keep their own topics, so each
 * still stands alone while the block pays for one start instead of one per test.
 */
export function restartableNode(options: StartOptions = {}): { n: RestartableNode } {
  const fixture = {} as { n: RestartableNode };
  before(async () => {
    fixture.n = await RestartableNode.start(options);
  });
  after(async () => {
    await fixture.n?.close();
  });
  return fixture;
}

/**
 * A node on one data dir that a test restarts (gracefully or with kill -9),
 * with a gRPC client to whichever process is current. Every restart runs
 * with the options it was started with (args, env...) on the same data dir.
 */
export class RestartableNode {
  /** Starts a node on options.dataDir, or a new temp data dir, and connects to it. */
  static async start(options: StartOptions = {}): Promise<RestartableNode> {
    const dataDir = options.dataDir ?? tempDataDir();
    return new RestartableNode({ ...options, dataDir }, await startNodeProcess({ ...options, dataDir }));
  }

  /** Starts a node, runs fn with it and closes it whatever fn does. */
  static async run<T>(fn: (n: RestartableNode) => Promise<T>, options?: StartOptions): Promise<T> {
    const n = await RestartableNode.start(options);
    try {
      return await fn(n);
    } finally {
      await n.close();
    }
  }

  client: Client;

  private constructor(
    private readonly options: StartOptions & { dataDir: string },
    public node: NodeProcess,
  ) {
    this.client = connect(node.grpcAddr);
  }

  /** `http://host:port` of the current process's HTTP server. */
  get httpBase(): string {
    return `http://${this.node.httpAddr}`;
  }

  /**
   * Closes the client, stops (SIGTERM) or kills (SIGKILL) the process,
   * starts a new one on the same data dir and reconnects. Resolves with
   * the old process's exit code after "stop", undefined after "kill".
   * whileDown runs after the old process exited, before the new one starts.
   */
  async restart(how: "stop" | "kill", whileDown?: () => Promise<unknown>): Promise<number | null | undefined> {
    this.client.close();
    let code: number | null | undefined;
    if (how === "stop") code = await this.node.stop();
    else await this.node.kill();
    await whileDown?.();
    this.node = await startNodeProcess(this.options);
    this.client = connect(this.node.grpcAddr);
    return code;
  }

  /** Closes the client, stops the current process and removes the data dir. */
  async close(): Promise<void> {
    this.client.close();
    await this.node.stop();
    this.node.cleanup();
  }
}

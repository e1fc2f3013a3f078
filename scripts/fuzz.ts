// Fuzzes a running node over loopback: gRPC wire input per method (random
// bytes and mutated valid requests, unary and streams), HTTP requests to
// every route with hostile JSON, malformed requests on raw sockets, and hostile
// topic and queue names. A run passes when the node never crashed, every call
// ended (no hang), nothing answered INTERNAL / UNKNOWN / HTTP 500, and the
// node's RSS came back within 2x of its start once it had a moment to settle
// (the last input's garbage is still in its heap when the input ends: the
// node collects it when idle, see src/idle-gc.ts).
//
//   node --import tsx scripts/fuzz.ts                         # a long run on a node it starts
//   node --import tsx scripts/fuzz.ts --grpc 100000 --http 50000 --seed 7
//
// test/integration/fuzz.test.ts runs a CI-sized run through runFuzz().
import { readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import * as pb from "../src/gen/gmq/v1/broker.js";
import { prng } from "./prng.js";

export interface FuzzTarget {
  grpcAddr: string;
  httpAddr: string;
  pid: number;
}

export interface FuzzOptions {
  grpcInputs: number;
  httpInputs: number;
  rawSockets: number;
  seed: number;
  /** A call not ended by then is a hang. */
  callDeadlineMs?: number;
  /** How long the node may take to settle after the last input before its RSS is read for good (default 30 s). */
  settleMs?: number;
}

export interface FuzzReport {
  grpcInputs: number;
  httpInputs: number;
  rawSockets: number;
  /** Calls that ended with INTERNAL or UNKNOWN, by method. */
  internal: Record<string, number>;
  /** HTTP answers 500 or above, by route. */
  http5xx: Record<string, number>;
  hangs: number;
  crashed: boolean;
  rssStartBytes: number;
  /** RSS as the last input ended. */
  rssAtLastInputBytes: number;
  /** RSS once within 2x of the start, or when settleMs ran out. */
  rssEndBytes: number;
  /** Status codes seen, by name, for the record. */
  codes: Record<string, number>;
}


function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const HOSTILE_NAMES = ["", ".", "..", "../etc", "a/b", "a\\b", "\u0000", "é", "😀", "a".repeat(300), "%2e%2e", " ", "a b", "$", "*", "#", "q.*", "[", "(?:", "\n", "CON", "-", "_"];

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const rnd = prng(options.seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const deadlineMs = options.callDeadlineMs ?? 10_000;
  const report: FuzzReport = {
    grpcInputs: 0,
    httpInputs: 0,
    rawSockets: 0,
    internal: {},
    http5xx: {},
    hangs: 0,
    crashed: false,
    rssStartBytes: rssOf(target.pid),
    rssAtLastInputBytes: 0,
    rssEndBytes: 0,
    codes: {},
  };
  const bump = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

  const randomBytes = (max: number): Buffer => {
    const b = Buffer.alloc(int(max));
    for (let i = 0; i < b.length; i++) b[i] = int(256);
    return b;
  };
  const topic = `fuzz-${options.seed}`;
  const validRequest = (): Buffer => {
    const name = rnd() < 0.2 ? pick(HOSTILE_NAMES) : topic;
    return Buffer.from(
      pb.PushRequest.encode(pb.PushRequest.fromPartial({ topic: name, routeKey: rnd() < 0.5 ? "" : pick(HOSTILE_NAMES), body: randomBytes(64), delayMs: BigInt(int(3)), ttlMs: 0n })).finish(),
    );
  };
  const mutate = (b: Buffer): Buffer => {
    const out = Buffer.from(b);
    for (let i = 0, n = 1 + int(4); i < n && out.length > 0; i++) out[int(out.length)] = int(256);
    return rnd() < 0.3 ? out.subarray(0, int(out.length + 1)) : out;
  };
  const input = (): Buffer => (rnd() < 0.5 ? randomBytes(200) : mutate(validRequest()));

  // ---- gRPC: every method of BrokerService, raw bytes in, status out
  const raw = new grpc.Client(target.grpcAddr, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const methods = Object.values(pb.BrokerServiceService);
  const passthrough = (b: Buffer) => b;
  const ended = (method: string, err: grpc.ServiceError | null | undefined) => {
    const code = err ? err.code : grpc.status.OK;
    bump(report.codes, grpc.status[code] ?? String(code));
    if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) bump(report.internal, method);
    if (code === grpc.status.DEADLINE_EXCEEDED) report.hangs++;
  };
  const oneGrpc = (): Promise<void> => {
    const m = pick(methods);
    const deadline = Date.now() + deadlineMs;
    return new Promise<void>((resolve) => {
      if (!m.requestStream && !m.responseStream) {
        raw.makeUnaryRequest(m.path, passthrough, passthrough, input(), new grpc.Metadata(), { deadline }, (err) => {
          // Pop may legitimately wait its wait_ms: a deadline on it is not a hang.
          ended(m.path, err?.code === grpc.status.DEADLINE_EXCEEDED && m.path.endsWith("/Pop") ? null : err);
          resolve();
        });
        return;
      }
      // Streams: send a few frames, then cancel; a status must come either way.
      const call: grpc.ClientDuplexStream<Buffer, Buffer> | grpc.ClientReadableStream<Buffer> = m.requestStream
        ? raw.makeBidiStreamRequest(m.path, passthrough, passthrough, new grpc.Metadata(), { deadline })
        : raw.makeServerStreamRequest(m.path, passthrough, passthrough, input(), new grpc.Metadata(), { deadline });
      call.on("data", () => {});
      call.on("status", (st: grpc.StatusObject) => {
        const cancelledByUs = st.code === grpc.status.CANCELLED;
        ended(m.path, cancelledByUs || st.code === grpc.status.OK ? null : ({ code: st.code } as grpc.ServiceError));
        resolve();
      });
      call.on("error", () => {});
      if (m.requestStream) for (let i = 0, n = 1 + int(3); i < n; i++) (call as grpc.ClientDuplexStream<Buffer, Buffer>).write(input());
      setTimeout(() => call.cancel(), 5 + int(20));
    });
  };
  const CONCURRENCY = 16;
  for (let done = 0; done < options.grpcInputs; ) {
    const n = Math.min(CONCURRENCY, options.grpcInputs - done);
    await Promise.all(Array.from({ length: n }, oneGrpc));
    done += n;
    report.grpcInputs = done;
    if (!alive(target.pid)) {
      report.crashed = true;
      break;
    }
  }
  raw.close();

  // ---- HTTP: every route from /openapi.json, hostile JSON and names
  const base = `http://${target.httpAddr}`;
  const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
  const routes = Object.entries(openapi.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ path, method: method.toUpperCase() })));
  const jsonValue = (depth: number): unknown => {
    switch (int(depth > 3 ? 5 : 8)) {
      case 0:
        return int(1e6) - 5e5;
      case 1:
        return pick(HOSTILE_NAMES);
      case 2:
        return rnd() < 0.5;
      case 3:
        return null;
      case 4:
        return "9".repeat(1 + int(40));
      case 5:
        return Array.from({ length: int(4) }, () => jsonValue(depth + 1));
      default:
        return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(["topic", "routeKey", "body", "delayMs", "ttlMs", "maxInFlight", "limit", "waitMs", "x", "__proto__"]), jsonValue(depth + 1)]));
    }
  };
  const bodyText = (): string => {
    const r = rnd();
    if (r < 0.1) return "[".repeat(5000 + int(10_000));
    if (r < 0.2) return randomBytes(100).toString("latin1");
    return JSON.stringify(jsonValue(0));
  };
  const fill = (path: string) => path.replace(/\{[^}]+\}/g, () => encodeURIComponent(rnd() < 0.5 ? topic : pick(HOSTILE_NAMES)));
  const oneHttp = async (): Promise<void> => {
    const r = pick(routes);
    const url = `${base}${fill(r.path)}${rnd() < 0.3 ? `?wait_ms=${int(3)}&limit=${int(2000)}&max_in_flight=${int(10)}` : ""}`;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), deadlineMs);
    try {
      const res = await fetch(url, { method: r.method, signal: ac.signal, ...(r.method === "GET" || r.method === "DELETE" ? {} : { body: bodyText(), headers: { "content-type": "application/json" } }) });
      if (res.status >= 500) bump(report.http5xx, `${r.method} ${r.path}`);
      bump(report.codes, `HTTP ${res.status}`);
      // Streams (consume, subscribe, profiles) are read no further.
      await res.body?.cancel();
    } catch (err) {
      if ((err as Error).name === "AbortError" && !r.path.includes(":consume") && !r.path.includes(":subscribe") && !r.path.includes("pprof")) report.hangs++;
    } finally {
      clearTimeout(timer);
    }
  };
  for (let done = 0; done < options.httpInputs && !report.crashed; ) {
    const n = Math.min(CONCURRENCY, options.httpInputs - done);
    await Promise.all(Array.from({ length: n }, oneHttp));
    done += n;
    report.httpInputs = done;
    if (!alive(target.pid)) report.crashed = true;
  }

  // ---- raw sockets: malformed HTTP/1.1 and HTTP/2 prefaces, then close
  const [host, port] = [target.httpAddr.slice(0, target.httpAddr.lastIndexOf(":")), Number(target.httpAddr.slice(target.httpAddr.lastIndexOf(":") + 1))];
  const grpcPort = Number(target.grpcAddr.slice(target.grpcAddr.lastIndexOf(":") + 1));
  const garbage = (): string =>
    pick([
      () => `GET ${"/".repeat(int(10_000))} HTTP/1.1\r\n\r\n`,
      () => `POST /v1/topics/${topic}/messages HTTP/1.1\r\ncontent-length: -1\r\n\r\n`,
      () => `POST /v1/topics/${topic}/messages HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n`,
      () => `GET / HTTP/1.1\r\n${"x: y\r\n".repeat(int(5000))}\r\n`,
      () => randomBytes(300).toString("latin1"),
      () => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + randomBytes(100).toString("latin1"),
    ])();
  const oneSocket = (toGrpc: boolean): Promise<void> =>
    new Promise<void>((resolve) => {
      const s = tcpConnect({ host, port: toGrpc ? grpcPort : port }, () => {
        s.write(garbage());
        setTimeout(() => s.destroy(), int(20));
      });
      s.on("data", (d: Buffer) => {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(d.toString("latin1"));
        if (m && Number(m[1]) >= 500) bump(report.http5xx, "raw socket");
      });
      s.on("error", () => {});
      s.on("close", () => resolve());
    });
  for (let done = 0; done < options.rawSockets && !report.crashed; ) {
    const n = Math.min(CONCURRENCY, options.rawSockets - done);
    await Promise.all(Array.from({ length: n }, () => oneSocket(rnd() < 0.3)));
    done += n;
    report.rawSockets = done;
    if (!alive(target.pid)) report.crashed = true;
  }

  report.rssAtLastInputBytes = report.rssEndBytes = alive(target.pid) ? rssOf(target.pid) : 0;
  const settleUntil = Date.now() + (options.settleMs ?? 30_000);
  while (alive(target.pid) && report.rssEndBytes > 2 * report.rssStartBytes && Date.now() < settleUntil) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    report.rssEndBytes = alive(target.pid) ? rssOf(target.pid) : 0;
  }
  return report;
}

/** Whether a report shows the node held: no crash, hang, INTERNAL, 5xx, and RSS within 2x of its start. */
export function fuzzPassed(r: FuzzReport): boolean {
  return !r.crashed && r.hangs === 0 && Object.keys(r.internal).length === 0 && Object.keys(r.http5xx).length === 0 && r.rssEndBytes <= 2 * r.rssStartBytes;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      grpc: { type: "string", default: "100000" },
      http: { type: "string", default: "50000" },
      sockets: { type: "string", default: "5000" },
      seed: { type: "string", default: String(Date.now() % 1_000_000) },
    },
  });
  const { startNodeProcess } = await import("../test/helpers/node-process.js");
  const node = await startNodeProcess({ args: ["--log-level", "warn"] });
  try {
    const report = await runFuzz(node, { grpcInputs: Number(values.grpc), httpInputs: Number(values.http), rawSockets: Number(values.sockets), seed: Number(values.seed) });
    console.log(JSON.stringify({ seed: Number(values.seed), passed: fuzzPassed(report), ...report }, null, 2));
    process.exitCode = fuzzPassed(report) ? 0 : 1;
  } finally {
    await node.stop();
    node.cleanup();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();

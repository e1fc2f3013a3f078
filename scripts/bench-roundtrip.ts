// What bounds one awaited round trip (issue: "the single awaited push"): the
// same 128 B message echoed back, awaited one at a time, over a raw TCP
// socket, a node:http2 stream, and a grpc-js bidi stream with the settings a
// client could change. Servers run in their own process
// (roundtrip-servers.ts); variants are interleaved round by round, so a
// machine that drifts affects each alike. Reports round trips per second,
// client and server CPU per round trip, and each variant against TCP.
//
//   node --import tsx scripts/bench-roundtrip.ts [--runs 3] [--seconds 3]
import { spawn } from "node:child_process";
import * as http2 from "node:http2";
import * as net from "node:net";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { defaultChannelOptions } from "../src/client/connection.js";
import { median, processCpuMicros } from "./bench-procs.js";
import { ECHO_PATH } from "./roundtrip-servers.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "3" }, seconds: { type: "string", default: "3" } } });
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const MESSAGE = Buffer.alloc(128, 7);

type Addrs = { tcp: string; h2: string; grpc: string; grpcNoChannelz: string };
interface Pipe {
  roundTrip(): Promise<void>;
  close(): void;
}

const hostPort = (a: string) => ({ host: a.slice(0, a.lastIndexOf(":")), port: Number(a.slice(a.lastIndexOf(":") + 1)) });

/** Resolves the pending round trip once `want` bytes have come back. */
function byteWaiter(want: number) {
  let got = 0;
  let done: (() => void) | undefined;
  return {
    arm: () => new Promise<void>((r) => ((got = 0), (done = r))),
    take(n: number) {
      got += n;
      if (got >= want && done) {
        const d = done;
        done = undefined;
        d();
      }
    },
  };
}

async function tcpPipe(addr: string): Promise<Pipe> {
  const s = net.connect({ ...hostPort(addr), noDelay: true });
  await new Promise((r) => s.once("connect", r));
  const w = byteWaiter(MESSAGE.length);
  s.on("data", (d) => w.take(d.length));
  return { roundTrip: () => (s.write(MESSAGE), w.arm()), close: () => s.destroy() };
}

async function h2Pipe(addr: string): Promise<Pipe> {
  const session = http2.connect(`http://${addr}`);
  const stream = session.request({ ":method": "POST", ":path": "/echo" }, { endStream: false });
  const w = byteWaiter(MESSAGE.length);
  stream.on("data", (d: Buffer) => w.take(d.length));
  return { roundTrip: () => (stream.write(MESSAGE), w.arm()), close: () => (stream.close(), session.close()) };
}

function grpcPipe(addr: string, options: grpc.ChannelOptions): Promise<Pipe> {
  const client = new grpc.Client(addr, grpc.credentials.createInsecure(), { ...options, "grpc.use_local_subchannel_pool": 1 });
  const bytes = (b: Buffer) => b;
  const call = client.makeBidiStreamRequest<Buffer, Buffer>(ECHO_PATH, bytes, bytes);
  call.on("error", () => {});
  let done: (() => void) | undefined;
  call.on("data", () => done?.());
  const pipe: Pipe = {
    roundTrip: () => new Promise<void>((r) => ((done = r), call.write(MESSAGE))),
    close: () => (call.end(), client.close()),
  };
  return pipe.roundTrip().then(() => pipe); // the first one opens the connection
}

const variants: Record<string, (a: Addrs) => Promise<Pipe>> = {
  "raw TCP socket (noDelay)": (a) => tcpPipe(a.tcp),
  "node:http2 stream": (a) => h2Pipe(a.h2),
  "grpc-js bidi, defaults": (a) => grpcPipe(a.grpc, {}),
  "grpc-js bidi, the SDK's channel options": (a) => grpcPipe(a.grpc, defaultChannelOptions),
  "grpc-js bidi, channelz off (client and server)": (a) => grpcPipe(a.grpcNoChannelz, { "grpc.enable_channelz": 0 }),
  "grpc-js bidi, keepalive pings every 10 s": (a) => grpcPipe(a.grpc, { "grpc.keepalive_time_ms": 10_000, "grpc.keepalive_permit_without_calls": 1 }),
};

const child = spawn(process.execPath, ["--import", "tsx", new URL("./roundtrip-servers.ts", import.meta.url).pathname], { stdio: ["ignore", "pipe", "inherit"] });
process.on("exit", () => child.kill("SIGKILL"));
const addrs = await new Promise<Addrs>((resolve) => createInterface({ input: child.stdout! }).on("line", (l) => l.includes('"listening"') && resolve(JSON.parse(l) as Addrs)));

const results = new Map<string, { rate: number; clientUs: number; serverUs: number }[]>();
for (let run = 0; run < RUNS; run++) {
  for (const [name, open] of Object.entries(variants)) {
    const pipe = await open(addrs);
    for (let i = 0; i < 200; i++) await pipe.roundTrip(); // warm up
    const c0 = process.cpuUsage();
    const s0 = processCpuMicros(child.pid!);
    const t0 = performance.now();
    const end = t0 + SECONDS * 1000;
    let n = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 100; i++) await pipe.roundTrip();
      n += 100;
    }
    const seconds = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const serverUs = processCpuMicros(child.pid!) - s0;
    pipe.close();
    const r = { rate: n / seconds, clientUs: (c.user + c.system) / n, serverUs: serverUs / n };
    (results.get(name) ?? results.set(name, []).get(name)!).push(r);
    process.stderr.write(`run ${run + 1}/${RUNS} ${name}: ${Math.round(r.rate)}/s\n`);
  }
}
child.kill("SIGTERM");

const tcp = median(results.get("raw TCP socket (noDelay)")!.map((r) => r.rate));
console.log(`\nawaited round trips of 128 B, medians of ${RUNS} runs of ${SECONDS} s (per run in brackets)\n`);
console.log("| transport | round trips/s | vs TCP | client CPU µs | server CPU µs |");
console.log("|---|--:|--:|--:|--:|");
for (const [name, rs] of results) {
  const rate = median(rs.map((r) => r.rate));
  console.log(
    `| ${name} | ${Math.round(rate).toLocaleString("en")} [${rs.map((r) => Math.round(r.rate)).join(", ")}] | ${(rate / tcp).toFixed(2)} | ${median(rs.map((r) => r.clientUs)).toFixed(1)} | ${median(rs.map((r) => r.serverUs)).toFixed(1)} |`,
  );
}
process.exit(0);

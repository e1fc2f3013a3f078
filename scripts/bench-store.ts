// Storage benchmark (not a test): appends/s and MB/s for 128 B and 4 KiB
// bodies under each fsync policy, reserve+ack/s, recovery time for 1M and 10M
// records, peak RSS. Prints medians over --runs (default 3) runs.
//
//   node --expose-gc --import tsx scripts/bench-store.ts [--quick] [--runs N] [--dir PATH] [--only append|consume|reopen]
//
// Each measurement runs in a fresh child process so peak RSS is its own.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { NewMessage } from "../src/broker/storage.js";
import { type FsyncPolicy, openStorage } from "../src/store/index.js";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes("--quick");
const runs = Number(flag("--runs") ?? 3);
const baseDir = flag("--dir") ?? join(tmpdir(), "gmq-bench-store");
const BATCH = 1000;

interface Result {
  name: string;
  opsPerSec?: number;
  mbPerSec?: number;
  ms?: number;
  peakRssMb: number;
}

function rssPeakMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function makeBatch(bodyBytes: number, startId: number): NewMessage[] {
  const body = Buffer.alloc(bodyBytes, 0x61);
  return Array.from({ length: BATCH }, (_, i) => ({
    id: BigInt(startId + i),
    routeKey: "bench.key",
    body,
    createdAtMs: Date.now(),
    deliverAtMs: 0,
    retry: 0,
  }));
}

/** Child: one measurement; prints one JSON line. */
async function child(kind: string, p: Record<string, string>): Promise<Result> {
  const dir = p.dir!;
  const n = Number(p.n);
  const bodyBytes = Number(p.body ?? 128);
  const policy = (p.policy ?? "interval") as FsyncPolicy;
  if (kind === "append") {
    fs.rmSync(dir, { recursive: true, force: true });
    const store = openStorage({ dataDir: dir, fsync: policy });
    const q = store.openQueue("bench", "append", "main");
    const batch = makeBatch(bodyBytes, 1);
    let id = 1;
    // Warm-up (JIT, first segments), not timed.
    const warm = Math.min(n, Number(p.warm ?? 100_000));
    for (let done = 0; done < warm; done += BATCH) {
      for (const m of batch) m.id = BigInt(id++);
      q.append(batch);
      if (policy === "always") await store.commit();
      else if (done % 10_000 === 0) await new Promise((r) => setImmediate(r));
    }
    const t0 = performance.now();
    for (let done = 0; done < n; done += BATCH) {
      for (const m of batch) m.id = BigInt(id++);
      q.append(batch);
      if (policy === "always") await store.commit();
      else if (done % 10_000 === 0) await new Promise((r) => setImmediate(r)); // let prepare-ahead run
    }
    await store.commit();
    const s = (performance.now() - t0) / 1000;
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
    return { name: "", opsPerSec: n / s, mbPerSec: (n * bodyBytes) / s / 1e6, peakRssMb: rssPeakMb() };
  }
  if (kind === "fill") {
    fs.rmSync(dir, { recursive: true, force: true });
    const store = openStorage({ dataDir: dir, fsync: "never" });
    const q = store.openQueue("bench", "backlog", "main");
    const batch = makeBatch(bodyBytes, 1);
    let id = 1;
    for (let done = 0; done < n; done += BATCH) {
      for (const m of batch) m.id = BigInt(id++);
      q.append(batch);
      if (done % 10_000 === 0) await new Promise((r) => setImmediate(r));
      if (done % 1_000_000 === 0) {
        await new Promise((r) => setImmediate(r));
        if (done > 0) process.stderr.write(`  fill ${done / 1e6}M\n`);
      }
    }
    await store.close();
    return { name: "", peakRssMb: rssPeakMb() };
  }
  if (kind === "recover") {
    const t0 = performance.now();
    const store = openStorage({ dataDir: dir });
    const q = store.openQueue("bench", "backlog", "main");
    const ms = performance.now() - t0;
    const ready = q.stats().ready;
    if (ready !== n) throw new Error(`expected ${n} ready after reopen, got ${ready}`);
    // Read through part of the backlog to show RSS stays bounded while consuming.
    let seen = 0;
    const toRead = Math.min(n, Number(p.consume ?? 0));
    while (seen < toRead) {
      const b = q.reserve(BATCH, 1 << 30, Date.now() + 600_000);
      for (const m of b) q.ack(m.id);
      seen += b.length;
      if (b.length === 0) break;
    }
    await store.close();
    return { name: "", ms, peakRssMb: rssPeakMb() };
  }
  if (kind === "consume") {
    if (p.fill !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    const store = openStorage({ dataDir: dir, fsync: "interval" });
    const q = store.openQueue("bench", "backlog", "main");
    if (p.fill !== undefined) {
      // Steady state: the backlog was written by this process.
      const batch = makeBatch(128, 1);
      let id = 1;
      for (let done = 0; done < n; done += BATCH) {
        for (const m of batch) m.id = BigInt(id++);
        q.append(batch);
        if (done % 10_000 === 0) await new Promise((r) => setImmediate(r));
      }
    }
    let seen = 0;
    const consume = async (upTo: number): Promise<void> => {
      while (seen < upTo) {
        const b = q.reserve(BATCH, 1 << 30, Date.now() + 600_000);
        if (b.length === 0) break;
        for (const m of b) q.ack(m.id);
        seen += b.length;
        if (seen % 10_000 === 0) await new Promise((r) => setImmediate(r));
      }
    };
    await consume(Math.min(n / 10, 100_000)); // warm-up, not timed
    const warm = seen;
    const t0 = performance.now();
    await consume(n);
    const s = (performance.now() - t0) / 1000;
    if (seen !== n) throw new Error(`consumed ${seen} of ${n}`);
    await store.close();
    return { name: "", opsPerSec: (n - warm) / s, peakRssMb: rssPeakMb() };
  }
  throw new Error(`unknown phase ${kind}`);
}

function runChild(kind: string, p: Record<string, string | number>): Result {
  const argv = ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--child", kind, JSON.stringify(p)];
  const out = execFileSync(process.execPath, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split("\n").pop()!) as Result;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function fmt(n: number | undefined, digits = 0): string {
  if (n === undefined) return "";
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  if (args[0] === "--child") {
    const r = await child(args[1]!, JSON.parse(args[2]!) as Record<string, string>);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  fs.mkdirSync(baseDir, { recursive: true });
  const dir = join(baseDir, "data");
  const rows: { what: string; ops: string; mb: string; ms: string; rss: string; target: string }[] = [];
  const only = flag("--only"); // "append", "consume" or "reopen": run just that part
  const wanted = (part: string): boolean => only === undefined || only === part;
  const measure = (what: string, target: string, fn: () => Result): void => {
    const rs: Result[] = [];
    for (let i = 0; i < runs; i++) {
      const r = fn();
      rs.push(r);
      console.error(`${what} run ${i + 1}/${runs}: ${JSON.stringify(r)}`);
    }
    const pick = (f: (r: Result) => number | undefined): number | undefined => {
      const xs = rs.map(f).filter((x): x is number => x !== undefined);
      return xs.length ? median(xs) : undefined;
    };
    rows.push({
      what,
      ops: fmt(pick((r) => r.opsPerSec)),
      mb: fmt(pick((r) => r.mbPerSec), 1),
      ms: fmt(pick((r) => r.ms), 0),
      rss: fmt(Math.max(...rs.map((r) => r.peakRssMb)), 0),
      target,
    });
  };

  const nSmall = quick ? 300_000 : 3_000_000;
  const nLarge = quick ? 30_000 : 200_000;
  const nAlways = quick ? 100_000 : 1_000_000;
  for (const policy of wanted("append") ? (["interval", "never", "always"] as const) : []) {
    const target = policy === "interval" ? ">= 1,000,000/s" : "";
    measure(`append 128 B, fsync ${policy}`, target, () =>
      runChild("append", { dir, n: policy === "always" ? nAlways : nSmall, body: 128, policy }),
    );
    measure(`append 4 KiB, fsync ${policy}`, "", () => runChild("append", { dir, n: nLarge, body: 4096, policy }));
  }

  const nConsume = quick ? 300_000 : 2_000_000;
  if (wanted("consume")) {
    measure("reserve 1000 + ack each, 128 B", ">= 1,000,000/s", () => runChild("consume", { dir, n: nConsume, fill: 1 }));
    measure("  same, backlog from before a restart (CRC per read)", "", () => {
      runChild("fill", { dir, n: nConsume, body: 128 });
      return runChild("consume", { dir, n: nConsume });
    });
  }

  const sizes = !wanted("reopen") ? [] : quick ? [1_000_000] : [1_000_000, 10_000_000];
  for (const n of sizes) {
    console.error(`filling a backlog of ${n.toLocaleString()} x 128 B`);
    const fill = runChild("fill", { dir, n, body: 128 });
    console.error(`fill done, peak RSS ${fmt(fill.peakRssMb)} MB`);
    rows.push({ what: `write a ${n / 1e6}M x 128 B backlog`, ops: "", mb: "", ms: "", rss: fmt(fill.peakRssMb), target: "RSS < 512 MB" });
    // Reopening does not change the state, so every run sees the same backlog.
    measure(`reopen with ${n / 1e6}M ready`, n === 1_000_000 ? "< 1,000 ms" : "< 5,000 ms", () => runChild("recover", { dir, n }));
    // Then once: reopen and consume 1M of it (reserve + ack), RSS must stay bounded.
    const c = runChild("recover", { dir, n, consume: 1_000_000 });
    console.error(`reopen + consume 1M of ${n / 1e6}M: ${JSON.stringify(c)}`);
    rows.push({ what: `reopen with ${n / 1e6}M ready, consume 1M`, ops: "", mb: "", ms: fmt(c.ms), rss: fmt(c.peakRssMb), target: "RSS < 512 MB" });
  }
  fs.rmSync(baseDir, { recursive: true, force: true });

  const head = { what: "measurement", ops: "ops/s", mb: "MB/s", ms: "ms", rss: "peak RSS MB", target: "target" };
  const all = [head, ...rows];
  const w = (k: keyof typeof head): number => Math.max(...all.map((r) => r[k].length));
  const line = (r: typeof head): string =>
    `| ${r.what.padEnd(w("what"))} | ${r.ops.padStart(w("ops"))} | ${r.mb.padStart(w("mb"))} | ${r.ms.padStart(w("ms"))} | ${r.rss.padStart(w("rss"))} | ${r.target.padEnd(w("target"))} |`;
  console.log(`\nmedians of ${runs} runs${quick ? " (--quick)" : ""}, node ${process.version}`);
  console.log(line(head));
  console.log(`|${["what", "ops", "mb", "ms", "rss", "target"].map((k) => "-".repeat(w(k as keyof typeof head) + 2)).join("|")}|`);
  for (const r of rows) console.log(line(r));
}

await main();

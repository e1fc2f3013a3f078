// GetMessage's store lookup on a large backlog: writes N messages (default
// 10M × 128 B) into one queue through the store directly (batches of 1000,
// snowflake ids from the broker's generator, yielding to the event loop
// between batches as a broker does), then, in 3 rounds each on a fresh open
// of the data dir (a restart), looks up random ids (QueueLog.inspect with the
// id's time as hint, as the broker does) and prints p50/p99/max and the first
// lookup per round and their medians. The ceiling measured in the same
// invocation is inspect of one id again and again (its window cached), so the
// ratio shows what finding a random id adds. A last round runs with the id
// summaries' sidecars deleted, to show what rebuilding them costs.
//   node --import tsx scripts/bench-lookup.ts [--messages 10000000] [--lookups 20000] [--dir D]
// With --dir the data is kept in D and reused by the next run with the same D.
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Snowflake, timeOf } from "../src/broker/snowflake.js";
import type { NewMessage } from "../src/broker/storage.js";
import { openStorage } from "../src/store/index.js";

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg("messages", 10_000_000);
const LOOKUPS = arg("lookups", 20_000);
const ROUNDS = 3;
const BATCH = 1000;
const MAX_WRITE_MS = 20 * 60_000;

const dirArg = process.argv.indexOf("--dir");
const keep = dirArg > 0;
const dir = keep ? process.argv[dirArg + 1]! : fs.mkdtempSync(join(tmpdir(), "gmq-bench-lookup-"));
const samplePath = join(dir, "bench-sample.json");
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function write(): Promise<bigint[]> {
  const store = openStorage({ dataDir: dir, fsync: "never" });
  const q = store.openQueue("bench", "q", "main");
  const sf = new Snowflake(1);
  const body = Buffer.alloc(128, 7);
  const sample: bigint[] = [];
  const every = Math.max(1, Math.floor(N / 200_000));
  const t0 = performance.now();
  const batch: NewMessage[] = [];
  for (let written = 0; written < N; ) {
    batch.length = 0;
    const now = Date.now();
    for (let i = 0; i < BATCH && written < N; i++, written++) {
      const id = sf.next(now);
      if (written % every === 0) sample.push(id);
      batch.push({ id, routeKey: "q", body, createdAtMs: now, deliverAtMs: 0, retry: 0 });
    }
    q.append(batch);
    await new Promise(setImmediate);
    if (performance.now() - t0 > MAX_WRITE_MS) throw new Error(`writing took over ${MAX_WRITE_MS} ms; stopped at ${written}`);
  }
  const s = q.stats();
  console.log(`wrote ${N} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${s.segments} segments, ${(s.bytesOnDisk / 2 ** 30).toFixed(2)} GiB`);
  await store.close();
  if (keep) fs.writeFileSync(samplePath, JSON.stringify({ n: N, ids: sample.map(String) }));
  return sample;
}

interface Round {
  p50: number;
  p99: number;
  max: number;
  first: number;
  /** Lookups that took over 1 ms (the first one in each segment loads its summary). */
  over1ms: number;
  warmP50: number;
  openMs: number;
}

async function round(sample: bigint[], seed: number): Promise<Round> {
  const t0 = performance.now();
  const store = openStorage({ dataDir: dir, fsync: "never" });
  const q = store.openQueue("bench", "q", "main");
  const openMs = performance.now() - t0;
  let x = seed;
  const rand = (n: number): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
  const times: number[] = [];
  let first = 0;
  for (let i = 0; i < LOOKUPS; i++) {
    const id = sample[rand(sample.length)]!;
    const s = performance.now();
    const r = q.inspect(id, timeOf(id), false);
    const t = performance.now() - s;
    if (typeof r === "string" || r.id !== id) throw new Error(`lookup of ${id} failed: ${JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? String(v) : v))}`);
    if (i === 0) first = t;
    times.push(t);
  }
  // Ceiling: the same id again and again (its segment summary built, its pages cached).
  const warm: number[] = [];
  const id = sample[0]!;
  q.inspect(id, timeOf(id), false);
  for (let i = 0; i < 2000; i++) {
    const s = performance.now();
    q.inspect(id, timeOf(id), false);
    warm.push(performance.now() - s);
  }
  await store.close();
  const sorted = [...times].sort((a, b) => a - b);
  warm.sort((a, b) => a - b);
  const over1ms = sorted.length - sorted.findIndex((t) => t > 1);
  return { p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted[sorted.length - 1]!, first, over1ms: sorted[sorted.length - 1]! > 1 ? over1ms : 0, warmP50: pct(warm, 50), openMs };
}

function reuse(): bigint[] | undefined {
  if (!keep || !fs.existsSync(samplePath)) return undefined;
  const saved = JSON.parse(fs.readFileSync(samplePath, "utf8")) as { n: number; ids: string[] };
  if (saved.n !== N) throw new Error(`${dir} holds ${saved.n} messages, not ${N}`);
  console.log(`reusing ${N} messages in ${dir}`);
  return saved.ids.map((x) => BigInt(x));
}

function removeSidecars(d: string): number {
  let n = 0;
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    if (e.isDirectory()) n += removeSidecars(join(d, e.name));
    else if (e.name.endsWith(".idx")) {
      fs.rmSync(join(d, e.name));
      n++;
    }
  }
  return n;
}

const fmt = (r: Round): string =>
  `p50 ${(r.p50 * 1000).toFixed(1)} µs, p99 ${(r.p99 * 1000).toFixed(1)} µs, max ${(r.max * 1000).toFixed(0)} µs, ` +
  `first ${(r.first * 1000).toFixed(0)} µs, ${r.over1ms} over 1 ms; ceiling (same id) p50 ${(r.warmP50 * 1000).toFixed(1)} µs; open ${r.openMs.toFixed(0)} ms`;

const sample = reuse() ?? (await write());
const rounds: Round[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const res = await round(sample, 1000 + r);
  rounds.push(res);
  console.log(`round ${r + 1}: ${LOOKUPS} random lookups: ${fmt(res)}`);
}
const m = (k: keyof Round): number => median(rounds.map((r) => r[k]));
console.log(
  `median of ${ROUNDS}: p50 ${(m("p50") * 1000).toFixed(1)} µs, p99 ${(m("p99") * 1000).toFixed(1)} µs, max ${(m("max") * 1000).toFixed(0)} µs ` +
    `(p50 / ceiling ${(m("p50") / m("warmP50")).toFixed(1)}x), first lookup ${(m("first") * 1000).toFixed(0)} µs, open ${m("openMs").toFixed(0)} ms`,
);
const removed = removeSidecars(dir);
const cold = await round(sample, 999);
console.log(`without sidecars (${removed} deleted; rebuilt as needed): ${fmt(cold)}`);
if (!keep) fs.rmSync(dir, { recursive: true, force: true });

// What the dashboard's history costs the node (not a test): the time of one
// per-second sample (broker.allTopicStats() + StatsHistory.record) for a
// broker with N topics of one queue each, on memory storage, against the
// ceiling of allTopicStats() alone (what a /metrics scrape reads too), in the
// same invocation. Prints the median over --runs runs (default 5) of 200
// samples each, with every run's value, and the history's bytes.
//
//   node --import tsx scripts/bench-history.ts [--topics 1000] [--runs 5] [--max-series 200]
import { Broker, systemClock } from "../src/broker/index.js";
import { StatsHistory } from "../src/api/history.js";
import { openMemoryStorage } from "../src/store/memory-storage.js";

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const topics = flag("--topics", 1000);
const runs = flag("--runs", 5);
const maxSeries = flag("--max-series", 200);
const SAMPLES = 200;

const broker = Broker.open({ storage: openMemoryStorage(), clock: systemClock, nodeId: 1, version: "bench", maxBodyBytes: 1 << 20, maxPushFanoutBytes: 1 << 30, logger: { info() {}, warn() {}, error() {} } as never });
for (let i = 0; i < topics; i++) broker.declareQueue(`t${i}`, "q");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const perSampleMs = (fn: () => void): number => {
  const t0 = performance.now();
  for (let i = 0; i < SAMPLES; i++) fn();
  return (performance.now() - t0) / SAMPLES;
};

const statsOnly: number[] = [];
const sampled: number[] = [];
let now = Date.now();
const history = new StatsHistory({ maxSeries, now: () => (now += 1000) });
for (let r = 0; r < runs; r++) {
  statsOnly.push(perSampleMs(() => void broker.allTopicStats()));
  sampled.push(perSampleMs(() => history.record(broker.allTopicStats())));
}
const fmt = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(", ");
console.log(`topics ${topics} (one queue each), history max series ${maxSeries}, ${SAMPLES} samples per run, ${runs} runs`);
console.log(`allTopicStats alone:            median ${median(statsOnly).toFixed(3)} ms per sample  [${fmt(statsOnly)}]`);
console.log(`allTopicStats + history.record: median ${median(sampled).toFixed(3)} ms per sample  [${fmt(sampled)}]`);
console.log(`ratio ${(median(sampled) / median(statsOnly)).toFixed(2)}; history holds ${history.size} series, ${(history.bytes / 2 ** 20).toFixed(1)} MiB`);
await broker.close();

// The node's in-memory history (src/api/history.ts) on a manual clock: the
// two rings keep exactly their spans, minutes fold seconds (counters their
// last value, levels their mean), and memory stays fixed however long the
// node runs and however many topics come and go.
import { expect } from "chai";
import {
  HISTORY_BYTES_PER_SERIES,
  MINUTE_SLOTS,
  SECOND_SLOTS,
  startHistorySampling,
  StatsHistory,
  type SampledTopic,
} from "../../src/api/history.js";
import { ManualClock } from "../helpers/manual-clock.js";

function topic(name: string, pushed: number, backlog: number, queues: string[] = ["q"]): SampledTopic {
  return {
    topic: name,
    pushed,
    popped: 0,
    acked: 0,
    backlog,
    inFlight: 0,
    delayed: 0,
    dead: 0,
    queues: queues.map((bindKey) => ({ bindKey, ready: backlog, inFlight: 0, delayed: 0, dead: 0, pushed, popped: 0, acked: 0 })),
  };
}

/** A clock the test moves by hand, synchronously. */
function steppedClock(startMs: number): { now(): number; step(ms: number): void } {
  let t = startMs;
  return { now: () => t, step: (ms) => void (t += ms) };
}

describe("history ring buffer", () => {
  // Starts on a minute boundary so the minute folds are easy to read.
  const start = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);

  it("keeps the last 15 minutes of seconds and no more, oldest first", () => {
    const clock = steppedClock(start);
    const h = new StatsHistory({ maxSeries: 10, now: () => clock.now() });
    for (let i = 0; i < SECOND_SLOTS + 100; i++) {
      h.record([topic("orders", i, 0)]);
      clock.step(1000);
    }
    const { series, stepMs } = h.read("orders", "seconds", 0);
    expect(stepMs).to.equal(1000);
    const total = series[0]!;
    expect(total.bindKey).to.equal("");
    expect(total.atMs.length).to.equal(SECOND_SLOTS);
    expect(total.values.pushed[0]).to.equal(100);
    expect(total.values.pushed.at(-1)).to.equal(SECOND_SLOTS + 99);
    expect(total.atMs[1]! - total.atMs[0]!).to.equal(1000);
  });

  it("folds each minute into one sample: the last counter value and the mean of levels", () => {
    const clock = steppedClock(start);
    const h = new StatsHistory({ maxSeries: 10, now: () => clock.now() });
    for (let s = 0; s < 120; s++) {
      // Backlog 0..59 in the first minute (mean 29.5), 100 throughout the second.
      h.record([topic("orders", s, s < 60 ? s : 100)]);
      clock.step(1000);
    }
    h.record([topic("orders", 120, 7)]); // opens the third minute, closing the second
    const { series, stepMs } = h.read("orders", "minutes", 0);
    expect(stepMs).to.equal(60_000);
    const total = series[0]!;
    expect(total.atMs).to.deep.equal([start, start + 60_000]);
    expect(total.values.pushed).to.deep.equal([59, 119]);
    expect(total.values.backlog).to.deep.equal([29.5, 100]);
  });

  it("keeps 24 hours of minutes and memory stays fixed over days", () => {
    const clock = steppedClock(start);
    const h = new StatsHistory({ maxSeries: 10, now: () => clock.now() });
    // Two days, sampled once a minute (the rings do not care how often).
    for (let m = 0; m < 2 * MINUTE_SLOTS; m++) {
      h.record([topic("orders", m, 1)]);
      clock.step(60_000);
    }
    const minutes = h.read("", "minutes", 0).series[0]!;
    expect(minutes.atMs.length).to.equal(MINUTE_SLOTS);
    expect(minutes.atMs.at(-1)! - minutes.atMs[0]!).to.equal((MINUTE_SLOTS - 1) * 60_000);
    // The node's total, one topic and its queue.
    expect(h.size).to.equal(3);
    expect(h.bytes).to.equal(3 * HISTORY_BYTES_PER_SERIES);
  });

  it("sizes a series' rings to the samples it holds, up to HISTORY_BYTES_PER_SERIES, and reads a series born late exactly once its rings wrap", () => {
    const clock = steppedClock(start);
    const h = new StatsHistory({ maxSeries: 10, now: () => clock.now() });
    h.record([topic("early", 0, 0, [])]);
    // The node's total and one topic, each 16 seconds and 16 minutes of 7 fields: 3.5 KiB, not 2 x 128 KiB.
    expect(h.bytes).to.equal(2 * 2 * 16 * 7 * 8);
    for (let i = 1; i < 3 * SECOND_SLOTS; i++) {
      clock.step(1000);
      h.record(i < 50 ? [topic("early", i, 0, [])] : [topic("early", i, 0, []), topic("late", i - 50, i % 7, [])]);
    }
    const late = h.read("late", "seconds", 0).series[0]!;
    expect(late.atMs.length).to.equal(SECOND_SLOTS);
    expect(late.values.pushed[0]).to.equal(3 * SECOND_SLOTS - 50 - SECOND_SLOTS);
    expect(late.values.pushed.at(-1)).to.equal(3 * SECOND_SLOTS - 51);
    expect(late.values.backlog.at(-1)).to.equal((3 * SECOND_SLOTS - 1) % 7);
    const lateMinutes = h.read("late", "minutes", 0).series[0]!;
    // Born in the first minute (at 50 s): every minute closed since holds its last pushed count.
    expect(lateMinutes.values.pushed).to.deep.equal(Array.from({ length: lateMinutes.atMs.length }, (_, m) => (m + 1) * 60 - 1 - 50));
    // Seconds are full (900 samples); the 45 minutes are held in 64 slots.
    expect(h.bytes).to.equal(3 * (SECOND_SLOTS + 64) * 7 * 8);
    expect(h.bytes).to.be.below(3 * HISTORY_BYTES_PER_SERIES);
  });

  it("holds at most maxSeries series, says so, and frees the place of a deleted topic", () => {
    const clock = steppedClock(start);
    const h = new StatsHistory({ maxSeries: 5, now: () => clock.now() });
    // The node's total + 3 topics x (total + one queue) = 7 wanted, 5 held.
    h.record([topic("a", 1, 0), topic("b", 1, 0), topic("c", 1, 0)]);
    expect(h.size).to.equal(5);
    expect(h.bytes).to.be.at.most(5 * HISTORY_BYTES_PER_SERIES);
    expect(h.read("", "seconds", 0).truncated).to.equal(true);
    clock.step(1000);
    h.record([topic("c", 2, 0)]);
    expect(h.read("", "seconds", 0).truncated).to.equal(false);
    expect(h.read("", "seconds", 0).series.map((s) => s.topic)).to.deep.equal(["", "c"]);
    expect(h.read("c", "seconds", 0).series.map((s) => s.atMs.length)).to.deep.equal([1, 1]);
  });

  it("returns only samples after since_ms, and a new series only from its first sample", () => {
    const clock = steppedClock(start);
    const h = new StatsHistory({ maxSeries: 10, now: () => clock.now() });
    h.record([topic("a", 1, 0)]);
    clock.step(1000);
    h.record([topic("a", 2, 0), topic("b", 5, 0)]);
    clock.step(1000);
    h.record([topic("a", 3, 0), topic("b", 6, 0)]);
    const all = h.read("", "seconds", 0).series;
    expect(all.map((s) => [s.topic, s.atMs.length])).to.deep.equal([
      ["", 3],
      ["a", 3],
      ["b", 2],
    ]);
    const recent = h.read("", "seconds", start + 1000).series;
    expect(recent.map((s) => s.values.pushed)).to.deep.equal([[9], [3], [6]]);
  });

  it("samples once per second on the clock it is given until stopped", async () => {
    const clock = new ManualClock(start);
    const h = new StatsHistory({ maxSeries: 10, now: () => clock.now() });
    let reads = 0;
    const stop = startHistorySampling(h, () => (reads++, [topic("a", reads, 0)]), clock);
    await clock.advance(5000);
    stop();
    await clock.advance(5000);
    expect(reads).to.equal(5);
    expect(h.read("a", "seconds", 0).series[0]!.values.pushed).to.deep.equal([1, 2, 3, 4, 5]);
  });
});

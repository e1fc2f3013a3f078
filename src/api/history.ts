// The node's recent past, kept in memory so a freshly opened dashboard (or
// anyone calling GetHistory) sees more than what happens from then on. Two
// rings per series: a sample per second for 15 minutes, and a sample per
// minute for 24 hours, folded from the seconds (counters keep the minute's
// last value, levels its mean). A series is the node's total, a topic's
// total or one queue. A series' rings grow with the samples it holds (a
// topic made a minute ago needs 60 seconds and one minute, not 24 hours),
// doubling up to their full length, and at most maxSeries series are held, so
// memory is bounded: at most HISTORY_BYTES_PER_SERIES per series, whatever
// the traffic.

import type { QueueStatView, TopicStatView } from "../broker/index.js";

/** What one sample holds, in this order in the rings. Counters are cumulative since the node started; levels are read as they are. */
export const HISTORY_FIELDS = ["pushed", "delivered", "acked", "backlog", "inFlight", "delayed", "dead"] as const;
export type HistoryField = (typeof HISTORY_FIELDS)[number];
const COUNTERS = 3; // the first three fields; the rest are levels
const FIELDS = HISTORY_FIELDS.length;

export const SECOND_STEP_MS = 1000;
export const SECOND_SLOTS = 15 * 60; // 15 minutes
export const MINUTE_STEP_MS = 60_000;
export const MINUTE_SLOTS = 24 * 60; // 24 hours

/** Bytes of samples one series holds (both rings; the time stamps are shared by all series). */
export const HISTORY_BYTES_PER_SERIES = (SECOND_SLOTS + MINUTE_SLOTS) * FIELDS * Float64Array.BYTES_PER_ELEMENT;

export type Resolution = "seconds" | "minutes";

/** The stats a sample is taken from: the part of the broker's stats views it reads. */
export type SampledQueue = Pick<QueueStatView, "bindKey" | "ready" | "inFlight" | "delayed" | "dead" | "pushed" | "popped" | "acked">;
export type SampledTopic = Pick<TopicStatView, "topic" | "pushed" | "popped" | "acked" | "backlog" | "inFlight" | "delayed" | "dead"> & {
  queues: readonly SampledQueue[];
};

export interface SeriesSamples {
  topic: string;
  /** "" for a topic's or the node's total. */
  bindKey: string;
  atMs: number[];
  values: Record<HistoryField, number[]>;
}

/** Time stamps of a ring, shared by every series: slot i of a series belongs to atMs[i]. */
class Clockwork {
  readonly atMs: Float64Array;
  /** Slots written so far (the ring's newest is at (written - 1) % slots). */
  written = 0;

  constructor(readonly slots: number) {
    this.atMs = new Float64Array(slots);
  }

  /** The next slot to write, and its time. */
  advance(atMs: number): number {
    const slot = this.written % this.slots;
    this.atMs[slot] = atMs;
    this.written++;
    return slot;
  }

  /** Slots held, oldest first, as [slot, index of the write that filled it]. */
  *held(): Generator<[number, number]> {
    const first = Math.max(0, this.written - this.slots);
    for (let w = first; w < this.written; w++) yield [w % this.slots, w];
  }
}

/** Samples a ring holds at first; it doubles when full, up to its clock's slots. */
const FIRST_SAMPLES = 16;

/**
 * One series' samples on one clock, by the series' own write count: sample i
 * (i-th since the series was born) is at i % slots, in an array that holds
 * only as many samples as were written so far (rounded up to a power of two).
 */
class Ring {
  values = new Float64Array(FIRST_SAMPLES * FIELDS);

  constructor(private readonly slots: number) {}

  /** Where the series' i-th sample goes, growing the array when i is past its end. */
  at(i: number): number {
    const held = this.values.length / FIELDS;
    if (i >= held && held < this.slots) {
      const grown = new Float64Array(Math.min(this.slots, Math.max(held * 2, i + 1)) * FIELDS);
      grown.set(this.values);
      this.values = grown;
    }
    return (i % this.slots) * FIELDS;
  }

  get bytes(): number {
    return this.values.byteLength;
  }
}

class Series {
  readonly seconds = new Ring(SECOND_SLOTS);
  readonly minutes = new Ring(MINUTE_SLOTS);
  /** Writes of each ring before this series existed: those slots hold nothing of it. */
  readonly bornSecond: number;
  readonly bornMinute: number;
  /** The current minute's fold: last counters, sums of levels. */
  readonly fold = new Float64Array(FIELDS);
  foldCount = 0;
  /** The last sample that wrote this series. */
  generation = 0;

  constructor(
    readonly topic: string,
    readonly bindKey: string,
    second: number,
    minute: number,
  ) {
    this.bornSecond = second;
    this.bornMinute = minute;
  }
}

const keyOf = (topic: string, bindKey: string) => `${topic}\0${bindKey}`;

export interface HistoryOptions {
  /** Most series held (the node's total counts as one); beyond it new topics and queues are not recorded. */
  maxSeries: number;
  now(): number;
}

export class StatsHistory {
  private readonly secondClock = new Clockwork(SECOND_SLOTS);
  private readonly minuteClock = new Clockwork(MINUTE_SLOTS);
  private readonly series = new Map<string, Series>();
  /** The minute (start, ms) the fold belongs to; NaN before the first sample. */
  private foldMinute = Number.NaN;
  /** A series wanted a place and there was none, at the last sample. */
  private overflowed = false;
  private readonly sample = new Float64Array(FIELDS);
  private readonly row = new Float64Array(FIELDS);
  /** Counts samples; a series not marked with the current one was not in it. */
  private generation = 0;

  constructor(private readonly options: HistoryOptions) {}

  /** Series held now. */
  get size(): number {
    return this.series.size;
  }

  /** Bytes the held series' rings take (at most size * HISTORY_BYTES_PER_SERIES). */
  get bytes(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.seconds.bytes + s.minutes.bytes;
    return n;
  }

  /** Takes one sample of every topic and queue (the node calls it once per second). */
  record(topics: readonly SampledTopic[]): void {
    const now = this.options.now();
    const minute = Math.floor(now / MINUTE_STEP_MS) * MINUTE_STEP_MS;
    if (minute !== this.foldMinute) {
      if (!Number.isNaN(this.foldMinute)) this.closeMinute(this.foldMinute);
      this.foldMinute = minute;
    }
    this.secondClock.advance(now);
    this.overflowed = false;

    // Held series are written in place and marked; the unmarked (deleted
    // topics and queues) give their place back before new ones take one.
    const gen = ++this.generation;
    const fresh: [string, string, number[]][] = [];
    const total = this.sample.fill(0);
    const row = this.row;
    for (const t of topics) {
      total[0]! += t.pushed;
      total[1]! += t.popped;
      total[2]! += t.acked;
      total[3]! += t.backlog;
      total[4]! += t.inFlight;
      total[5]! += t.delayed;
      total[6]! += t.dead;
    }
    // The node's total first: it always has a place.
    this.put("", "", total, gen, fresh);
    for (const t of topics) {
      row[0] = t.pushed;
      row[1] = t.popped;
      row[2] = t.acked;
      row[3] = t.backlog;
      row[4] = t.inFlight;
      row[5] = t.delayed;
      row[6] = t.dead;
      this.put(t.topic, "", row, gen, fresh);
      for (const q of t.queues) {
        row[0] = q.pushed;
        row[1] = q.popped;
        row[2] = q.acked;
        row[3] = q.ready;
        row[4] = q.inFlight;
        row[5] = q.delayed;
        row[6] = q.dead;
        this.put(t.topic, q.bindKey, row, gen, fresh);
      }
    }
    for (const [key, s] of this.series) if (s.generation !== gen) this.series.delete(key);
    for (const [topic, bindKey, values] of fresh) {
      if (this.series.size >= this.options.maxSeries) {
        this.overflowed = true;
        break;
      }
      const s = new Series(topic, bindKey, this.secondClock.written - 1, this.minuteClock.written);
      this.series.set(keyOf(topic, bindKey), s);
      this.write(s, values, gen);
    }
  }

  /** Writes a held series' sample, or notes a new one for after the deleted ones are gone. */
  private put(topic: string, bindKey: string, values: Float64Array, gen: number, fresh: [string, string, number[]][]): void {
    const s = this.series.get(keyOf(topic, bindKey));
    if (s) this.write(s, values, gen);
    // Beyond what could ever be held, new series are not even copied.
    else if (fresh.length < this.options.maxSeries) fresh.push([topic, bindKey, Array.from(values)]);
    else this.overflowed = true;
  }

  /** Writes the current second's sample of a series (every held series is written at every sample). */
  private write(s: Series, values: ArrayLike<number>, gen: number): void {
    s.generation = gen;
    const base = s.seconds.at(this.secondClock.written - 1 - s.bornSecond);
    const ring = s.seconds.values;
    for (let f = 0; f < FIELDS; f++) {
      const v = values[f]!;
      ring[base + f] = v;
      if (f < COUNTERS) s.fold[f] = v;
      else s.fold[f]! += v;
    }
    s.foldCount++;
  }

  /** Folds the seconds of a finished minute into one minute sample of each series. */
  private closeMinute(minuteMs: number): void {
    this.minuteClock.advance(minuteMs);
    for (const s of this.series.values()) {
      const n = s.foldCount;
      const base = s.minutes.at(this.minuteClock.written - 1 - s.bornMinute);
      const ring = s.minutes.values;
      for (let f = 0; f < FIELDS; f++) {
        ring[base + f] = f < COUNTERS || n === 0 ? s.fold[f]! : s.fold[f]! / n;
      }
      s.fold.fill(0);
      s.foldCount = 0;
    }
  }

  /**
   * The samples after sinceMs: of one topic (its total, then its queues) or,
   * when topic is "", of the node (its total, then each topic's total).
   * `truncated` says a series was not recorded for want of room.
   */
  read(topic: string, resolution: Resolution, sinceMs: number): { stepMs: number; series: SeriesSamples[]; truncated: boolean } {
    const seconds = resolution === "seconds";
    const clock = seconds ? this.secondClock : this.minuteClock;
    const picked = [...this.series.values()].filter((s) => (topic === "" ? s.bindKey === "" : s.topic === topic));
    picked.sort((a, b) => a.topic.localeCompare(b.topic) || a.bindKey.localeCompare(b.bindKey));
    const series = picked.map((s) => {
      const ring = (seconds ? s.seconds : s.minutes).values;
      const slots = seconds ? SECOND_SLOTS : MINUTE_SLOTS;
      const born = seconds ? s.bornSecond : s.bornMinute;
      const out: SeriesSamples = { topic: s.topic, bindKey: s.bindKey, atMs: [], values: emptyValues() };
      for (const [slot, written] of clock.held()) {
        const at = clock.atMs[slot]!;
        if (written < born || at <= sinceMs) continue;
        out.atMs.push(at);
        const base = ((written - born) % slots) * FIELDS;
        for (let f = 0; f < FIELDS; f++) out.values[HISTORY_FIELDS[f]!].push(ring[base + f]!);
      }
      return out;
    });
    return { stepMs: seconds ? SECOND_STEP_MS : MINUTE_STEP_MS, series, truncated: this.overflowed };
  }
}

function emptyValues(): Record<HistoryField, number[]> {
  return { pushed: [], delivered: [], acked: [], backlog: [], inFlight: [], delayed: [], dead: [] };
}

/** Takes a sample every second on `clock` from `read()` until the returned function is called. */
export function startHistorySampling(
  history: StatsHistory,
  read: () => readonly SampledTopic[],
  clock: { setTimer(fn: () => void, delayMs: number): { cancel(): void } },
): () => void {
  let timer: { cancel(): void } | undefined;
  const tick = () => {
    history.record(read());
    timer = clock.setTimer(tick, SECOND_STEP_MS);
  };
  timer = clock.setTimer(tick, SECOND_STEP_MS);
  return () => timer?.cancel();
}

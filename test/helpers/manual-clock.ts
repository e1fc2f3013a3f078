// A Clock that moves only when a test says so. advance(ms) fires every timer
// due within the step in time order, each with now() at its own due time,
// and lets the promise callbacks it starts settle before the next one.
import type { Clock, Timer } from "../../src/broker/clock.js";

interface Pending {
  atMs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Lets queued microtasks and promise callbacks run (one macrotask turn). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(startMs = 1_800_000_000_000) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, delayMs: number): Timer {
    const p: Pending = { atMs: this.t + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.pending.push(p);
    return { cancel: () => void (p.cancelled = true) };
  }

  /** Timers armed and not yet fired or cancelled. */
  get timers(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      this.pending = this.pending.filter((p) => !p.cancelled);
      let next: Pending | undefined;
      for (const p of this.pending) if (p.atMs <= end && (next === undefined || p.atMs < next.atMs || (p.atMs === next.atMs && p.seq < next.seq))) next = p;
      if (next === undefined) break;
      next.cancelled = true;
      if (next.atMs > this.t) this.t = next.atMs;
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

// Time as the broker and the store see it. Everything that depends on time
// (deadlines, delays, expiry, the duplicate window, the timers that fire due
// work) reads this clock, so tests can drive time by hand (see
// test/helpers/manual-clock.ts) and observe due work deterministically.
// The composition root (src/node.ts) passes systemClock.

/** A pending timer; cancel() is idempotent. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Calls fn once, delayMs from now. The timer does not keep the process
   * alive on its own (the servers and streams do).
   */
  setTimer(fn: () => void, delayMs: number): Timer;
}

/** setTimeout's limit; a longer wait fires at the limit (callers re-arm). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: Date.now,
  setTimer(fn, delayMs) {
    const t = setTimeout(fn, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

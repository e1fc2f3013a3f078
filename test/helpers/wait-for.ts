// Waiting on the wire without timing: poll a condition until it holds, with a
// deadline generous enough for a loaded 2-core CI machine. A test asserts the
// outcome it waited for, never how soon it came.
import { inspect } from "node:util";

export interface WaitOptions {
  /** What is awaited, for the failure message: "the message to be dead-lettered". */
  what: string;
  /** Give up after this long; default 15 s (a mocha test has 60 s unless it says otherwise). */
  deadlineMs?: number;
  /** Pause between polls; default 20 ms. */
  intervalMs?: number;
}

/** The default deadline of waitFor; a test that waits for more than one thing sets its mocha timeout above the sum. */
export const WAIT_DEADLINE_MS = 15_000;

/**
 * Polls condition until it returns a truthy value and resolves with that
 * value. A condition that throws counts as "not yet" (a call that fails until
 * the node catches up); past the deadline, waitFor throws an error naming what
 * was awaited with the last value or error seen.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const deadlineMs = options.deadlineMs ?? WAIT_DEADLINE_MS;
  const intervalMs = options.intervalMs ?? 20;
  const giveUpAt = Date.now() + deadlineMs;
  let last: { value: unknown } | { error: unknown } | undefined;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      last = { value };
    } catch (error) {
      last = { error };
    }
    if (Date.now() >= giveUpAt) {
      const seen =
        last === undefined ? "" : "error" in last ? `; last error: ${last.error instanceof Error ? last.error.message : inspect(last.error)}` : `; last value: ${inspect(last.value, { depth: 4 })}`;
      throw new Error(`gave up after ${deadlineMs} ms waiting for ${options.what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves once the shared system clock (the node's and the test's) has reached atMs: for lower bounds that are inherent, never for outcomes. */
export async function clockPasses(atMs: number): Promise<void> {
  for (let left = atMs - Date.now(); left >= 0; left = atMs - Date.now()) await new Promise((r) => setTimeout(r, left + 1));
}

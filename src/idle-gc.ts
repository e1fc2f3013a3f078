// Hands back the heap a burst of requests grew, once the node is idle again.
// V8 lets garbage build up in the old generation until its next mark-compact
// and keeps the grown young generation; after a burst (a fuzz run of 150,000
// requests) the node sat at 60-90 MiB of heap over the ~22 MiB it had live,
// for minutes, since its own memory reducer waits for a quiet that the
// per-second history sampling never gives it. One full collection while the
// event loop is mostly idle returns those pages at little cost to any
// caller (tens of ms), only when the heap has grown well past its size after
// the previous one, and at most once per IDLE_GC_MIN_GAP_MS.
import { performance } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** How often the node looks. */
export const IDLE_GC_CHECK_MS = 5_000;
/**
 * The node counts as idle below this share of a core over the last check (its
 * CPU time, not the event loop's utilization: on a loaded machine an idle
 * node's loop measured 0.65 utilized, waiting for a core at each of its timer
 * wake-ups, while it used 0.03 of a core). Low enough that a steady light
 * flow (2,000 msg/s through the SDK takes a tenth of a core or more) never
 * pays for a full collection in its latency.
 */
export const IDLE_GC_MAX_UTILIZATION = 0.1;
/**
 * Least time between two collections, so a node that idles in bursts is not
 * paused every check. Short enough that a quiet spell near the end of a burst
 * (a fuzz's light last phase) does not hold off the collection after it.
 */
export const IDLE_GC_MIN_GAP_MS = 15_000;
/** Heap held from the OS beyond what was live after the last collection that makes one worth it. */
export const IDLE_GC_GROWTH_BYTES = 16 << 20;

export interface IdleGcProbe {
  /** Share of a core the process used since the previous call (0..1, or more with its threads). */
  utilization(): number;
  /** Bytes the heap holds from the OS (V8's total_heap_size). */
  heapBytes(): number;
  /** Bytes of objects in the heap, garbage included until collected (V8's used_heap_size). */
  usedBytes(): number;
  /** A full, blocking collection. */
  collect(): void;
}

export interface IdleGcState {
  /** What was live after the last collection (or at start). A collection while busy may not shrink the heap (the young generation stays grown), so the heap's size after one is no baseline. */
  baselineBytes: number;
  /** When the last collection ran (-Infinity: never). */
  collectedAtMs: number;
}

/** One check at nowMs: collects when the loop was idle, the heap grew past the threshold and the last collection is IDLE_GC_MIN_GAP_MS old. */
export function idleGcStep(probe: IdleGcProbe, state: IdleGcState, nowMs: number): void {
  const heap = probe.heapBytes();
  // Read every check, so the next one measures only its own interval.
  const utilization = probe.utilization();
  if (utilization >= IDLE_GC_MAX_UTILIZATION || heap - state.baselineBytes < IDLE_GC_GROWTH_BYTES || nowMs - state.collectedAtMs < IDLE_GC_MIN_GAP_MS) return;
  probe.collect();
  state.baselineBytes = probe.usedBytes();
  state.collectedAtMs = nowMs;
}

/** The process's own probe: V8's heap statistics, its CPU time, and gc() exposed at run time. */
export function processIdleGcProbe(): IdleGcProbe {
  // gc() is only reachable with --expose-gc; the node sets the flag itself so that any launcher (gnode, node dist/main.js) gets it.
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as (options: object) => void;
  let lastCpu = process.cpuUsage();
  let lastAt = performance.now();
  return {
    utilization() {
      const cpu = process.cpuUsage(lastCpu);
      const at = performance.now();
      const share = (cpu.user + cpu.system) / 1000 / Math.max(1, at - lastAt);
      lastCpu = process.cpuUsage();
      lastAt = at;
      return share;
    },
    heapBytes: () => getHeapStatistics().total_heap_size,
    usedBytes: () => getHeapStatistics().used_heap_size,
    // "last-resort" also hands the freed pages back to the OS (a plain gc() left the RSS where it was).
    collect: () => gc({ type: "major", execution: "sync", flavor: "last-resort" }),
  };
}

/** Checks every IDLE_GC_CHECK_MS until the returned function is called; the timer does not keep the process alive. */
export function startIdleGc(probe: IdleGcProbe = processIdleGcProbe()): () => void {
  const state: IdleGcState = { baselineBytes: probe.usedBytes(), collectedAtMs: -Infinity };
  const timer = setInterval(() => idleGcStep(probe, state, Date.now()), IDLE_GC_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

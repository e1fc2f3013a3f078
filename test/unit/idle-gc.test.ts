// The node's idle collection (src/idle-gc.ts) on a scripted probe: it
// collects only while the event loop is idle, the heap has grown past the
// threshold since the last collection and that one is IDLE_GC_MIN_GAP_MS old, so a heap
// of live data is not collected over and over and a busy node is never
// paused for it.
import { expect } from "chai";
import { IDLE_GC_GROWTH_BYTES, IDLE_GC_MAX_UTILIZATION, IDLE_GC_MIN_GAP_MS, idleGcStep, type IdleGcProbe, type IdleGcState } from "../../src/idle-gc.js";

const MiB = 1 << 20;

/** A probe whose heap and utilization the test sets; collect() shrinks the heap to `live`. */
function scripted(heap: number, utilization: number, live: number): IdleGcProbe & { collections: number; heap: number; busy: number; live: number } {
  const p = {
    collections: 0,
    heap,
    busy: utilization,
    live,
    utilization: () => p.busy,
    heapBytes: () => p.heap,
    usedBytes: () => p.live,
    collect: () => {
      p.collections++;
      p.heap = p.live;
    },
  };
  return p;
}

const fresh = (baselineBytes: number): IdleGcState => ({ baselineBytes, collectedAtMs: -Infinity });

describe("idle collection", () => {
  it("collects once the loop is idle and the heap grew past the threshold, and takes the heap after it as the new baseline", () => {
    const p = scripted(30 * MiB + IDLE_GC_GROWTH_BYTES, 0.01, 24 * MiB);
    const state = fresh(30 * MiB);
    idleGcStep(p, state, 1000);
    expect(p.collections).to.equal(1);
    expect(state).to.deep.equal({ baselineBytes: 24 * MiB, collectedAtMs: 1000 });
  });

  it("does not collect while the loop is busy, however large the heap", () => {
    const p = scripted(500 * MiB, IDLE_GC_MAX_UTILIZATION, 24 * MiB);
    idleGcStep(p, fresh(30 * MiB), 1000);
    expect(p.collections).to.equal(0);
  });

  it("does not collect a heap that grew less than the threshold, and collects a heap of live data only once", () => {
    const p = scripted(30 * MiB + IDLE_GC_GROWTH_BYTES - 1, 0, 30 * MiB);
    idleGcStep(p, fresh(30 * MiB), 1000);
    expect(p.collections).to.equal(0);
    // Live data grew: one collection keeps it all, and the baseline follows it.
    const grown = scripted(80 * MiB, 0, 80 * MiB);
    const state = fresh(30 * MiB);
    for (let i = 0; i < 5; i++) idleGcStep(grown, state, i * IDLE_GC_MIN_GAP_MS);
    expect(grown.collections).to.equal(1);
    expect(state.baselineBytes).to.equal(80 * MiB);
  });

  it("collects at most once per IDLE_GC_MIN_GAP_MS, however fast garbage builds up", () => {
    const p = scripted(80 * MiB, 0, 20 * MiB);
    const state = fresh(20 * MiB);
    for (let t = 0; t < 3 * IDLE_GC_MIN_GAP_MS; t += 5000) {
      p.heap = 80 * MiB;
      idleGcStep(p, state, t);
    }
    expect(p.collections).to.equal(3);
  });
});

// The file store's steering beyond the conformance suite: what the journal
// alone brings back (a second open of the data dir without close, as after
// kill -9: no checkpoint taken), lookups over many segments, and reclaimed
// messages told apart from unknown ones.
import { expect } from "chai";
import type { NewMessage } from "../../src/broker/storage.js";
import { openStorage } from "../../src/store/index.js";
import { tempDir } from "./helpers.js";

const BIG = 1 << 30;

describe("file store: steering single messages", () => {
  const now = Date.now();
  const m = (id: bigint, deliverAtMs = 0, bytes = 8): NewMessage => ({ id, routeKey: "q", body: Buffer.alloc(bytes, Number(id % 200n)), createdAtMs: now, deliverAtMs, retry: 0 });

  it("replays removals, moves and a purge from the journal alone, as after kill -9", async () => {
    const dir = tempDir("steer-crash");
    const s = openStorage({ dataDir: dir, segmentBytes: 64 << 10 });
    const q = s.openQueue("t", "q", "main");
    q.append([m(1n), m(2n), m(3n), m(4n, now + 3_600_000), m(5n, now + 3_600_000), m(6n), m(7n, now + 7_200_000)]);
    expect([q.remove(2n, now), q.remove(4n, now), q.reschedule(5n, now, now + 1500), q.reschedule(1n, now, now + 3_600_000)]).to.deep.equal(["done", "done", "done", "done"]);
    expect(q.reserve(1, BIG, now + 30_000).map((x) => x.id)).to.deep.equal([3n]);
    await s.commit();
    // A second open while the first still holds the files: only what was journaled counts.
    const s2 = openStorage({ dataDir: dir, segmentBytes: 64 << 10 });
    const q2 = s2.openQueue("t", "q", "main");
    expect(q2.stats()).to.include({ ready: 1, inFlight: 1, delayed: 3 });
    expect(q2.inspect(1n, now, false)).to.include({ state: "delayed", dueAtMs: now + 3_600_000 });
    expect(q2.inspect(5n, now, false)).to.include({ state: "delayed", dueAtMs: now + 1500 });
    expect(q2.inspect(4n, now, false)).to.equal("missing");
    expect(q2.reserve(10, BIG, now + 30_000).map((x) => x.id)).to.deep.equal([6n]);
    q2.processDue(now + 2000, 5);
    expect(q2.reserve(10, BIG, now + 30_000).map((x) => x.id)).to.deep.equal([5n]);
    expect(q2.purge("delayed")).to.equal(2);
    await s2.commit();
    const s3 = openStorage({ dataDir: dir, segmentBytes: 64 << 10 });
    const q3 = s3.openQueue("t", "q", "main");
    expect(q3.stats()).to.include({ ready: 0, delayed: 0 });
    q3.processDue(now + 10_000_000, 5);
    expect(q3.reserve(10, BIG, now + 10_000_030).map((x) => x.id)).to.have.members([3n, 6n, 5n]); // the in-flight ones, their TTR passed
    await s3.close();
    await s2.close();
    await s.close();
  });

  it("finds any message among many segments, and tells a reclaimed one from an unknown one", async () => {
    const dir = tempDir("steer-many");
    const s = openStorage({ dataDir: dir, segmentBytes: 64 << 10 });
    const q = s.openQueue("t", "q", "main");
    const N = 3000;
    const t0 = Date.now(); // the hint: when they were appended (the broker takes it from the id)
    for (let i = 1; i <= N; i += 100) q.append(Array.from({ length: 100 }, (_, k) => m(BigInt(i + k), 0, 200)));
    expect(q.stats().segments).to.be.greaterThan(5);
    for (const id of [1n, 2n, 777n, 1500n, 2999n, 3000n]) expect(q.inspect(id, t0, true)).to.deep.include({ id, state: "ready", bodyBytes: 200 });
    expect(q.inspect(3001n, t0, false)).to.equal("missing");
    for (const x of q.reserve(1000, BIG, now + 60_000)) q.ack(x.id);
    expect(q.stats().segmentsReclaimed).to.be.greaterThan(0);
    expect(q.inspect(5n, t0, false)).to.equal("reclaimed");
    expect(q.inspect(2500n, t0, false)).to.include({ state: "ready" });
    await s.close();
  });
});

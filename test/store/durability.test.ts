import * as fs from "node:fs";
import { expect } from "chai";
import type { Storage } from "../../src/broker/storage.js";
import { openStorage } from "../../src/store/index.js";
import { recordOffsets, segmentFiles } from "./files.js";
import { msgs, tempDir } from "./helpers.js";
import { waitFor } from "../helpers/wait-for.js";

const BIG = 1 << 30;

describe("store fsync policies and space reclamation", () => {
  let store: Storage | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it("always: concurrent commits share one flush and resolve after it", async () => {
    const dir = tempDir("always");
    store = openStorage({ dataDir: dir, segmentBytes: 64 << 10, fsync: "always" });
    const q = store.openQueue("t", "q", "main");
    q.append(msgs(10));
    const before = store.stats().fsyncs;
    await Promise.all(Array.from({ length: 20 }, () => store!.commit()));
    const flushed = store.stats().fsyncs - before;
    // one flush for the first caller, one shared by all who came while it ran
    expect(flushed).to.be.within(1, 2);
    expect(store.stats().fsyncMsTotal).to.be.greaterThan(0);
    await store.commit(); // nothing new: no sync needed
    expect(store.stats().fsyncs - before).to.equal(flushed);
  });

  it("interval: flushes in the background, commit resolves at once", async () => {
    const dir = tempDir("interval");
    store = openStorage({ dataDir: dir, segmentBytes: 64 << 10, fsync: "interval", fsyncIntervalMs: 20 });
    store.openQueue("t", "q", "main").append(msgs(10));
    await store.commit();
    expect(store.stats().fsyncs, "commit resolved before any flush").to.equal(0);
    await waitFor(() => store!.stats().fsyncs > 0, { what: "a background flush" });
  });

  it("never: commit does not sync", async () => {
    const dir = tempDir("never");
    store = openStorage({ dataDir: dir, segmentBytes: 64 << 10, fsync: "never" });
    store.openQueue("t", "q", "main").append(msgs(10));
    await store.commit();
    expect(store.stats().fsyncs).to.equal(0);
  });

  it("deletes message segments once every record in them is settled, and reports it", async () => {
    const dir = tempDir("reclaim");
    store = openStorage({ dataDir: dir, segmentBytes: 64 << 10, fsync: "never" });
    const q = store.openQueue("t", "q", "main");
    const list = msgs(3000, { body: Buffer.alloc(100) });
    for (let i = 0; i < list.length; i += 300) q.append(list.slice(i, i + 300));
    // files holding records (a next segment may be preallocated, empty, meanwhile)
    const written = (): number => segmentFiles(dir, "msg").filter((f) => fs.existsSync(f) && recordOffsets(f).length > 0).length;
    const files = written();
    expect(files).to.be.greaterThan(4);
    // one unacked message early on pins its segment; the others go
    const first = q.reserve(1, BIG, Date.now() + 60_000);
    for (;;) {
      const b = q.reserve(500, BIG, Date.now() + 60_000);
      if (b.length === 0) break;
      for (const m of b) q.ack(m.id);
    }
    await waitFor(() => written() === 2, { what: "the settled segments to be unlinked (in the background)" });
    expect(q.stats().segmentsReclaimed).to.equal(files - 2);
    expect(store.stats().segmentsReclaimed).to.equal(files - 2);
    expect(written()).to.equal(2); // the pinned one and the active one
    q.ack(first[0]!.id);
    await waitFor(() => written() === 1, { what: "the pinned segment to be unlinked" });
    expect(q.stats().segmentsReclaimed).to.equal(files - 1);
  });
});

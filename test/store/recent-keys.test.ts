// The file store reads idempotency keys back from the newest segments only:
// segments begun before the window are never read, however large the backlog.
import { expect } from "chai";
import type { Storage } from "../../src/broker/storage.js";
import { openStorage } from "../../src/store/index.js";
import { flipByte, recordOffsets, segmentFiles } from "./files.js";
import { type Warning, msg, recordingLogger, tempDir } from "./helpers.js";
import { clockPasses } from "../helpers/wait-for.js";

const SEGMENT = 64 << 10;

describe("store: idempotency keys after a restart", function () {
  this.timeout(20_000);
  let dir: string;
  let store: Storage;
  let warnings: Warning[];
  const open = (): Storage => {
    const logger = recordingLogger();
    warnings = logger.warnings;
    store = openStorage({ dataDir: dir, segmentBytes: SEGMENT, fsync: "never", logger });
    return store;
  };

  beforeEach(() => {
    dir = tempDir("keys");
    open();
  });
  afterEach(async () => {
    await store.close();
  });

  it("reads only the segments begun since the window opened, never the older backlog", async () => {
    const q = store.openQueue("t", "q", "main");
    // A backlog of several segments, all with keys, created before the window.
    const before = Date.now();
    for (let i = 0; i < 6; i++) q.append(Array.from({ length: 50 }, (_, j) => msg({ body: Buffer.alloc(1000, 1), createdAtMs: before, idempotencyKey: `old-${i}-${j}` })));
    // Segment starts are kept in whole seconds: the window opens in the next second.
    await clockPasses(Math.floor(Date.now() / 1000) * 1000 + 1000);
    const sinceMs = Date.now();
    const fresh = Array.from({ length: 120 }, (_, j) => msg({ body: Buffer.alloc(1000, 2), createdAtMs: sinceMs + 1, idempotencyKey: `new-${j}` }));
    q.append(fresh);
    await store.close();

    const files = segmentFiles(dir, "msg");
    expect(files.length).to.be.greaterThan(4);
    // Damage a record in each of the oldest segments: reading them would report it.
    for (const file of files.slice(0, 3)) {
      const recs = recordOffsets(file);
      flipByte(file, recs[1]!.off + recs[1]!.length - 1);
    }

    open();
    const keys: string[] = [];
    store.openQueue("t", "q", "main").recentKeys(sinceMs, (_id, key, createdAtMs) => {
      expect(createdAtMs).to.be.at.least(sinceMs);
      keys.push(key);
    });
    expect(keys).to.deep.equal(fresh.map((m) => m.idempotencyKey));
    expect(warnings.filter((w) => w.msg.includes("corrupt"))).to.deep.equal([]);

    // The same call over the whole log does read them (so the damage was there to see).
    store.openQueue("t", "q", "main").recentKeys(0, () => undefined);
    expect(warnings.filter((w) => w.msg.includes("corrupt record skipped"))).to.have.length(3);
  });
});

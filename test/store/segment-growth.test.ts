// How a new queue's message log grows: segments double from 1 MiB, and each
// file is zero-filled once. The segment prepared ahead (in a later turn)
// used to be allocated a second time, at twice its size and on the hot
// path, when the active segment filled.
import { basename } from "node:path";
import { expect } from "chai";
import type { Storage } from "../../src/broker/storage.js";
import { allocateZeroed, openStorage } from "../../src/store/index.js";
import { msg, recordingLogger, tempDir } from "./helpers.js";

const MiB = 1 << 20;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("store: a message log's segments as it grows", function () {
  let store: Storage;

  afterEach(async () => {
    await store.close();
  });

  it("doubles the segment size from 1 MiB, allocating each file once, the next one ahead of the roll", async () => {
    const dir = tempDir("growth");
    const allocations: { file: string; bytes: number }[] = [];
    store = openStorage({
      dataDir: dir,
      fsync: "never",
      allocate: (path, bytes) => {
        if (path.includes("/msg/")) allocations.push({ file: basename(path), bytes });
        allocateZeroed(path, bytes);
      },
      logger: recordingLogger(),
    });
    const q = store.openQueue("t", "q", "main");
    const body = Buffer.alloc(4096, 7);
    // 8 MiB of 4 KiB messages: the 1, 2 and 4 MiB segments fill; a turn between appends lets the next be prepared.
    for (let i = 0; i < 2048; i++) {
      q.append([msg({ body })]);
      if (i % 16 === 0) await nextTurn();
    }
    expect(q.stats().ready).to.equal(2048);
    // 1 + 2 + 4 MiB are full; the 8 MiB one, prepared while the 4 MiB one filled, holds the rest.
    expect(allocations).to.deep.equal([
      { file: "0000000001.seg", bytes: 1 * MiB },
      { file: "0000000002.seg", bytes: 2 * MiB },
      { file: "0000000003.seg", bytes: 4 * MiB },
      { file: "0000000004.seg", bytes: 8 * MiB },
    ]);
  });
});

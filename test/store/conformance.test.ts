import { openMemoryStorage } from "../../src/store/memory-storage.js";
import { openStorage } from "../../src/store/index.js";
import { describeStorageConformance } from "./conformance.js";

describeStorageConformance("mmap store, 64 KiB segments, fsync interval", (dataDir) =>
  openStorage({ dataDir, segmentBytes: 64 << 10, maxBodyBytes: 1 << 20, fsyncIntervalMs: 50 }),
);
describeStorageConformance("mmap store, 2 MiB segments, fsync always", (dataDir) =>
  openStorage({ dataDir, segmentBytes: 2 << 20, fsync: "always" }),
);
// The data dir only names the in-memory contents, so a reopen finds them.
describeStorageConformance("in-memory store on QueueState", (dataDir) => openMemoryStorage({ name: dataDir }));

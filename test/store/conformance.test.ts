import { openStorage } from "../../src/store/index.js";
import { describeStorageConformance } from "./conformance.js";

describeStorageConformance("mmap store, 64 KiB segments, fsync interval", (dataDir) =>
  openStorage({ dataDir, segmentBytes: 64 << 10, maxBodyBytes: 1 << 20, fsyncIntervalMs: 50 }),
);
describeStorageConformance("mmap store, 2 MiB segments, fsync always", (dataDir) =>
  openStorage({ dataDir, segmentBytes: 2 << 20, fsync: "always" }),
);

// What a queue that holds little keeps resident: its segment files are
// mapped, and the page cache maps in a whole folio at a first touch, so how
// a segment is zero-filled decides how much of it a queue holding one message
// keeps in the node's RSS (2 MiB each when filled by one large write, 68 KiB
// when filled 64 KiB at a time, about 6 KiB when its first 64 KiB are filled a
// page at a time).
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { traceSubject, TraceKind } from "../../src/broker/trace.js";
import { openStorage } from "../../src/store/index.js";
import { msg, tempDir } from "./helpers.js";

/** File-backed resident memory of this process, in bytes. */
const rssFile = () => Number(/RssFile:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;

describe("resident memory of small queues (file store)", () => {
  it("keeps under 32 KiB resident per queue holding one message", async () => {
    const store = openStorage({ dataDir: tempDir("resident"), fsync: "never" });
    const queues = 50;
    const before = rssFile();
    for (let i = 0; i < queues; i++) store.openQueue(`t${i}`, "q", "main").append([msg()]);
    const grown = rssFile() - before;
    await store.close();
    expect(grown / queues, `bytes resident per queue (${grown} for ${queues})`).to.be.below(32 * 1024);
  });

  // A traced topic's trace segments are mapped too (its first one 64 KiB, zero-filled as a small message segment is).
  it("keeps under 128 KiB resident per traced topic holding one event", async () => {
    const store = openStorage({ dataDir: tempDir("resident"), fsync: "never" });
    const topics = 50;
    const about = traceSubject({ nodeId: 1, routeKey: "q", queues: ["q"] });
    const before = rssFile();
    for (let i = 0; i < topics; i++) store.openTrace(`t${i}`, { maxAgeMs: 0, maxBytes: 1 << 30 }).append(TraceKind.Pushed, 1_800_000_000_000, 1n, about, 0, 0);
    await Promise.resolve(); // the events are copied into their mappings at the end of the microtask
    const grown = rssFile() - before;
    for (let i = 0; i < topics; i++) expect(store.openTrace(`t${i}`, { maxAgeMs: 0, maxBytes: 1 << 30 }).read(1n, 0, 10)).to.have.length(1);
    await store.close();
    expect(grown / topics, `bytes resident per traced topic (${grown} for ${topics})`).to.be.below(128 * 1024);
  });
});

import { expect } from "chai";
import * as fs from "node:fs";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { traceEvent, TraceKind, traceSubject, type TraceEvent } from "../../src/broker/trace.js";
import { allocateZeroed, type StoreContext } from "../../src/store/context.js";
import { FileTraceLog } from "../../src/store/trace-log.js";
import { recordingLogger, tempDir } from "./helpers.js";

const T0 = 1_800_000_000_000;

/** Time set by hand; the trace log arms no timers. */
class ManualClock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  setTimer(): { cancel(): void } {
    throw new Error("the trace log arms no timers");
  }
}
const NO_RETENTION_BY_AGE = { maxAgeMs: 0, maxBytes: 1 << 30 };

function context(clock: ManualClock, logger = recordingLogger()): StoreContext {
  const counters = { recoveredTruncations: 0, quarantinedSegments: 0, corruptRecordsSkipped: 0, fsyncs: 0, fsyncMsTotal: 0, segmentsReclaimed: 0, messagesLost: 0, dataDirEntriesSkipped: 0 };
  return { clock, logger, counters, allocate: allocateZeroed } as unknown as StoreContext;
}

function open(dir: string, clock: ManualClock, retention = NO_RETENTION_BY_AGE, logger = recordingLogger()): FileTraceLog {
  return new FileTraceLog({ dir, segmentBytes: 4 << 20, retention, ctx: context(clock, logger) });
}

/** The life of message `id` in queue q: pushed, delivered, acked. */
function life(id: bigint, atMs: number): TraceEvent[] {
  return [
    traceEvent(TraceKind.Pushed, atMs, id, { nodeId: 3, routeKey: "rk", queues: ["q", "r"] }),
    traceEvent(TraceKind.Delivered, atMs + 1, id, { bindKey: "q", untilMs: atMs + 30_001, consumer: "stream", peer: "127.0.0.1:5000", tokenName: "worker" }),
    traceEvent(TraceKind.Acked, atMs + 2, id, { bindKey: "q" }),
  ];
}

/** A segment header of format 1 (written by earlier versions), built by hand as docs/storage.md describes it. */
function formatOneHeader(index: number): Buffer {
  const h = Buffer.alloc(16);
  h.write("GMQTRC01", 0, "ascii");
  h.writeUInt32LE(index, 8);
  h.writeUInt32LE(crc32c(h.subarray(0, 12)), 12);
  return h;
}

/** A format-1 record: one event, every string written. */
function formatOneRecord(e: TraceEvent): Buffer {
  const strings = [e.bindKey, e.routeKey, e.peer, e.tokenName, ...e.queues].map((x) => Buffer.from(x, "utf8"));
  const p = Buffer.alloc(38 + strings.reduce((n, b) => n + 2 + b.length, 0));
  p.writeUInt8(e.kind, 0);
  p.writeUInt8(e.duplicate ? 1 : 0, 1);
  p.writeUInt8({ "": 0, pop: 1, stream: 2 }[e.consumer], 2);
  p.writeUInt32LE(e.retry, 4);
  p.writeDoubleLE(e.atMs, 8);
  p.writeBigUInt64LE(e.id, 16);
  p.writeDoubleLE(e.untilMs, 24);
  p.writeUInt32LE(e.nodeId, 32);
  p.writeUInt16LE(strings.length, 36);
  let o = 38;
  for (const b of strings) {
    p.writeUInt16LE(b.length, o);
    b.copy(p, o + 2);
    o += 2 + b.length;
  }
  const frame = Buffer.alloc(8);
  frame.writeUInt32LE(p.length, 0);
  frame.writeUInt32LE(crc32c(p), 4);
  return Buffer.concat([frame, p]);
}

/** Appends an event as its own subject: a record of its own unless the same object comes again. */
function put(log: FileTraceLog, e: TraceEvent): void {
  log.append(e.kind, e.atMs, e.id, e, e.retry, e.untilMs);
}

const segmentFiles = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith(".trc")).sort();

/** Bytes of the segment files up to their last non-zero byte (segments are zero-filled ahead of their records). */
function writtenBytes(dir: string): number {
  let n = 0;
  for (const f of segmentFiles(dir)) {
    const b = fs.readFileSync(join(dir, f));
    let end = b.length;
    while (end > 0 && b[end - 1] === 0) end--;
    n += end;
  }
  return n;
}

describe("trace log (file)", () => {
  it("gives back one message's events in order, interleaved with others, before and after a reopen", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    for (let i = 0; i < 3; i++) for (let id = 1n; id <= 50n; id++) put(log, life(id, T0 + Number(id))[i]!);
    const want = life(7n, T0 + 7);
    expect(log.read(7n, 0, 100)).to.deep.equal(want);
    expect(log.read(7n, 0, 2)).to.deep.equal(want.slice(0, 2));
    expect(log.read(999n, 0, 100)).to.deep.equal([]);
    log.close();
    const again = open(dir, clock);
    expect(again.read(7n, 0, 100)).to.deep.equal(want);
    put(again, traceEvent(TraceKind.Touched, T0 + 500, 7n, { bindKey: "q", untilMs: T0 + 9000 }));
    expect(again.read(7n, 0, 100).map((e) => e.kind)).to.deep.equal([TraceKind.Pushed, TraceKind.Delivered, TraceKind.Acked, TraceKind.Touched]);
    again.close();
  });

  it("finds a message's events across sealed segments through their index, skipping segments older than its push", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const small = new FileTraceLog({ dir: join(dir, "small"), segmentBytes: 16 * 1024, retention: NO_RETENTION_BY_AGE, ctx: context(clock) });
    for (let id = 1n; id <= 2000n; id++) {
      put(small, life(id, T0 + Number(id))[0]!);
      if (id % 100n === 0n) small.flush(); // as the microtask flush does between calls
    }
    put(small, life(5n, T0 + 3000)[2]!);
    small.flush();
    expect(small.stats().segments).to.be.greaterThan(3);
    expect(small.read(5n, 0, 10).map((e) => e.kind)).to.deep.equal([TraceKind.Pushed, TraceKind.Acked]);
    // A lower bound past the segments that hold the push leaves only the ack.
    expect(small.read(5n, T0 + 2500, 10).map((e) => e.kind)).to.deep.equal([TraceKind.Acked]);
    small.close();
  });

  it("stores a run of events of one subject as one record, each event found by its id before and after a reopen", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    const delivered = traceSubject({ bindKey: "q", consumer: "stream", peer: "127.0.0.1:5000", tokenName: "worker" });
    const acked = traceSubject({ bindKey: "q" });
    for (let id = 1n; id <= 300n; id++) log.append(TraceKind.Delivered, T0, id, delivered, 0, T0 + 30_000);
    log.append(TraceKind.Delivered, T0, 7n, delivered, 0, T0 + 30_000); // the same message twice in one run
    log.append(TraceKind.Delivered, T0, 8n, delivered, 2, T0 + 30_000); // another retry count: a record of its own
    for (let id = 1n; id <= 300n; id++) log.append(TraceKind.Acked, T0 + 1, id, acked, 0, 0);
    log.flush();
    const deliveredEvent = (id: bigint, retry = 0) => traceEvent(TraceKind.Delivered, T0, id, { ...delivered, retry, untilMs: T0 + 30_000 });
    const want7 = [deliveredEvent(7n), deliveredEvent(7n), traceEvent(TraceKind.Acked, T0 + 1, 7n, { bindKey: "q" })];
    const want8 = [deliveredEvent(8n), deliveredEvent(8n, 2), traceEvent(TraceKind.Acked, T0 + 1, 8n, { bindKey: "q" })];
    expect(log.read(7n, 0, 100)).to.deep.equal(want7);
    expect(log.read(7n, 0, 1)).to.deep.equal(want7.slice(0, 1));
    expect(log.read(8n, 0, 100)).to.deep.equal(want8);
    // Three records: about 8 bytes per event rather than one record each.
    expect(log.stats().bytesOnDisk).to.be.below(16 + 3 * 120 + 8 * 601);
    log.close();
    const again = open(dir, clock);
    expect(again.read(7n, 0, 100)).to.deep.equal(want7);
    expect(again.read(8n, 0, 100)).to.deep.equal(want8);
    expect(again.read(300n, 0, 100).map((e) => e.kind)).to.deep.equal([TraceKind.Delivered, TraceKind.Acked]);
    again.close();
  });

  it("writes a long burst before its microtask ends, and its events read back whole", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    const acked = traceSubject({ bindKey: "q" });
    // 20,000 events in one turn: runs end at 32 KiB, and the buffer is written once past 64 KiB.
    for (let id = 1n; id <= 20_000n; id++) log.append(TraceKind.Acked, T0, id, acked, 0, 0);
    expect(writtenBytes(dir)).to.be.greaterThan(64 * 1024);
    for (const id of [1n, 4096n, 12_345n, 20_000n]) expect(log.read(id, 0, 10)).to.deep.equal([traceEvent(TraceKind.Acked, T0, id, { bindKey: "q" })]);
    log.close();
    expect(open(dir, clock).read(12_345n, 0, 10)).to.have.length(1);
  });

  it("reads segments of format 1 (a record per event) and writes on in a new segment", () => {
    const dir = tempDir("trace");
    fs.mkdirSync(dir, { recursive: true });
    const [pushed, delivered] = life(1n, T0);
    fs.writeFileSync(join(dir, "0000000001.trc"), Buffer.concat([formatOneHeader(1), formatOneRecord(pushed!), formatOneRecord(delivered!)]));
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    expect(log.read(1n, 0, 10)).to.deep.equal([pushed, delivered]);
    log.append(TraceKind.Acked, T0 + 2, 1n, traceSubject({ bindKey: "q" }), 0, 0);
    log.close();
    expect(segmentFiles(dir)).to.deep.equal(["0000000001.trc", "0000000002.trc"]);
    const again = open(dir, clock);
    expect(again.read(1n, 0, 10)).to.deep.equal(life(1n, T0));
    expect(again.stats().corruptRecordsSkipped + again.stats().tornTailsTruncated).to.equal(0);
    again.close();
  });

  it("tolerates a torn tail: the partial record is cut off and reported, the rest is read", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    for (const e of life(1n, T0)) put(log, e);
    log.close();
    const [file] = segmentFiles(dir);
    const path = join(dir, file!);
    const size = fs.statSync(path).size;
    fs.truncateSync(path, size - 5); // the ack's record is torn
    const logger = recordingLogger();
    const again = open(dir, clock, NO_RETENTION_BY_AGE, logger);
    expect(again.read(1n, 0, 10)).to.deep.equal(life(1n, T0).slice(0, 2));
    expect(again.stats().tornTailsTruncated).to.equal(1);
    expect(logger.warnings.map((w) => w.msg)).to.include("trace segment has a torn or damaged tail; cut off");
    // Writing goes on after the cut.
    put(again, traceEvent(TraceKind.Acked, T0 + 9, 1n, { bindKey: "q" }));
    again.close();
    expect(open(dir, clock).read(1n, 0, 10).map((e) => e.kind)).to.deep.equal([TraceKind.Pushed, TraceKind.Delivered, TraceKind.Acked]);
  });

  it("skips a record whose checksum does not match, reports it, and reads the records after it", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    for (const e of life(1n, T0)) put(log, e);
    log.close();
    const path = join(dir, segmentFiles(dir)[0]!);
    const bytes = fs.readFileSync(path);
    // The first record starts after the 16-byte header; flip a byte of its payload.
    bytes.writeUInt8(bytes.readUInt8(16 + 8 + 20) ^ 0xff, 16 + 8 + 20);
    fs.writeFileSync(path, bytes);
    const logger = recordingLogger();
    const again = open(dir, clock, NO_RETENTION_BY_AGE, logger);
    expect(again.read(1n, 0, 10)).to.deep.equal(life(1n, T0).slice(1));
    expect(again.stats().corruptRecordsSkipped).to.equal(1);
    expect(again.stats().tornTailsTruncated).to.equal(0);
    expect(logger.warnings.map((w) => w.msg)).to.include("damaged trace record skipped");
    again.close();
  });

  it("renames aside a segment whose header is damaged", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    for (const e of life(1n, T0)) put(log, e);
    log.close();
    const path = join(dir, segmentFiles(dir)[0]!);
    const bytes = fs.readFileSync(path);
    bytes.writeUInt8(bytes.readUInt8(9) ^ 0xff, 9);
    fs.writeFileSync(path, bytes);
    const again = open(dir, clock);
    expect(again.read(1n, 0, 10)).to.deep.equal([]);
    expect(fs.existsSync(`${path}.bad`)).to.equal(true);
    again.close();
  });

  it("reclaims whole old segments by size, keeping the newest events", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock, { maxAgeMs: 0, maxBytes: 128 * 1024 });
    for (let id = 1n; id <= 6000n; id++) {
      put(log, life(id, T0)[0]!);
      if (id % 500n === 0n) log.flush();
    }
    log.flush();
    clock.set(T0 + 2000);
    put(log, life(6001n, T0 + 2000)[0]!);
    log.flush();
    const s = log.stats();
    expect(s.segmentsReclaimed).to.be.greaterThan(0);
    expect(s.bytesOnDisk).to.be.at.most(128 * 1024 + 16 * 1024);
    expect(log.read(1n, 0, 10)).to.deep.equal([]);
    expect(log.read(6000n, 0, 10)).to.have.length(1);
    log.close();
  });

  it("reclaims segments whose newest event is older than the age retention", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock, { maxAgeMs: 60_000, maxBytes: 0 });
    for (const e of life(1n, T0)) put(log, e);
    log.flush();
    clock.set(T0 + 61_000);
    put(log, life(2n, T0 + 61_000)[0]!);
    log.flush();
    expect(log.read(1n, 0, 10)).to.deep.equal([]);
    expect(log.read(2n, 0, 10)).to.have.length(1);
    expect(log.stats().segmentsReclaimed).to.equal(1);
    log.close();
  });
});

describe("trace log (file): zero-filled, mapped segments", () => {
  const pushed = (id: bigint, atMs = T0 + Number(id)) => traceEvent(TraceKind.Pushed, atMs, id, { nodeId: 3, routeKey: "rk", queues: ["q"] });

  it("goes on in the same segment after a crash: the zeros after the last record are its end, nothing is reported damaged", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    for (const e of life(1n, T0)) put(log, e);
    log.flush();
    // No close, as after kill -9: the segment keeps its zeros after the records.
    expect(fs.statSync(join(dir, "0000000001.trc")).size).to.equal(64 * 1024);
    const logger = recordingLogger();
    const again = open(dir, clock, NO_RETENTION_BY_AGE, logger);
    expect(again.read(1n, 0, 10)).to.deep.equal(life(1n, T0));
    expect(again.stats()).to.include({ segments: 1, tornTailsTruncated: 0, corruptRecordsSkipped: 0 });
    expect(logger.warnings).to.deep.equal([]);
    put(again, traceEvent(TraceKind.Touched, T0 + 9, 1n, { bindKey: "q", untilMs: T0 + 9000 }));
    again.flush();
    expect(segmentFiles(dir)).to.deep.equal(["0000000001.trc"]);
    const third = open(dir, clock);
    expect(third.read(1n, 0, 10)).to.deep.equal([...life(1n, T0), traceEvent(TraceKind.Touched, T0 + 9, 1n, { bindKey: "q", untilMs: T0 + 9000 })]);
    third.close();
  });

  it("deletes a segment file that is all zeros (allocated, the crash came before its header), reporting nothing", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    for (const e of life(1n, T0)) put(log, e);
    log.close();
    fs.writeFileSync(join(dir, "0000000002.trc"), Buffer.alloc(64 * 1024));
    const logger = recordingLogger();
    const again = open(dir, clock, NO_RETENTION_BY_AGE, logger);
    expect(again.read(1n, 0, 10)).to.deep.equal(life(1n, T0));
    expect(again.stats()).to.include({ segments: 1, tornTailsTruncated: 0, corruptRecordsSkipped: 0 });
    expect(logger.warnings).to.deep.equal([]);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(["0000000001.trc"]);
    put(again, traceEvent(TraceKind.Touched, T0 + 9, 1n, { bindKey: "q", untilMs: T0 + 9000 }));
    again.close();
    expect(segmentFiles(dir)).to.deep.equal(["0000000001.trc", "0000000003.trc"]);
  });

  it("cuts off a record torn inside a zero-filled segment, reports it, and writes on in a new segment", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    for (const e of life(1n, T0)) put(log, e);
    log.flush();
    const path = join(dir, "0000000001.trc");
    const bytes = fs.readFileSync(path);
    let last = bytes.length - 1;
    while (bytes[last] === 0) last--;
    // The copy of the ack's record was cut short: its last bytes are still the segment's zeros.
    bytes.fill(0, last - 11, last + 1);
    fs.writeFileSync(path, bytes);
    const logger = recordingLogger();
    const again = open(dir, clock, NO_RETENTION_BY_AGE, logger);
    expect(again.read(1n, 0, 10)).to.deep.equal(life(1n, T0).slice(0, 2));
    expect(again.stats()).to.include({ tornTailsTruncated: 1, corruptRecordsSkipped: 0 });
    expect(logger.warnings.map((w) => w.msg)).to.deep.equal(["trace segment has a torn or damaged tail; cut off"]);
    expect(fs.statSync(path).size).to.be.below(last - 11);
    put(again, traceEvent(TraceKind.Acked, T0 + 9, 1n, { bindKey: "q" }));
    again.close();
    expect(segmentFiles(dir)).to.deep.equal(["0000000001.trc", "0000000002.trc"]);
    expect(open(dir, clock).read(1n, 0, 10).map((e) => e.kind)).to.deep.equal([TraceKind.Pushed, TraceKind.Delivered, TraceKind.Acked]);
  });

  it("rolls segments (64 KiB, then doubling) while single events come, each copied at once as a push's is, and reads every one back after a crash and after a clean reopen", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock);
    const n = 4000;
    for (let id = 1n; id <= BigInt(n); id++) {
      put(log, pushed(id));
      log.flush();
    }
    const files = segmentFiles(dir);
    expect(files).to.deep.equal(["0000000001.trc", "0000000002.trc", "0000000003.trc"]);
    // Sealed segments are cut to their records; the one written keeps its zeros.
    const sizes = files.map((f) => fs.statSync(join(dir, f)).size);
    // The records are the same for every run (manual clock, fixed events): the sealed sizes are exact.
    expect(sizes).to.deep.equal([65_032, 130_624, 256 * 1024]);
    const all = (l: FileTraceLog, step: number) => {
      for (let id = 1; id <= n; id += step) expect(l.read(BigInt(id), 0, 10)).to.deep.equal([pushed(BigInt(id))]);
      expect(l.read(BigInt(n), 0, 10)).to.deep.equal([pushed(BigInt(n))]);
    };
    all(log, 13);
    const afterCrash = open(dir, clock);
    all(afterCrash, 1);
    expect(afterCrash.stats()).to.include({ segments: 3, tornTailsTruncated: 0, corruptRecordsSkipped: 0, eventsLost: 0 });
    afterCrash.close();
    const afterClose = open(dir, clock);
    all(afterClose, 13);
    expect(afterClose.stats()).to.include({ segments: 3, tornTailsTruncated: 0, corruptRecordsSkipped: 0 });
    afterClose.close();
  });

  it("keeps the segments of an idle trace small: one sealed by age with a few events is followed by a 64 KiB one", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    const log = open(dir, clock, { maxAgeMs: 80_000, maxBytes: 0 });
    for (let i = 0; i < 6; i++) {
      clock.set(T0 + i * 11_000); // past an eighth of the age bound: each event starts a segment
      put(log, pushed(BigInt(i + 1), T0 + i * 11_000));
      log.flush();
    }
    const files = segmentFiles(dir);
    expect(files).to.have.length(6);
    expect(fs.statSync(join(dir, files[5]!)).size).to.equal(64 * 1024);
    for (const f of files.slice(0, 5)) expect(fs.statSync(join(dir, f)).size).to.equal(16 + 72);
    log.close();
  });

  it("reads a trace directory written in format 2 by commit f89c96e (test/fixtures/trace-v2), and writes on after it in a format-3 segment", () => {
    const fixture = join(import.meta.dirname, "../fixtures/trace-v2");
    const dir = tempDir("trace");
    fs.cpSync(fixture, dir, { recursive: true });
    const clock = new ManualClock(T0 + 1000);
    const delivered = (id: bigint) => traceEvent(TraceKind.Delivered, T0 + 500, id, { bindKey: "q", consumer: "stream", peer: "127.0.0.1:5000", tokenName: "worker", untilMs: T0 + 30_500 });
    const acked = (id: bigint) => traceEvent(TraceKind.Acked, T0 + 600 + Number(id), id, { bindKey: "q" });
    const logger = recordingLogger();
    const log = open(dir, clock, NO_RETENTION_BY_AGE, logger);
    expect(log.stats()).to.include({ segments: 2, tornTailsTruncated: 0, corruptRecordsSkipped: 0 });
    expect(log.read(3n, 0, 10)).to.deep.equal([pushed(3n), delivered(3n), acked(3n)]);
    expect(log.read(290n, 0, 10)).to.deep.equal([pushed(290n), delivered(290n)]);
    put(log, traceEvent(TraceKind.Touched, T0 + 2000, 3n, { bindKey: "q", untilMs: T0 + 9000 }));
    log.close();
    expect(logger.warnings).to.deep.equal([]);
    expect(segmentFiles(dir)).to.deep.equal(["0000000001.trc", "0000000002.trc", "0000000003.trc"]);
    for (const f of ["0000000001.trc", "0000000002.trc"]) expect(fs.readFileSync(join(dir, f)).equals(fs.readFileSync(join(fixture, f)))).to.equal(true);
    expect(fs.readFileSync(join(dir, "0000000003.trc")).subarray(0, 8).toString("ascii")).to.equal("GMQTRC03");
    const again = open(dir, clock);
    expect(again.read(3n, 0, 10)).to.deep.equal([pushed(3n), delivered(3n), acked(3n), traceEvent(TraceKind.Touched, T0 + 2000, 3n, { bindKey: "q", untilMs: T0 + 9000 })]);
    again.close();
  });

  it("counts the events lost while a segment cannot be allocated (disk full), leaves no file behind, and writes again once it can", () => {
    const dir = tempDir("trace");
    const clock = new ManualClock(T0);
    let full = true;
    const logger = recordingLogger();
    const ctx = context(clock, logger);
    ctx.allocate = (path, bytes) => {
      if (!full) return allocateZeroed(path, bytes);
      // Part of the file is written before the disk runs out.
      fs.writeFileSync(path, Buffer.alloc(4096));
      throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
    };
    const log = new FileTraceLog({ dir, segmentBytes: 4 << 20, retention: NO_RETENTION_BY_AGE, ctx });
    for (const e of life(1n, T0)) put(log, e);
    log.flush();
    expect(log.stats()).to.include({ eventsLost: 3, segments: 0 });
    expect(segmentFiles(dir)).to.deep.equal([]);
    expect(logger.warnings).to.have.length(1);
    expect(logger.warnings[0]!.msg).to.equal("cannot write trace events; they are lost (counted in eventsLost)");
    expect(String((logger.warnings[0]!.obj as { err: string }).err)).to.contain("disk full while allocating trace segment");
    full = false;
    for (const e of life(2n, T0 + 5)) put(log, e);
    log.flush();
    expect(log.read(1n, 0, 10)).to.deep.equal([]);
    expect(log.read(2n, 0, 10)).to.deep.equal(life(2n, T0 + 5));
    log.close();
    expect(open(dir, clock).read(2n, 0, 10)).to.deep.equal(life(2n, T0 + 5));
  });
});

import * as fs from "node:fs";
import { expect } from "chai";
import type { QueueLog, Storage } from "../../src/broker/storage.js";
import { openStorage } from "../../src/store/index.js";
import { allFiles, flipByte, patch, recordOffsets, segmentFiles } from "./files.js";
import { type Warning, ids, msg, msgs, recordingLogger, tempDir } from "./helpers.js";

const BIG = 1 << 30;
const SEGMENT = 64 << 10;

describe("store recovery from damaged files", function () {
  let dir: string;
  let store: Storage;
  let warnings: Warning[];

  const open = (): Storage => {
    const logger = recordingLogger();
    warnings = logger.warnings;
    store = openStorage({ dataDir: dir, segmentBytes: SEGMENT, fsync: "never", logger });
    return store;
  };
  const queue = (): QueueLog => store.openQueue("t", "q", "main");
  const drain = (q: QueueLog): bigint[] => {
    const out: bigint[] = [];
    for (;;) {
      const b = q.reserve(500, BIG, Date.now() + 60_000);
      if (b.length === 0) return out;
      for (const m of b) {
        expect(m.body.toString()).to.equal(`body-${m.id}`);
        out.push(m.id);
      }
    }
  };

  beforeEach(() => {
    dir = tempDir("corrupt");
    open();
  });
  afterEach(async () => {
    await store.close();
  });

  /** Appends n messages and closes; returns their ids. */
  async function fill(n: number): Promise<bigint[]> {
    const list = msgs(n);
    for (let i = 0; i < n; i += 100) queue().append(list.slice(i, i + 100));
    await store.close();
    return ids(list);
  }

  it("truncates a record torn in the middle and reports file and offset", async () => {
    const all = await fill(10);
    const [seg] = segmentFiles(dir, "msg");
    const recs = recordOffsets(seg!);
    fs.truncateSync(seg!, recs[9]!.off + 20);
    open();
    expect(store.stats().recoveredTruncations).to.equal(1);
    expect(warnings.some((w) => w.obj.file === seg && w.obj.offset === recs[9]!.off)).to.equal(true);
    const q = queue();
    q.append([msg({ id: 5_000_001n })]);
    expect(drain(q)).to.deep.equal([...all.slice(0, 9), 5_000_001n]);
    await store.close();
    open();
    expect(store.stats().recoveredTruncations).to.equal(0);
  });

  it("steps over a record whose body was garbled in the segment being written", async () => {
    const all = await fill(10);
    const [seg] = segmentFiles(dir, "msg");
    const recs = recordOffsets(seg!);
    flipByte(seg!, recs[4]!.off + recs[4]!.length - 2);
    open();
    expect(store.stats().recoveredTruncations).to.equal(1);
    expect(warnings.some((w) => w.obj.file === seg && w.obj.offset === recs[4]!.off)).to.equal(true);
    expect(drain(queue())).to.deep.equal([...all.slice(0, 4), ...all.slice(5)]);
  });

  it("skips a garbled record in a sealed segment when it is read, and reports it", async () => {
    const all = await fill(3000);
    const segs = segmentFiles(dir, "msg");
    expect(segs.length).to.be.greaterThan(2);
    const recs = recordOffsets(segs[0]!);
    flipByte(segs[0]!, recs[10]!.off + recs[10]!.length - 1);
    open();
    const got = drain(queue());
    expect(got).to.deep.equal([...all.slice(0, 10), ...all.slice(11)]);
    expect(warnings.some((w) => w.obj.file === segs[0] && w.obj.offset === recs[10]!.off)).to.equal(true);
  });

  it("recovers the records after a zeroed record header", async () => {
    const all = await fill(10);
    const [seg] = segmentFiles(dir, "msg");
    const recs = recordOffsets(seg!);
    patch(seg!, recs[2]!.off, Buffer.alloc(48));
    open();
    expect(store.stats().recoveredTruncations).to.equal(1);
    expect(drain(queue())).to.deep.equal([...all.slice(0, 2), ...all.slice(3)]);
  });

  it("quarantines a segment whose header is unreadable and keeps the others", async () => {
    const all = await fill(3000);
    const segs = segmentFiles(dir, "msg");
    const lost = recordOffsets(segs[1]!).length;
    const before = recordOffsets(segs[0]!).length;
    patch(segs[1]!, 0, Buffer.alloc(64));
    open();
    expect(store.stats().quarantinedSegments).to.equal(1);
    expect(fs.existsSync(`${segs[1]}.bad`)).to.equal(true);
    expect(warnings.some((w) => w.obj.file === segs[1])).to.equal(true);
    const got = drain(queue());
    expect(got).to.deep.equal([...all.slice(0, before), ...all.slice(before + lost)]);
  });

  it("cuts garbage written after the tail, and appends land cleanly after it", async () => {
    const all = await fill(10);
    const [seg] = segmentFiles(dir, "msg");
    const recs = recordOffsets(seg!);
    const tail = recs[9]!.off + ((recs[9]!.length + 7) & ~7);
    patch(seg!, tail, Buffer.from("this is not a record, just garbage bytes ".repeat(10)));
    open();
    expect(store.stats().recoveredTruncations).to.equal(1);
    queue().append([msg({ id: 6_000_001n })]);
    await store.close();
    open();
    expect(store.stats().recoveredTruncations).to.equal(0);
    expect(drain(queue())).to.deep.equal([...all, 6_000_001n]);
  });

  it("opens with a segment missing and delivers what the others hold", async () => {
    const all = await fill(3000);
    const segs = segmentFiles(dir, "msg");
    const first = recordOffsets(segs[0]!).length;
    const lost = recordOffsets(segs[1]!).length;
    fs.rmSync(segs[1]!);
    open();
    expect(drain(queue())).to.deep.equal([...all.slice(0, first), ...all.slice(first + lost)]);
  });

  it("opens with the last segment missing and keeps appending", async () => {
    const all = await fill(3000);
    const segs = segmentFiles(dir, "msg");
    const lastCount = recordOffsets(segs[segs.length - 1]!).length;
    fs.rmSync(segs[segs.length - 1]!);
    open();
    const q = queue();
    q.append([msg({ id: 7_000_001n })]);
    expect(drain(q)).to.deep.equal([...all.slice(0, all.length - lastCount), 7_000_001n]);
  });

  it("keeps consumption state up to the last intact journal record when the journal tail is torn", async () => {
    let q = queue();
    const list = msgs(10);
    q.append(list);
    const got = q.reserve(10, BIG, Date.now() + 60_000);
    for (const m of got.slice(0, 4)) q.ack(m.id);
    await store.commit();
    q.ack(got[4]!.id);
    await store.commit();
    // no close: as if killed (the data is in the page cache, no checkpoint written)
    const journal = segmentFiles(dir, "journal");
    const last = journal[journal.length - 1]!;
    const recs = recordOffsets(last);
    fs.truncateSync(last, recs[recs.length - 1]!.off + 10); // the last ack batch is torn
    open();
    q = queue();
    expect(store.stats().recoveredTruncations).to.equal(1);
    expect(q.stats()).to.include({ inFlight: 6, ready: 0 });
    expect(q.ack(got[3]!.id)).to.equal(false);
    expect(q.ack(got[4]!.id)).to.equal(true);
  });

  it("finishes moving a due delayed message whose copy a crash cut off, exactly once", async () => {
    let q = queue();
    const fresh = msg();
    const delayed = msg({ deliverAtMs: Date.now() + 5 });
    q.append([fresh, delayed]);
    q.processDue(delayed.deliverAtMs, 5); // due now: journals DelayDone, then copies into the message log
    await store.commit();
    // no close: as if killed right after the DelayDone, before the copy landed
    const [seg] = segmentFiles(dir, "msg");
    const recs = recordOffsets(seg!);
    expect(recs).to.have.length(2);
    patch(seg!, recs[1]!.off, Buffer.alloc(recs[1]!.length));
    open();
    q = queue();
    q.processDue(Date.now() + 1e9, 5);
    expect(drain(q)).to.deep.equal([fresh.id, delayed.id]);
    expect(q.ack(fresh.id) && q.ack(delayed.id)).to.equal(true);
    await store.close();
    open();
    queue().processDue(Date.now() + 1e9, 5);
    expect(drain(queue())).to.deep.equal([]);
  });

  it("survives a garbled checkpoint with a warning", async () => {
    let q = queue();
    q.append(msgs(10));
    q.reserve(3, BIG, Date.now() + 60_000);
    await store.close();
    const ckpt = allFiles(dir).find((f) => f.endsWith("state.ckpt"))!;
    flipByte(ckpt, 20);
    open();
    q = queue();
    expect(warnings.some((w) => w.obj.file === ckpt)).to.equal(true);
    expect(q.stats().ready + q.stats().inFlight).to.equal(10);
  });

  it("never throws on randomly damaged data directories", async () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let q = queue();
    const list = msgs(2500);
    for (let i = 0; i < list.length; i += 250) q.append(list.slice(i, i + 250));
    q.append([msg({ deliverAtMs: Date.now() + 3_600_000 })]);
    const got = q.reserve(300, BIG, Date.now() + 60_000);
    for (const m of got.slice(0, 200)) q.ack(m.id);
    await store.close();
    const pristine = `${dir}-pristine`;
    fs.cpSync(dir, pristine, { recursive: true });
    for (let round = 0; round < 12; round++) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.cpSync(pristine, dir, { recursive: true });
      const files = allFiles(dir).filter((f) => !f.endsWith("queue.json"));
      for (let k = 0; k < 3; k++) {
        const f = files[rand(files.length)]!;
        const size = fs.statSync(f).size;
        if (size === 0) continue;
        const what = rand(4);
        if (what === 0) fs.truncateSync(f, rand(size));
        else if (what === 1) patch(f, rand(size), Buffer.alloc(1 + rand(200), rand(256)));
        else if (what === 2) flipByte(f, rand(Math.min(size, 4096)));
        else fs.rmSync(f);
      }
      open();
      q = queue();
      q.processDue(Date.now() + 7_200_000, 1_000_000);
      for (;;) {
        const b = q.reserve(500, BIG, Date.now() + 60_000);
        if (b.length === 0) break;
        for (const m of b) q.ack(m.id);
      }
      q.append(msgs(5));
      await store.close();
      open();
      expect(queue().stats().ready).to.be.at.least(5);
      await store.close();
    }
    fs.rmSync(pristine, { recursive: true, force: true });
    open();
  });
});

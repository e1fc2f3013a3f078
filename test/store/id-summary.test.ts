// Id summaries saved beside sealed segments (segment-summary.ts): reused
// after a restart, and never trusted beyond what the segment confirms — a
// missing, torn, damaged or stale sidecar still gives the right answer and
// is rebuilt.
import * as fs from "node:fs";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import { expect } from "chai";
import type { NewMessage } from "../../src/broker/storage.js";
import { openStorage } from "../../src/store/index.js";
import { setSummaryBudget, summaryCacheBytes } from "../../src/store/segment-summary.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { recordingLogger, tempDir } from "./helpers.js";

const T = 1_800_000_000_000;
const N = 3000;
const SEGMENT_BYTES = 64 << 10;

const m = (id: bigint): NewMessage => ({ id, routeKey: "q", body: Buffer.alloc(200, Number(id % 200n)), createdAtMs: T, deliverAtMs: 0, retry: 0 });

/** A data dir holding ids first..first+N-1 in one queue, written at T (every segment starts in the same second). */
async function write(prefix: string, first: bigint): Promise<string> {
  const dir = tempDir(prefix);
  const s = openStorage({ dataDir: dir, segmentBytes: SEGMENT_BYTES, clock: new ManualClock(T), fsync: "never" });
  const q = s.openQueue("t", "q", "main");
  for (let i = 0; i < N; i += 100) q.append(Array.from({ length: 100 }, (_, k) => m(first + BigInt(i + k))));
  expect(q.stats().segments).to.be.greaterThan(8);
  await s.close();
  return dir;
}

function msgDir(dir: string): string {
  return join(dir, "queues", ...fs.readdirSync(join(dir, "queues")).flatMap((t) => [t, ...fs.readdirSync(join(dir, "queues", t))]), "main", "msg");
}

/** Sidecar file name -> contents. */
function sidecars(dir: string): Map<string, Buffer> {
  const d = msgDir(dir);
  return new Map(
    fs
      .readdirSync(d)
      .filter((n) => n.endsWith(".idx"))
      .sort()
      .map((n) => [n, fs.readFileSync(join(d, n))]),
  );
}

function inodes(dir: string): Map<string, number> {
  const d = msgDir(dir);
  return new Map([...sidecars(dir).keys()].map((n) => [n, fs.statSync(join(d, n)).ino]));
}

/** Opens dir, looks up every 7th id (and the first and last), checks each answer, closes; returns the warnings logged. */
async function lookUpAll(dir: string, first: bigint): Promise<string[]> {
  const logger = recordingLogger();
  const s = openStorage({ dataDir: dir, segmentBytes: SEGMENT_BYTES, clock: new ManualClock(T), fsync: "never", logger });
  const q = s.openQueue("t", "q", "main");
  for (let i = 0; i < N; i += i === N - 2 ? 1 : 7) {
    const id = first + BigInt(i);
    expect(q.inspect(id, T, true), `id ${id}`).to.deep.include({ id, state: "ready", bodyBytes: 200, body: Buffer.alloc(200, Number(id % 200n)) });
  }
  expect(q.inspect(first + BigInt(N), T, false)).to.equal("missing");
  await s.close();
  return logger.warnings.map((w) => w.msg);
}

describe("file store: id summaries beside sealed segments", () => {
  let dir: string;
  let saved: Map<string, Buffer>;

  beforeEach(async () => {
    dir = await write("idx", 1n);
    saved = sidecars(dir);
  });

  it("saves one for every sealed segment and reuses them after a restart without rewriting them", async () => {
    const segs = fs.readdirSync(msgDir(dir)).filter((n) => n.endsWith(".seg"));
    expect(saved.size).to.equal(segs.length - 1); // all but the active one
    const before = inodes(dir);
    expect(await lookUpAll(dir, 1n)).to.deep.equal([]);
    expect(inodes(dir)).to.deep.equal(before);
    expect(sidecars(dir)).to.deep.equal(saved);
  });

  it("answers right without a sidecar and saves it again", async () => {
    const name = [...saved.keys()][3]!;
    fs.rmSync(join(msgDir(dir), name));
    expect(await lookUpAll(dir, 1n)).to.deep.equal([]);
    expect(sidecars(dir).get(name)).to.deep.equal(saved.get(name));
  });

  it("answers right with a truncated sidecar and rebuilds it", async () => {
    const name = [...saved.keys()][2]!;
    fs.truncateSync(join(msgDir(dir), name), Math.floor(saved.get(name)!.length / 2));
    expect(await lookUpAll(dir, 1n)).to.deep.equal([]);
    expect(sidecars(dir).get(name)).to.deep.equal(saved.get(name));
  });

  it("answers right with a garbled sidecar and rebuilds it", async () => {
    const name = [...saved.keys()][4]!;
    const b = Buffer.from(saved.get(name)!);
    b[80] = b[80]! ^ 0xff; // a sampled id
    fs.writeFileSync(join(msgDir(dir), name), b);
    expect(await lookUpAll(dir, 1n)).to.deep.equal([]);
    expect(sidecars(dir).get(name)).to.deep.equal(saved.get(name));
  });

  it("answers right with a well-formed sidecar that lies about one window, and rebuilds it", async () => {
    const name = [...saved.keys()][5]!;
    const b = Buffer.from(saved.get(name)!);
    const samples = b.readUInt32LE(48);
    const k = samples >> 1;
    b.writeBigUInt64LE(b.readBigUInt64LE(72 + 8 * k) + 1n, 72 + 8 * k); // still in order; first and last samples intact
    b.writeUInt32LE(crc32c(b.subarray(0, b.length - 4)), b.length - 4);
    fs.writeFileSync(join(msgDir(dir), name), b);
    expect(await lookUpAll(dir, 1n)).to.deep.equal(["id summary does not match its segment: rebuilt"]);
    expect(sidecars(dir).get(name)).to.deep.equal(saved.get(name));
  });

  it("answers right when every segment was replaced by one of the same shape holding other ids, and rebuilds the stale sidecars", async () => {
    const other = await write("idx-other", 100_001n);
    const own = sidecars(other);
    expect([...own.keys()]).to.deep.equal([...saved.keys()]);
    // Same index, size, end, seqs and start second: only the ids differ.
    for (const [name, b] of own) expect(b.subarray(8, 44)).to.deep.equal(saved.get(name)!.subarray(8, 44));
    for (const [name, b] of saved) fs.writeFileSync(join(msgDir(other), name), b);
    expect(await lookUpAll(other, 100_001n)).to.deep.equal([]);
    expect(sidecars(other)).to.deep.equal(own);
  });

  it("removes a sidecar whose segment is gone", async () => {
    const name = [...saved.keys()][0]!;
    fs.rmSync(join(msgDir(dir), name.replace(".idx", ".seg")));
    const s = openStorage({ dataDir: dir, segmentBytes: SEGMENT_BYTES, clock: new ManualClock(T), fsync: "never", logger: recordingLogger() });
    s.openQueue("t", "q", "main");
    await s.close();
    expect(sidecars(dir).has(name)).to.equal(false);
  });

  it("reads a looked-up record longer than a positioned read's first bytes whole, after a restart", async () => {
    const big = tempDir("idx-big");
    const body = (id: bigint): Buffer => Buffer.alloc(100_000 + Number(id), Number(id));
    const s = openStorage({ dataDir: big, segmentBytes: 1 << 20, clock: new ManualClock(T), fsync: "never" });
    const q = s.openQueue("t", "q", "main");
    for (let id = 1n; id <= 30n; id++) q.append([{ ...m(id), body: body(id) }]);
    expect(q.stats().segments).to.be.greaterThan(2);
    await s.close();
    const s2 = openStorage({ dataDir: big, segmentBytes: 1 << 20, clock: new ManualClock(T), fsync: "never" });
    const q2 = s2.openQueue("t", "q", "main");
    for (const id of [1n, 9n, 10n, 17n, 30n]) expect(q2.inspect(id, T, true)).to.deep.include({ id, state: "ready", body: body(id) });
    // Given back, they are read again by position, oldest segment first (the reader last held the newest).
    const first = q2.reserve(30, 1 << 30, T + 60_000, T);
    expect(first.map((x) => x.id)).to.have.length(30);
    for (const x of first) expect(q2.release(x.id, T)).to.equal(true);
    const again = q2.reserve(30, 1 << 30, T + 60_000, T);
    expect(again.map((x) => x.id)).to.deep.equal(first.map((x) => x.id));
    for (const x of again) expect(x.body.equals(body(x.id)), `body of ${x.id}`).to.equal(true);
    await s2.close();
  });

  it("holds sealed segments' summaries within the memory budget, still answering right", async () => {
    const prev = setSummaryBudget(4096);
    try {
      const logger = recordingLogger();
      const s = openStorage({ dataDir: dir, segmentBytes: SEGMENT_BYTES, clock: new ManualClock(T), fsync: "never", logger });
      const q = s.openQueue("t", "q", "main");
      for (let i = 0; i < N; i += 11) {
        const id = BigInt(1 + i);
        expect(q.inspect(id, T, false)).to.deep.include({ id, state: "ready" });
        expect(summaryCacheBytes()).to.be.at.most(4096);
      }
      await s.close();
      expect(logger.warnings).to.deep.equal([]);
    } finally {
      setSummaryBudget(prev);
    }
  });
});

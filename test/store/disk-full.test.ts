import { execFileSync } from "node:child_process";
import { expect } from "chai";
import { StoreError, type Storage } from "../../src/broker/storage.js";
import { type AllocateSeam, allocateZeroed, openStorage } from "../../src/store/index.js";
import { ids, msg, msgs, recordingLogger, sleep, tempDir } from "./helpers.js";
import { waitFor } from "../helpers/wait-for.js";

const BIG = 1 << 30;

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  expect.fail("expected an error");
}

describe("store under allocation failures", function () {
  let dir: string;
  let store: Storage;
  let failWith: string | undefined;
  let calls: number;
  const seam: AllocateSeam = (path, bytes) => {
    calls++;
    if (failWith !== undefined) throw errno(failWith);
    allocateZeroed(path, bytes);
  };
  const open = (): Storage =>
    (store = openStorage({ dataDir: dir, segmentBytes: 64 << 10, fsync: "never", allocate: seam, logger: recordingLogger() }));

  beforeEach(() => {
    dir = tempDir("full");
    failWith = undefined;
    calls = 0;
    open();
  });
  afterEach(async () => {
    failWith = undefined;
    await store.close();
  });

  it("fails an append that needs a new segment with DISK_FULL and appends nothing of it", async () => {
    const q = store.openQueue("t", "q", "main");
    const first = msgs(100);
    q.append(first);
    expect(calls).to.equal(1);
    failWith = "ENOSPC";
    const err = caught(() => q.append(msgs(2000)));
    expect(err).to.be.instanceOf(StoreError);
    expect((err as StoreError).code).to.equal("DISK_FULL");
    expect(q.stats().ready).to.equal(100);
    // a small append still fits the current segment
    const small = msg();
    q.append([small]);
    await store.close();
    open();
    const q2 = store.openQueue("t", "q", "main");
    expect(q2.stats().ready).to.equal(101);
    failWith = undefined; // space is back
    const later = msgs(2000);
    q2.append(later);
    const got = q2.reserve(5000, BIG, Date.now() + 60_000);
    expect(ids(got)).to.deep.equal([...ids(first), small.id, ...ids(later)]);
    expect(got.every((m) => m.body.toString() === `body-${m.id}`)).to.equal(true);
  });

  it("fails on the N-th allocation only, whatever the batch boundaries", () => {
    const q = store.openQueue("t", "nth", "main");
    let appended = 0;
    let failedAt = -1;
    const seamCalls = (): number => calls;
    for (let i = 0; i < 60; i++) {
      if (seamCalls() >= 3) failWith = "ENOSPC";
      try {
        q.append(msgs(100, { body: Buffer.alloc(200, 1) }));
        appended += 100;
      } catch (err) {
        expect((err as StoreError).code).to.equal("DISK_FULL");
        failedAt = i;
        break;
      }
    }
    expect(failedAt).to.be.greaterThan(0);
    expect(q.stats().ready).to.equal(appended);
  });

  it("reports other allocation errors as IO", () => {
    const q = store.openQueue("t", "io", "main");
    failWith = "EIO";
    const err = caught(() => q.append(msgs(1)));
    expect((err as StoreError).code).to.equal("IO");
    expect(q.stats().ready).to.equal(0);
    failWith = undefined;
    q.append(msgs(1));
    expect(q.stats().ready).to.equal(1);
  });

  it("fails a reserve whose state cannot be journaled, leaving the messages ready", () => {
    const q = store.openQueue("t", "journal", "main");
    q.append(msgs(3000, { body: Buffer.alloc(1) }));
    q.reserve(1, BIG, Date.now() + 60_000); // journal segment exists now
    failWith = "ENOSPC";
    let reserved = 1;
    let err: unknown;
    for (let i = 0; i < 5000 && err === undefined; i++) {
      try {
        reserved += q.reserve(1, BIG, Date.now() + 60_000).length;
      } catch (e) {
        err = e;
      }
    }
    expect((err as StoreError).code).to.equal("DISK_FULL");
    expect(q.stats()).to.include({ inFlight: reserved, ready: 3000 - reserved });
  });
});

describe("store on a real, small file system (tmpfs, 2 MiB)", function () {
  this.timeout(90_000);
  let mnt: string;
  let mounted = false;

  before(function () {
    mnt = tempDir("tmpfs");
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], { stdio: "ignore" });
      mounted = true;
    } catch {
      this.skip();
    }
  });
  after(() => {
    // lazy: mappings are unmapped only when their buffers are collected
    if (mounted) execFileSync("umount", ["-l", mnt], { stdio: "ignore" });
  });

  it("reports DISK_FULL when the disk fills, loses nothing appended, and appends again once consumers free space", async () => {
    let store = openStorage({ dataDir: mnt, segmentBytes: 64 << 10, fsync: "always", maxBodyBytes: 4096 });
    let q = store.openQueue("t", "q", "main");
    q.append([msg()]);
    for (const m of q.reserve(1, BIG, Date.now() + 60_000)) q.ack(m.id);
    await store.commit();
    const appended: bigint[] = [];
    let full: unknown;
    for (let i = 0; i < 1000 && full === undefined; i++) {
      const batch = msgs(20, { body: Buffer.alloc(1000, 0x42) });
      try {
        q.append(batch);
        await store.commit();
        appended.push(...ids(batch));
      } catch (err) {
        full = err;
      }
      if (i % 10 === 0) await sleep(1); // let segments be prepared ahead
    }
    expect(full).to.be.instanceOf(StoreError);
    expect((full as StoreError).code).to.equal("DISK_FULL");
    expect(appended.length).to.be.greaterThan(500);
    await store.close();

    store = openStorage({ dataDir: mnt, segmentBytes: 64 << 10, fsync: "always", maxBodyBytes: 4096 });
    q = store.openQueue("t", "q", "main");
    expect(q.stats().ready).to.equal(appended.length);
    const got: bigint[] = [];
    for (;;) {
      const b = q.reserve(100, BIG, Date.now() + 60_000);
      if (b.length === 0) break;
      for (const m of b) {
        expect(m.body.equals(Buffer.alloc(1000, 0x42))).to.equal(true);
        got.push(m.id);
        q.ack(m.id);
      }
      await store.commit();
    }
    expect(got).to.deep.equal(appended);
    expect(store.stats().segmentsReclaimed).to.be.greaterThan(5);
    // Reclaimed files are truncated and unlinked in the thread pool, behind
    // any fdatasync queued there: until then an append may still find the disk full.
    const more = msgs(200, { body: Buffer.alloc(1000, 0x43) });
    for (let i = 0; i < more.length; i += 20) {
      await waitFor(
        async () => {
          try {
            q.append(more.slice(i, i + 20));
            await store.commit();
            return true;
          } catch (err) {
            if ((err as StoreError).code !== "DISK_FULL") throw err;
            return false;
          }
        },
        { what: `space for messages ${i}..${i + 19} to come back`, intervalMs: 50 },
      );
    }
    expect(q.stats().ready).to.equal(200);
    await store.close();
  });
});

// pushBatch's request buffers (src/client/buffer-pool.ts): a buffer handed
// back is reused for the next request that fits it, never one it did not make.
import { expect } from "chai";
import { BufferPool } from "../../src/client/buffer-pool.js";

describe("request buffer pool", () => {
  it("gives exactly the bytes asked for, and reuses a handed-back buffer for the next request that fits", () => {
    const pool = new BufferPool();
    const a = pool.take(150_000);
    expect(a.length).to.equal(150_000);
    pool.give(a);
    const b = pool.take(140_000);
    expect(b.length).to.equal(140_000);
    expect(b.buffer).to.equal(a.buffer);
    // Not handed back: the next request gets a buffer of its own.
    expect(pool.take(140_000).buffer).to.not.equal(b.buffer);
  });

  it("keeps a buffer to itself until it is handed back, and takes each back once", () => {
    const pool = new BufferPool();
    const a = pool.take(100_000);
    pool.give(a);
    pool.give(a);
    const b = pool.take(100_000);
    const c = pool.take(100_000);
    expect(b.buffer).to.equal(a.buffer);
    expect(c.buffer).to.not.equal(a.buffer);
  });

  it("never takes back a buffer it did not make", () => {
    const pool = new BufferPool();
    const foreign = Buffer.alloc(100_000);
    pool.give(foreign);
    expect(pool.take(100_000).buffer).to.not.equal(foreign.buffer);
  });

  it("does not hand a large buffer to a small request, nor keep a huge one", () => {
    const pool = new BufferPool();
    const large = pool.take(1_000_000);
    pool.give(large);
    expect(pool.take(20_000).buffer).to.not.equal(large.buffer);
    const huge = pool.take(64 << 20);
    pool.give(huge);
    expect(pool.take(64 << 20).buffer).to.not.equal(huge.buffer);
  });
});

// Request buffers of pushBatch, reused once a call is answered. A batch of
// 1,000 128 B messages is a 150 KB buffer: allocated fresh per call, its
// pages were faulted in anew each time and its external memory drove V8 into
// a full collection about every 50 MB, a fifth of the producer's CPU. A
// buffer goes back only after its call was answered, when grpc-js has long
// since framed its own copy of the bytes (a failed call's buffer is left to
// the collector: grpc-js may still hold it).

/** Below this a buffer comes from Node's shared slab, which is cheap and must never be handed back. */
const MIN_POOLED_BYTES = 16 << 10;
/** Larger requests are not kept: a rare huge batch should not pin its memory. */
const MAX_POOLED_BYTES = 4 << 20;
/** Free buffers kept (one per concurrent batch a producer usually has in flight). */
const MAX_FREE = 4;

export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  /** Backing stores this pool made, so a foreign view is never taken back. */
  private readonly own = new WeakSet<ArrayBuffer>();

  /** A buffer of exactly `bytes` (a view of a pooled one when it is large enough to be worth keeping). */
  take = (bytes: number): Buffer => {
    if (bytes < MIN_POOLED_BYTES || bytes > MAX_POOLED_BYTES) return Buffer.allocUnsafe(bytes);
    for (let i = this.free.length - 1; i >= 0; i--) {
      const ab = this.free[i]!;
      // Large enough, and not so large that a small batch holds a big one.
      if (ab.byteLength >= bytes && ab.byteLength <= 4 * bytes) {
        this.free.splice(i, 1);
        return Buffer.from(ab, 0, bytes);
      }
    }
    // Rounded up to a power of two, so batches of similar sizes share buffers.
    const ab = new ArrayBuffer(Math.min(MAX_POOLED_BYTES, 2 ** Math.ceil(Math.log2(bytes))));
    this.own.add(ab);
    return Buffer.from(ab, 0, bytes);
  };

  /** Hands back a buffer from take() whose bytes nobody reads any more; others are ignored. */
  give(buf: Buffer): void {
    const ab = buf.buffer as ArrayBuffer;
    if (!this.own.has(ab) || this.free.includes(ab)) return;
    if (this.free.length >= MAX_FREE) this.free.shift();
    this.free.push(ab);
  }
}

// Acks (and discards, and burials) are journaled in batches, as one AckBatch
// record: at the end of the current tick, when 512 are pending, and before
// Storage.commit() resolves. A kill -9 before that can only make an ack be
// forgotten (the message is delivered again), never lose a message.
import type { StoreContext } from "./context.js";
import { ACK_BATCH, type Journal } from "./journal.js";

export class AckBatcher {
  private readonly ids = new BigUint64Array(ACK_BATCH);
  private n = 0;
  private readonly flushSoon = (): void => {
    try {
      this.flushAcks();
    } catch (err) {
      // Kept: the next ack or commit() retries and reports the error.
      this.ctx.logger.warn({ dir: this.journal.log.dir, err: String(err) }, "cannot journal acks yet");
    }
  };

  constructor(
    private readonly journal: Journal,
    private readonly ctx: StoreContext,
  ) {}

  /** Queues an ack of id; throws StoreError (nothing queued) when a full batch cannot be written. */
  add(id: bigint): void {
    if (this.n === ACK_BATCH) this.flushAcks();
    if (this.n === 0) {
      this.ctx.pendingAcks.add(this);
      queueMicrotask(this.flushSoon);
    }
    this.ids[this.n++] = id;
  }

  /** Writes the pending acks now (commit, checkpoint); throws StoreError with them kept. */
  flushAcks(): void {
    if (this.n === 0) return;
    this.journal.ackBatch(this.ids, this.n);
    this.n = 0;
    this.ctx.pendingAcks.delete(this);
  }

  /** Writes what is pending if it can (logged if not); the batcher is done. */
  close(): void {
    this.flushSoon();
    this.ctx.pendingAcks.delete(this);
  }
}

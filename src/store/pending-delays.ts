// Messages pushed with a delay: their records sit in the delay log; a heap
// of (time due, position) holds the pending ones. When due, each is copied
// into the message log (journaled first as DelayDone naming the copy's
// position, so recovery finishes a copy a crash cut off and a fired delay is
// delivered once), or settled without a copy when it expired meanwhile.
// A delay segment is reclaimed once none of its records is pending.
import type { StoreContext } from "./context.js";
import { DelayHeap } from "./heap.js";
import type { Journal } from "./journal.js";
import { copyDelayed, isDelayed } from "./message-log.js";
import type { QueueLogObserver } from "../broker/storage.js";
import { recordExpiresAt, viewId } from "./record.js";
import { type SegmentLog, posIndex } from "./segment-log.js";

const MAX_DELAYS_PER_CALL = 50_000;

export type Reclaim = (log: SegmentLog, seg: SegmentLog["segments"][number]) => void;

export class PendingDelays {
  private readonly heap = new DelayHeap();
  /** Pending delays per delay-log segment index. */
  private readonly live = new Map<number, number>();
  /** Positions still in the heap whose delay was cancelled (removed or moved by an operator). */
  private readonly cancelled = new Set<number>();

  constructor(
    readonly log: SegmentLog,
    private readonly ctx: StoreContext,
    private readonly reclaim: Reclaim,
  ) {
    log.onRoll = () => this.reclaimSegments();
  }

  get size(): number {
    return this.heap.size - this.cancelled.size;
  }

  /**
   * Whether the delayed record at pos waits in the heap. A linear search of
   * the heap's positions (no index per delayed message is kept): for
   * lookups by operators, not for the delivery path.
   */
  isPending(pos: number): boolean {
    if (this.cancelled.has(pos) || !this.live.has(posIndex(pos))) return false;
    return this.heap.entries().pos.indexOf(pos) >= 0;
  }

  /** The pending record at pos will not fire (removed, or moved to another record). */
  cancel(pos: number): void {
    if (this.cancelled.has(pos)) return;
    this.cancelled.add(pos);
    this.forget(pos);
  }

  /** Cancels every pending delay; returns how many there were. */
  cancelAll(): number {
    const { pos } = this.entries();
    for (const p of pos) this.cancel(p);
    return pos.length;
  }

  /** Earliest time due, or undefined. */
  nextAt(): number | undefined {
    return this.heap.topAt();
  }

  /** The delayed record at pos is due at atMs (its delay's end, or its expiry if that comes first). */
  add(atMs: number, pos: number): void {
    this.heap.push(atMs, pos);
    const i = posIndex(pos);
    this.live.set(i, (this.live.get(i) ?? 0) + 1);
  }

  /** For checkpoints: all pending (time, position) pairs, unordered. */
  entries(): { at: readonly number[]; pos: readonly number[] } {
    const all = this.heap.entries();
    if (this.cancelled.size === 0) return all;
    const at: number[] = [];
    const pos: number[] = [];
    for (let i = 0; i < all.pos.length; i++) {
      if (this.cancelled.has(all.pos[i]!)) continue;
      at.push(all.at[i]!);
      pos.push(all.pos[i]!);
    }
    return { at, pos };
  }

  /**
   * Fires what is due at nowMs, in time order (at most 50,000 per call).
   * Returns how many expired instead, and the earliest expiry among those
   * copied (Infinity: none). A failed write stops the call; the rest waits.
   */
  fire(nowMs: number, msgs: SegmentLog, journal: Journal, observer?: QueueLogObserver): { expired: number; copiedExpiry: number } {
    const heap = this.heap;
    const d = this.log;
    let fired = 0;
    let expired = 0;
    let copiedExpiry = Number.POSITIVE_INFINITY;
    for (let at = heap.topAt(); at !== undefined && at <= nowMs && fired < MAX_DELAYS_PER_CALL; at = heap.topAt()) {
      const pos = heap.topPos();
      if (this.cancelled.delete(pos)) {
        heap.pop();
        continue;
      }
      try {
        if (d.readAt(pos) > 0 && isDelayed(d.rbuf, d.roff)) {
          const exp = recordExpiresAt(d.rbuf, d.roff);
          if (exp !== 0 && exp <= nowMs) {
            journal.delayDone(pos, -1, at);
            expired++;
            observer?.expired(viewId(d, d.roff));
          } else {
            journal.delayDone(pos, msgs.positionFor(d.rlen), at);
            copyDelayed(msgs, d.rbuf, d.roff);
            if (exp > 0 && exp < copiedExpiry) copiedExpiry = exp;
          }
        } else {
          this.ctx.logger.warn({ dir: d.dir, pos }, "delayed message record unreadable; dropped");
          this.ctx.counters.messagesLost++;
          journal.delayDone(pos, -1, at);
        }
      } catch (err) {
        this.ctx.logger.warn({ dir: d.dir, err: String(err) }, "cannot move due delayed messages; will retry");
        break;
      }
      heap.pop();
      fired++;
      this.forget(pos);
    }
    return { expired, copiedExpiry };
  }

  /** The record at pos no longer waits: its segment may go once none of its records does. */
  private forget(pos: number): void {
    const i = posIndex(pos);
    const n = (this.live.get(i) ?? 1) - 1;
    if (n > 0) this.live.set(i, n);
    else {
      this.live.delete(i);
      const seg = this.log.find(i);
      if (seg !== undefined) this.reclaim(this.log, seg);
    }
  }

  /** Deletes delay segments with no pending record (never the last). */
  reclaimSegments(): void {
    const segs = this.log.segments;
    const last = segs[segs.length - 1];
    for (const seg of segs.filter((s) => !this.live.has(s.index) && s !== last)) this.reclaim(this.log, seg);
  }
}

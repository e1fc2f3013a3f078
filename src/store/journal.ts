// A queue's journal of consumption-state changes: one named writer and one
// visitor callback per record type, so no caller knows the record layout.
// Journal records use the common record header (record.ts) as follows:
//
//   type          retry   a            id       b                c
//   DeliverRange  0       start pos    end seq  end pos          deadlineMs
//   Deliver       retry   msg pos      id       0                deadlineMs
//   Ack           0       0            id       0                0   (read only; written as AckBatch)
//   Release       retry   msg pos      id       0                readyAtMs
//   Touch         retry   msg pos      id       0                deadlineMs
//   Requeue       retry   msg pos      id       0                readyAtMs (0: at once)
//   DelayDone     0       delay pos    0        target pos / -1  atMs
//   AckBatch      count   0            0        0                0   body: count u64 ids
//   Cancel        from    source pos   id       target pos / -1  dueAtMs
//   Purge         what    end pos      end seq  0                0
//
// DeliverRange: every message record in [start pos, end pos) of the message
// log went in flight until deadlineMs; the cursor moved to (end pos, end seq).
// DelayDone: the delayed record at delay pos fired; its copy takes target pos
// in the message log (-1: none, it expired or was unreadable).
// Cancel: an operator removed (target -1) or moved (a copy due at dueAtMs at
// target pos of the delay log, written after this record, as DelayDone's)
// the never-delivered message at source pos of the message log (from 1) or
// the pending delayed one at source pos of the delay log (from 2).
// Purge: every never-delivered message before end pos (what 1: the cursor
// moves there, seq end seq) or every pending delayed record before end pos
// of the delay log (what 2) is removed.
import { join } from "node:path";
import type { StoreContext } from "./context.js";
import { RECORD_HEADER_BYTES, RecordType, align8, readId, recordA, recordB, recordC, recordId, recordRetry, recordType, writeIds } from "./record.js";
import { LogKind } from "./segment.js";
import { SegmentLog } from "./segment-log.js";

const JOURNAL_MAX_SEGMENT_BYTES = 16 << 20;
/** Most ids one AckBatch record holds. */
export const ACK_BATCH = 512;

/** What replay reports, one callback per record type. */
export interface JournalVisitor {
  deliverRange(startPos: number, endSeq: number, endPos: number, deadlineMs: number): void;
  deliver(id: bigint, pos: number, retry: number, deadlineMs: number): void;
  ack(id: bigint): void;
  release(id: bigint, readyAtMs: number): void;
  touch(id: bigint, deadlineMs: number): void;
  requeue(id: bigint, retry: number, readyAtMs: number): void;
  delayDone(delayPos: number, targetPos: number): void;
  cancel(from: CancelFrom, sourcePos: number, id: bigint, targetPos: number, dueAtMs: number): void;
  purge(what: PurgeWhat, endPos: number, endSeq: number): void;
}

/** Which log a cancelled message was in. */
export const CancelFrom = { Messages: 1, Delays: 2 } as const;
export type CancelFrom = (typeof CancelFrom)[keyof typeof CancelFrom];
/** What a purge removed. */
export const PurgeWhat = { Ready: 1, Delayed: 2 } as const;
export type PurgeWhat = (typeof PurgeWhat)[keyof typeof PurgeWhat];

export class Journal {
  readonly log: SegmentLog;
  private readonly ackBody = Buffer.alloc(ACK_BATCH * 8);

  constructor(queueDir: string, segmentBytes: number, ctx: StoreContext) {
    const bytes = Math.max(64 << 10, Math.min(segmentBytes, JOURNAL_MAX_SEGMENT_BYTES));
    this.log = new SegmentLog(join(queueDir, "journal"), LogKind.Journal, bytes, ctx);
  }

  // ---------------------------------------------------------------- writers
  // Each throws StoreError (nothing written) when space cannot be had.

  deliverRange(startPos: number, endSeq: number, endPos: number, deadlineMs: number): void {
    this.log.write(RecordType.DeliverRange, 0, startPos, BigInt(endSeq), endPos, deadlineMs, "", 0, null);
  }

  deliver(id: bigint, pos: number, retry: number, deadlineMs: number): void {
    this.log.write(RecordType.Deliver, retry, pos, id, 0, deadlineMs, "", 0, null);
  }

  /** ids[0..n) settled (acked, buried or discarded). */
  ackBatch(ids: BigUint64Array, n: number): void {
    writeIds(this.ackBody, 0, ids, n);
    this.log.write(RecordType.AckBatch, n, 0, 0n, 0, 0, "", 0, this.ackBody.subarray(0, n * 8));
  }

  release(id: bigint, pos: number, retry: number, readyAtMs: number): void {
    this.log.write(RecordType.Release, retry, pos, id, 0, readyAtMs, "", 0, null);
  }

  touch(id: bigint, pos: number, retry: number, deadlineMs: number): void {
    this.log.write(RecordType.Touch, retry, pos, id, 0, deadlineMs, "", 0, null);
  }

  requeue(id: bigint, pos: number, retry: number, readyAtMs: number): void {
    this.log.write(RecordType.Requeue, retry, pos, id, 0, readyAtMs, "", 0, null);
  }

  /** targetPos: where the copy goes in the message log; -1 when there is none. */
  delayDone(delayPos: number, targetPos: number, atMs: number): void {
    this.log.write(RecordType.DelayDone, 0, delayPos, 0n, targetPos, atMs, "", 0, null);
  }

  /** targetPos: where the moved copy goes in the delay log; -1 when removed. */
  cancel(from: CancelFrom, sourcePos: number, id: bigint, targetPos: number, dueAtMs: number): void {
    this.log.write(RecordType.Cancel, from, sourcePos, id, targetPos, dueAtMs, "", 0, null);
  }

  purge(what: PurgeWhat, endPos: number, endSeq: number): void {
    this.log.write(RecordType.Purge, what, endPos, BigInt(endSeq), 0, 0, "", 0, null);
  }

  // ----------------------------------------------------------------- reader

  /** Visits every record from fromPos on, in order; returns how many. */
  replay(fromPos: number, v: JournalVisitor): number {
    const j = this.log;
    let n = 0;
    for (let pos = fromPos; ; ) {
      const p = j.readFrom(pos);
      if (p < 0) return n;
      pos = p + align8(j.rlen);
      n++;
      const buf = j.rbuf;
      const o = j.roff;
      switch (recordType(buf, o)) {
        case RecordType.DeliverRange:
          v.deliverRange(recordA(buf, o), Number(recordId(buf, o)), recordB(buf, o), recordC(buf, o));
          break;
        case RecordType.Deliver:
          v.deliver(recordId(buf, o), recordA(buf, o), recordRetry(buf, o), recordC(buf, o));
          break;
        case RecordType.AckBatch: {
          const count = recordRetry(buf, o);
          for (let k = 0; k < count; k++) v.ack(readId(buf, o + RECORD_HEADER_BYTES + k * 8));
          break;
        }
        case RecordType.Ack:
          v.ack(recordId(buf, o));
          break;
        case RecordType.Release:
          v.release(recordId(buf, o), recordC(buf, o));
          break;
        case RecordType.Touch:
          v.touch(recordId(buf, o), recordC(buf, o));
          break;
        case RecordType.Requeue:
          v.requeue(recordId(buf, o), recordRetry(buf, o), recordC(buf, o));
          break;
        case RecordType.DelayDone:
          v.delayDone(recordA(buf, o), recordB(buf, o));
          break;
        case RecordType.Cancel:
          v.cancel(recordRetry(buf, o) as CancelFrom, recordA(buf, o), recordId(buf, o), recordB(buf, o), recordC(buf, o));
          break;
        case RecordType.Purge:
          v.purge(recordRetry(buf, o) as PurgeWhat, recordA(buf, o), Number(recordId(buf, o)));
          break;
        default:
          break;
      }
    }
  }
}

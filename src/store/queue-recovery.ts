// Rebuilds a queue's in-memory state on open: segment logs are verified
// (unsealed tails record by record), the checkpoint is loaded, delayed
// messages appended since it are listed, and the journal after it replayed.
import {
  RECORD_HEADER_BYTES,
  RecordType,
  align8,
  readId,
  recordA,
  recordC,
  recordExpiresAt,
  recordId,
  recordRetry,
  recordType,
} from "./record.js";
import { type Entry, FileQueueLog, State } from "./queue-log.js";
import { posIndex } from "./segment-log.js";
import type { StoreContext } from "./context.js";

export function recoverQueue(q: FileQueueLog, ctx: StoreContext): void {
  q.msgs.recover();
  q.delays.recover();
  q.journal.recover();

  let ck = q.readCheckpointFile();
  if (ck === "bad") {
    ctx.logger.warn({ file: q.checkpointFile }, "checkpoint unreadable; replaying the whole journal");
    ctx.counters.recoveredTruncations++;
    ck = undefined;
  }
  if (ck !== undefined) {
    // Positions the checkpoint refers to must never be reused by new segments.
    q.journal.reserveIndex(posIndex(ck.journalPos));
    q.msgs.reserveIndex(posIndex(ck.cursor));
    q.delays.reserveIndex(posIndex(ck.delayScanPos));
    for (const p of ck.delayPos) q.delays.reserveIndex(posIndex(p));
    for (const e of ck.entries) q.msgs.reserveIndex(posIndex(e.pos));
  }
  const firstSeg = q.msgs.segments[0];
  q.cursor = ck?.cursor ?? q.msgs.firstPos();
  q.cursorSeq = ck?.cursorSeq ?? firstSeg?.baseSeq ?? 0;

  const entries = new Map<bigint, Entry>();
  const readyOrder = new Map<bigint, Entry>();
  const now = Date.now();
  for (const c of ck?.entries ?? []) {
    const e: Entry = { id: c.id, pos: c.pos, state: c.state, time: c.time, retry: c.retry, exp: 0, ver: 0, inHeap: false };
    entries.set(e.id, e);
    if (e.state === State.Ready) readyOrder.set(e.id, e);
  }

  // Pending delays: the checkpoint's list plus what the delay log got since.
  const pending = new Map<number, number>();
  if (ck !== undefined) for (let i = 0; i < ck.delayAt.length; i++) pending.set(ck.delayPos[i]!, ck.delayAt[i]!);
  const d = q.delays;
  for (let pos = ck?.delayScanPos ?? 0; ; ) {
    const p = d.readFrom(pos);
    if (p < 0) break;
    if (recordType(d.rbuf, d.roff) === RecordType.Delayed) {
      // Due at its expiry when that comes before its delay ends (as append does).
      const at = recordC(d.rbuf, d.roff);
      const exp = recordExpiresAt(d.rbuf, d.roff);
      pending.set(p, exp > 0 && exp < at ? exp : at);
    }
    pos = p + align8(d.rlen);
  }

  /** A message back to ready at time `at`: in ready order if that passed, else delayed until then. */
  const giveBack = (e: Entry, at: number): void => {
    if (at <= now) {
      e.state = State.Ready;
      readyOrder.delete(e.id);
      readyOrder.set(e.id, e);
    } else {
      e.state = State.Delayed;
      e.time = at;
      readyOrder.delete(e.id);
    }
  };

  // Replay the journal after the checkpoint.
  const j = q.journal;
  const m = q.msgs;
  let replayed = 0;
  const fired: number[] = []; // (delay position, message-log position) pairs
  for (let pos = ck?.journalPos ?? 0; ; ) {
    const p = j.readFrom(pos);
    if (p < 0) break;
    pos = p + align8(j.rlen);
    replayed++;
    const buf = j.rbuf;
    const o = j.roff;
    const type = recordType(buf, o);
    if (type === RecordType.DeliverRange) {
      const endPos = buf.readDoubleLE(o + 32);
      const endSeq = Number(recordId(buf, o));
      const deadline = recordC(buf, o);
      for (let mp = recordA(buf, o); ; ) {
        const r = m.readFrom(mp);
        if (r < 0 || r >= endPos) break;
        if (recordType(m.rbuf, m.roff) === RecordType.Message) {
          const id = recordId(m.rbuf, m.roff);
          if (!entries.has(id)) {
            const retry = recordRetry(m.rbuf, m.roff);
            entries.set(id, { id, pos: r, state: State.InFlight, time: deadline, retry, exp: 0, ver: 0, inHeap: false });
          }
        }
        mp = r + align8(m.rlen);
      }
      q.cursor = endPos;
      q.cursorSeq = endSeq;
      continue;
    }
    if (type === RecordType.AckBatch) {
      const n = recordRetry(buf, o);
      for (let k = 0; k < n; k++) {
        const id = readId(buf, o + RECORD_HEADER_BYTES + k * 8);
        entries.delete(id);
        readyOrder.delete(id);
      }
      continue;
    }
    if (type === RecordType.DelayDone) {
      pending.delete(recordA(buf, o));
      const target = buf.readDoubleLE(o + 32);
      if (target >= 0) fired.push(recordA(buf, o), target);
      continue;
    }
    const id = recordId(buf, o);
    let e = entries.get(id);
    if (type === RecordType.Deliver) {
      if (e === undefined) {
        e = { id, pos: recordA(buf, o), state: State.InFlight, time: 0, retry: recordRetry(buf, o), exp: 0, ver: 0, inHeap: false };
        entries.set(id, e);
      }
      readyOrder.delete(id);
      e.state = State.InFlight;
      e.time = recordC(buf, o);
      continue;
    }
    if (e === undefined) continue;
    switch (type) {
      case RecordType.Ack:
        entries.delete(id);
        readyOrder.delete(id);
        break;
      case RecordType.Release:
        giveBack(e, recordC(buf, o));
        break;
      case RecordType.Touch:
        e.time = recordC(buf, o);
        break;
      case RecordType.Requeue:
        // c is the end of its retry backoff (0 without one, and in journals
        // written before backoff existed): the same rule as a release.
        e.retry = recordRetry(buf, o);
        giveBack(e, recordC(buf, o));
        break;
      default:
        break;
    }
  }

  // A delay whose copy into the message log was cut off by a crash (its
  // DelayDone names a position at or past the recovered tail) is copied now.
  for (let i = 0; i < fired.length; i += 2) {
    const target = fired[i + 1]!;
    if (target < m.tailPos()) continue;
    const dpos = fired[i]!;
    if (d.readAt(dpos) > 0 && recordType(d.rbuf, d.roff) === RecordType.Delayed) {
      m.positionFor(d.rlen);
      q.copyDelayed(d.rbuf, d.roff, d.rlen);
      ctx.logger.info({ dir: d.dir, pos: dpos }, "finished moving a due delayed message cut off by a crash");
    }
  }

  // The cursor never points past the tail (a damaged tail may have shrunk it).
  const tail = m.tailPos();
  if (q.cursor > tail) {
    ctx.logger.warn({ dir: m.dir, cursor: q.cursor, tail }, "cursor past the end of the message log; moved to the end");
    q.cursor = tail;
    q.cursorSeq = m.nextSeq;
  }
  m.setNextSeq(q.cursorSeq);

  // Keep only entries whose record is still readable.
  for (const e of entries.values()) {
    if (!q.readMessageAt(e.pos)) {
      ctx.logger.warn({ dir: m.dir, id: String(e.id), pos: e.pos }, "outstanding message record missing; dropped");
      ctx.counters.messagesLost++;
      continue;
    }
    // Expiry lives in the record (not in the checkpoint or journal).
    e.exp = recordExpiresAt(m.rbuf, m.roff);
    if (e.exp !== 0 && e.state === State.Delayed && e.exp < e.time) e.time = e.exp;
    q.entries.set(e.id, e);
    q.addLive(q.msgLive, e.pos);
    if (e.state === State.InFlight) {
      q.nInFlight++;
      q.timed.push(e);
    } else if (e.state === State.Delayed) {
      q.nNackDelayed++;
      q.timed.push(e);
    }
  }
  for (const e of readyOrder.values()) if (q.entries.get(e.id) === e && e.state === State.Ready) q.ready.push(e);

  for (const [pos, at] of pending) {
    if (d.find(posIndex(pos)) === undefined) continue;
    q.pendingDelays.push(at, pos);
    q.addLive(q.delayLive, pos);
  }

  q.noteHeadExpiry();
  q.reclaimMsgSegments();
  q.reclaimDelaySegments();
  if (replayed > 0 || ck === undefined) {
    if (q.msgs.segments.length + q.journal.segments.length + q.delays.segments.length > 0) q.checkpoint();
  }
}

// Rebuilds a queue's consumption state on open: segment logs are verified
// (unsealed tails record by record), the checkpoint is loaded, delayed
// messages appended since it are listed, and the journal after it replayed.
// The result is handed to the queue log, which restores it into its
// QueueState; recovery itself writes only the copies of fired delays that a
// crash cut off.
import { CANCELLED_ENTRY, readCheckpoint } from "./checkpoint.js";
import type { StoreContext } from "./context.js";
import { copyAsDelayed, copyDelayed, isDelayed, isMessage } from "./message-log.js";
import { CancelFrom, type Journal, PurgeWhat } from "./journal.js";
import { type Entry, EntryState, newEntry } from "./queue-state.js";
import { align8, recordA, recordC, recordExpiresAt, recordId, recordRetry } from "./record.js";
import { type SegmentLog, posIndex } from "./segment-log.js";

/** The files of one queue log, as recovery reads them. */
export interface QueueFiles {
  msgs: SegmentLog;
  delays: SegmentLog;
  journal: Journal;
  checkpointPath: string;
}

export interface RecoveredQueue {
  cursor: number;
  cursorSeq: number;
  /** Outstanding entries with their expiry; the Ready ones in ready order. */
  entries: Entry[];
  /** Pending delays: due time and delay-log position. */
  delayAt: number[];
  delayPos: number[];
  /** Earliest expiry among fired delays copied during recovery (Infinity: none). */
  copiedExpiry: number;
  /** Never-delivered records at or after the cursor that were removed or moved: position -> id. */
  skipped: Map<number, bigint>;
  /** Journal records replayed. */
  replayed: number;
  fromCheckpoint: boolean;
  /** Messages lost to damage: ready ones in quarantined segments, outstanding ones whose record is unreadable. */
  lost: number;
}

export function recoverQueue(f: QueueFiles, ctx: StoreContext): RecoveredQueue {
  const { msgs: m, delays: d, journal } = f;
  m.recover();
  d.recover();
  journal.log.recover();

  let ck = readCheckpoint(f.checkpointPath);
  if (ck === "bad") {
    ctx.logger.warn({ file: f.checkpointPath }, "checkpoint unreadable; replaying the whole journal");
    ctx.counters.recoveredTruncations++;
    ck = undefined;
  }
  if (ck !== undefined) {
    // Positions the checkpoint refers to must never be reused by new segments.
    journal.log.reserveIndex(posIndex(ck.journalPos));
    m.reserveIndex(posIndex(ck.cursor));
    d.reserveIndex(posIndex(ck.delayScanPos));
    for (const p of ck.delayPos) d.reserveIndex(posIndex(p));
    for (const e of ck.entries) m.reserveIndex(posIndex(e.pos));
  }
  let cursor = ck?.cursor ?? m.firstPos();
  let cursorSeq = ck?.cursorSeq ?? m.segments[0]?.baseSeq ?? 0;
  // Without a checkpoint the seq comes from the first record: the header of a
  // log's first segment may say one more than that (it was written after the
  // seq was taken), which made stats().ready one short after a crash.
  if (ck === undefined && m.readFrom(cursor) >= 0) cursorSeq = recordA(m.rbuf, m.roff);

  const entries = new Map<bigint, Entry>();
  /** Ready entries in the order they became ready (re-inserting moves one to the end). */
  const readyOrder = new Map<bigint, Entry>();
  const now = ctx.clock.now();
  const skipped = new Map<number, bigint>();
  for (const c of ck?.entries ?? []) {
    if (c.state === CANCELLED_ENTRY) {
      skipped.set(c.pos, c.id);
      continue;
    }
    const e = newEntry(c.id, c.pos, c.state, c.time, c.retry, 0);
    entries.set(e.id, e);
    if (e.state === EntryState.Ready) readyOrder.set(e.id, e);
  }

  // Pending delays: the checkpoint's list plus what the delay log got since.
  const pending = new Map<number, number>();
  if (ck !== undefined) for (let i = 0; i < ck.delayAt.length; i++) pending.set(ck.delayPos[i]!, ck.delayAt[i]!);
  for (let pos = ck?.delayScanPos ?? 0; ; ) {
    const p = d.readFrom(pos);
    if (p < 0) break;
    if (isDelayed(d.rbuf, d.roff)) {
      // Due at its expiry when that comes before its delay ends (as append does).
      const at = recordC(d.rbuf, d.roff);
      const exp = recordExpiresAt(d.rbuf, d.roff);
      pending.set(p, exp > 0 && exp < at ? exp : at);
    }
    pos = p + align8(d.rlen);
  }

  /** Back to ready at time `at`: in ready order if that passed, else delayed until then (the rule of QueueState.giveBack). */
  const giveBack = (e: Entry, at: number): void => {
    readyOrder.delete(e.id);
    if (at <= now) {
      e.state = EntryState.Ready;
      readyOrder.set(e.id, e);
    } else {
      e.state = EntryState.Delayed;
      e.time = at;
    }
  };
  const fired: number[] = []; // (delay position, message-log position) pairs
  const moved: number[] = []; // (from, source position, delay-log target position, due time)

  const replayed = journal.replay(ck?.journalPos ?? 0, {
    deliverRange(startPos, endSeq, endPos, deadlineMs) {
      for (let mp = startPos; ; ) {
        const r = m.readFrom(mp);
        if (r < 0 || r >= endPos) break;
        if (skipped.delete(r)) {
          mp = r + align8(m.rlen);
          continue;
        }
        if (isMessage(m.rbuf, m.roff)) {
          const id = recordId(m.rbuf, m.roff);
          if (!entries.has(id)) entries.set(id, newEntry(id, r, EntryState.InFlight, deadlineMs, recordRetry(m.rbuf, m.roff), 0));
        }
        mp = r + align8(m.rlen);
      }
      cursor = endPos;
      cursorSeq = endSeq;
    },
    deliver(id, pos, retry, deadlineMs) {
      let e = entries.get(id);
      if (e === undefined) {
        e = newEntry(id, pos, EntryState.InFlight, 0, retry, 0);
        entries.set(id, e);
      }
      readyOrder.delete(id);
      e.state = EntryState.InFlight;
      e.time = deadlineMs;
    },
    ack(id) {
      entries.delete(id);
      readyOrder.delete(id);
    },
    release(id, readyAtMs) {
      const e = entries.get(id);
      if (e !== undefined) giveBack(e, readyAtMs);
    },
    touch(id, deadlineMs) {
      const e = entries.get(id);
      if (e !== undefined) e.time = deadlineMs;
    },
    requeue(id, retry, readyAtMs) {
      // readyAtMs is the end of its retry backoff (0 without one, and in
      // journals written before backoff existed): the same rule as a release.
      const e = entries.get(id);
      if (e === undefined) return;
      e.retry = retry;
      giveBack(e, readyAtMs);
    },
    delayDone(delayPos, targetPos) {
      pending.delete(delayPos);
      if (targetPos >= 0) fired.push(delayPos, targetPos);
    },
    cancel(from, sourcePos, id, targetPos, dueAtMs) {
      if (from === CancelFrom.Messages) skipped.set(sourcePos, id);
      else pending.delete(sourcePos);
      if (targetPos >= 0) moved.push(from, sourcePos, targetPos, dueAtMs);
    },
    purge(what, endPos, endSeq) {
      if (what === PurgeWhat.Ready) {
        cursor = endPos;
        cursorSeq = endSeq;
        for (const p of skipped.keys()) if (p < endPos) skipped.delete(p);
      } else {
        for (const p of pending.keys()) if (p < endPos) pending.delete(p);
      }
    },
  });

  // A move whose copy into the delay log was cut off by a crash (its Cancel
  // names a position at or past the recovered tail) is copied now.
  for (let i = 0; i < moved.length; i += 4) {
    if (moved[i + 2]! < d.tailPos()) continue;
    const log = moved[i] === CancelFrom.Messages ? m : d;
    if (log.readAt(moved[i + 1]!) <= 0) continue;
    const at = moved[i + 3]!;
    d.positionFor(log.rlen);
    log.readAt(moved[i + 1]!);
    const exp = recordExpiresAt(log.rbuf, log.roff);
    const p = copyAsDelayed(d, log.rbuf, log.roff, at);
    pending.set(p, exp > 0 && exp < at ? exp : at);
    ctx.logger.info({ dir: d.dir, pos: moved[i + 1] }, "finished moving a rescheduled message cut off by a crash");
  }

  // A delay whose copy into the message log was cut off by a crash (its
  // DelayDone names a position at or past the recovered tail) is copied now.
  let copiedExpiry = Number.POSITIVE_INFINITY;
  for (let i = 0; i < fired.length; i += 2) {
    if (fired[i + 1]! < m.tailPos()) continue;
    const dpos = fired[i]!;
    if (d.readAt(dpos) > 0 && isDelayed(d.rbuf, d.roff)) {
      m.positionFor(d.rlen);
      const exp = recordExpiresAt(d.rbuf, d.roff);
      copyDelayed(m, d.rbuf, d.roff);
      if (exp > 0 && exp < copiedExpiry) copiedExpiry = exp;
      ctx.logger.info({ dir: d.dir, pos: dpos }, "finished moving a due delayed message cut off by a crash");
    }
  }

  // The cursor never points past the tail (a damaged tail may have shrunk it).
  const tail = m.tailPos();
  if (cursor > tail) {
    ctx.logger.warn({ dir: m.dir, cursor, tail }, "cursor past the end of the message log; moved to the end");
    cursor = tail;
    cursorSeq = m.nextSeq;
  }
  m.setNextSeq(cursorSeq);
  for (const p of skipped.keys()) if (p < cursor) skipped.delete(p);
  // Ready messages whose seqs lay in segments quarantined as unreadable.
  let lost = m.lostSeqsFrom(cursorSeq);
  if (lost > 0) ctx.logger.warn({ dir: m.dir, lost, seqs: m.lostSeqs }, "ready messages lost with quarantined segments");

  // Keep only entries whose record is still readable; expiry lives in the record.
  const out: Entry[] = [];
  const readable = (e: Entry): boolean => {
    if (m.readAt(e.pos) > 0 && isMessage(m.rbuf, m.roff)) {
      e.exp = recordExpiresAt(m.rbuf, m.roff);
      return true;
    }
    ctx.logger.warn({ dir: m.dir, id: String(e.id), pos: e.pos }, "outstanding message record missing; dropped");
    lost++;
    return false;
  };
  for (const e of entries.values()) {
    if (e.state === EntryState.Ready || !readable(e)) continue;
    if (e.exp !== 0 && e.state === EntryState.Delayed && e.exp < e.time) e.time = e.exp;
    out.push(e);
  }
  for (const e of readyOrder.values()) if (entries.get(e.id) === e && e.state === EntryState.Ready && readable(e)) out.push(e);

  ctx.counters.messagesLost += lost;

  const delayAt: number[] = [];
  const delayPos: number[] = [];
  for (const [pos, at] of pending) {
    if (d.find(posIndex(pos)) === undefined) continue;
    delayAt.push(at);
    delayPos.push(pos);
  }
  return { cursor, cursorSeq, entries: out, delayAt, delayPos, copiedExpiry, skipped, replayed, fromCheckpoint: ck !== undefined, lost };
}

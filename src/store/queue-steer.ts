// Inspection and steering of one file queue log's messages (SteerableLog):
// finding a message by id and telling its state, paging through ready or
// delayed messages without delivering them, removing or moving one, purging.
//
// Where a message can be: an outstanding entry of the QueueState (in flight,
// ready again, delayed by a nack or backoff, retries used up), a pending
// record of delay/, a never-delivered record of msg/ at or after the cursor,
// or a settled record before it. Records are found through IdIndex (one
// segment read, not the backlog).
//
// Changes are journaled first (journal.ts): a removed or moved never-delivered
// record is listed in `skipped` until the cursor passes it (and in
// checkpoints), so delivery steps over it, also after recovery. A move writes
// a copy due at the new time into delay/ after the Cancel record naming its
// position, so recovery finishes a copy a crash cut off (as for DelayDone).
import type { Holding, NotStored, SteerResult, StoredInfo, StoredState } from "../broker/storage.js";
import type { AckBatcher } from "./ack-batcher.js";
import type { StoreContext } from "./context.js";
import { IdIndex } from "./id-index.js";
import { CancelFrom, type Journal, PurgeWhat } from "./journal.js";
import { copyAsDelayed, isDelayed, isMessage } from "./message-log.js";
import type { PendingDelays } from "./pending-delays.js";
import { type Entry, EntryState, type QueueState } from "./queue-state.js";
import { align8, recordB, recordBody, recordBodyBytes, recordC, recordExpiresAt, recordId, recordRetry, recordRouteKey } from "./record.js";
import type { SegmentLog } from "./segment-log.js";

/** What the steering needs of its queue log. */
export interface SteerHost {
  readonly msgs: SegmentLog;
  readonly delays: SegmentLog;
  readonly journal: Journal;
  readonly state: QueueState;
  readonly pending: PendingDelays;
  readonly acks: AckBatcher;
  readonly ctx: StoreContext;
  /** Removed or moved never-delivered records at or after the cursor: position -> id. */
  readonly skipped: Map<number, bigint>;
  cursorPos(): number;
  /** Moves the cursor to (pos, seq) without delivering, reclaiming the segments it passed. */
  skipTo(pos: number, seq: number): void;
  /** Number of never-delivered messages (skipped ones excluded). */
  backlogCount(): number;
  /** An entry that became ready again (for the expiry sweep). */
  noteReady(e: Entry): void;
}

type Location =
  | { kind: "entry"; e: Entry }
  | { kind: "delay"; pos: number; due: number }
  | { kind: "backlog"; pos: number }
  | { kind: "settled"; pos: number };

export class QueueSteering {
  private readonly msgIndex: IdIndex;
  private readonly delayIndex: IdIndex;

  constructor(private readonly h: SteerHost) {
    this.msgIndex = new IdIndex(h.msgs);
    this.delayIndex = new IdIndex(h.delays);
  }

  inspect(id: bigint, hintMs: number, withBody: boolean): StoredInfo | NotStored {
    const loc = this.locate(id, hintMs);
    if (loc === undefined) return this.msgIndex.olderThanAll(id, hintMs) ? "reclaimed" : "missing";
    return this.info(loc, withBody) ?? "missing";
  }

  remove(id: bigint, hintMs: number): SteerResult {
    const h = this.h;
    const loc = this.locate(id, hintMs);
    switch (loc?.kind) {
      case "entry": {
        const e = loc.e;
        if (e.state === EntryState.InFlight || e.state === EntryState.RetriesUsedUp) return "inFlight";
        h.acks.add(e.id);
        h.state.settle(e);
        h.acks.flushAcks();
        return "done";
      }
      case "delay":
        h.journal.delayDone(loc.pos, -1, h.ctx.clock.now());
        h.pending.cancel(loc.pos);
        return "done";
      case "backlog":
        h.journal.cancel(CancelFrom.Messages, loc.pos, id, -1, 0);
        h.skipped.set(loc.pos, id);
        return "done";
      default:
        return "missing";
    }
  }

  reschedule(id: bigint, hintMs: number, atMs: number): SteerResult {
    const h = this.h;
    const loc = this.locate(id, hintMs);
    switch (loc?.kind) {
      case "entry": {
        const e = loc.e;
        if (e.state === EntryState.InFlight || e.state === EntryState.RetriesUsedUp) return "inFlight";
        h.journal.release(e.id, e.pos, e.retry, atMs);
        h.noteReady(h.state.moveDue(e, atMs, h.ctx.clock.now()));
        return "done";
      }
      case "delay":
        this.moveToDelays(CancelFrom.Delays, loc.pos, id, atMs);
        h.pending.cancel(loc.pos);
        return "done";
      case "backlog":
        this.moveToDelays(CancelFrom.Messages, loc.pos, id, atMs);
        h.skipped.set(loc.pos, id);
        return "done";
      default:
        return "missing";
    }
  }

  /** Journals the move, then writes the copy due at atMs into delay/ and makes it pending. */
  private moveToDelays(from: CancelFrom, src: number, id: bigint, atMs: number): void {
    const h = this.h;
    const log = from === CancelFrom.Messages ? h.msgs : h.delays;
    const length = log.readAt(src);
    const target = h.delays.positionFor(length);
    h.journal.cancel(from, src, id, target, atMs);
    log.readAt(src);
    const exp = recordExpiresAt(log.rbuf, log.roff);
    const pos = copyAsDelayed(h.delays, log.rbuf, log.roff, atMs);
    h.pending.add(exp > 0 && exp < atMs ? exp : atMs, pos);
  }

  purge(which: Holding): number {
    const h = this.h;
    let n = 0;
    if (which === "ready") {
      for (const e of h.state.readyEntries()) {
        h.acks.add(e.id);
        h.state.settle(e);
        n++;
      }
      n += h.backlogCount();
      const tail = h.msgs.tailPos();
      h.journal.purge(PurgeWhat.Ready, tail, h.msgs.nextSeq);
      h.skipTo(tail, h.msgs.nextSeq);
    } else {
      const delayed = [...h.state.notReady()].filter((e) => e.state === EntryState.Delayed);
      for (const e of delayed) {
        h.acks.add(e.id);
        h.state.settle(e);
      }
      n += delayed.length;
      h.journal.purge(PurgeWhat.Delayed, h.delays.tailPos(), 0);
      n += h.pending.cancelAll();
    }
    h.acks.flushAcks();
    return n;
  }

  list(which: Holding, limit: number, after: { id: bigint; hintMs: number } | undefined, withBody: boolean): StoredInfo[] {
    const loc = after === undefined ? undefined : this.locate(after.id, after.hintMs);
    return which === "ready" ? this.listReady(limit, after !== undefined, loc, withBody) : this.listDelayed(limit, after !== undefined, loc, withBody);
  }

  /** Ready messages in delivery order: those ready again first, then the backlog from the cursor. */
  private listReady(limit: number, hasAfter: boolean, loc: Location | undefined, withBody: boolean): StoredInfo[] {
    const h = this.h;
    const out: StoredInfo[] = [];
    let fromEntries = !hasAfter;
    let pos = h.cursorPos();
    if (loc?.kind === "entry" && loc.e.state === EntryState.Ready) fromEntries = true;
    else if (loc?.kind === "backlog" && h.msgs.readAt(loc.pos) > 0) pos = loc.pos + align8(h.msgs.rlen);
    if (fromEntries) {
      const entries = h.state.readyEntries();
      let i = 0;
      if (loc?.kind === "entry") {
        const at = entries.indexOf(loc.e);
        i = at < 0 ? 0 : at + 1;
      }
      for (; i < entries.length && out.length < limit; i++) {
        const info = this.info({ kind: "entry", e: entries[i]! }, withBody);
        if (info !== undefined) out.push(info);
      }
    }
    const m = h.msgs;
    while (out.length < limit) {
      const p = m.readFrom(pos);
      if (p < 0) break;
      pos = p + align8(m.rlen);
      if (h.skipped.has(p) || !isMessage(m.rbuf, m.roff)) continue;
      out.push(this.recordInfo(m, p, "ready", 0, 0, recordRetry(m.rbuf, m.roff), withBody));
    }
    return out;
  }

  /** Delayed messages by due time (then position): nack-delayed or backing-off entries and pending delayed records. */
  private listDelayed(limit: number, hasAfter: boolean, loc: Location | undefined, withBody: boolean): StoredInfo[] {
    const h = this.h;
    // Keys: due time, then 0 for an entry (message-log position) or 1 for a delayed record (delay-log position).
    let afterKey: [number, number, number] | undefined;
    if (hasAfter) {
      if (loc?.kind === "entry" && loc.e.state === EntryState.Delayed) afterKey = [loc.e.time, 0, loc.e.pos];
      else if (loc?.kind === "delay") afterKey = [loc.due, 1, loc.pos];
      else afterKey = [Number.NEGATIVE_INFINITY, 0, 0];
    }
    const best: [number, number, number, Entry | undefined][] = [];
    const offer = (due: number, kind: number, pos: number, e: Entry | undefined): void => {
      if (afterKey !== undefined && cmp(due, kind, pos, afterKey) <= 0) return;
      if (best.length === limit && cmp(due, kind, pos, best[limit - 1]!) >= 0) return;
      let i = best.length;
      while (i > 0 && cmp(due, kind, pos, best[i - 1]!) < 0) i--;
      best.splice(i, 0, [due, kind, pos, e]);
      if (best.length > limit) best.pop();
    };
    for (const e of h.state.notReady()) if (e.state === EntryState.Delayed) offer(e.time, 0, e.pos, e);
    const { at, pos } = h.pending.entries();
    for (let i = 0; i < pos.length; i++) offer(at[i]!, 1, pos[i]!, undefined);
    const out: StoredInfo[] = [];
    for (const [due, kind, p, e] of best) {
      const info = kind === 0 ? this.info({ kind: "entry", e: e! }, withBody) : this.info({ kind: "delay", pos: p, due }, withBody);
      if (info !== undefined) out.push(info);
    }
    return out;
  }

  /** Where the message with this id stands, or undefined when no record of it is left (or it was removed). */
  private locate(id: bigint, hintMs: number): Location | undefined {
    const h = this.h;
    const e = h.state.get(id);
    if (e !== undefined) return { kind: "entry", e };
    const now = h.ctx.clock.now();
    const d = h.delays;
    let firedDue: number | undefined;
    let delayFound = this.delayIndex.find(id, hintMs);
    for (let round = 0; round < 2; round++) {
      for (const p of delayFound) {
        if (d.readAt(p) <= 0 || !isDelayed(d.rbuf, d.roff)) continue;
        const exp = recordExpiresAt(d.rbuf, d.roff);
        const at = recordC(d.rbuf, d.roff);
        const due = exp > 0 && exp < at ? exp : at;
        if (h.pending.isPending(p)) return { kind: "delay", pos: p, due };
        if (firedDue === undefined || due > firedDue) firedDue = due;
      }
      // A copy moved by a reschedule lies where the delay log was written at that time: look everywhere (delay logs hold only what waits).
      if (round === 0) delayFound = this.delayIndex.findAnywhere(id).filter((p) => !delayFound.includes(p));
    }
    const m = h.msgs;
    let found = this.msgIndex.find(id, hintMs);
    if (firedDue !== undefined) found = [...new Set([...this.msgIndex.findAfter(id, firedDue), ...found])].sort((a, b) => b - a);
    else if (found.length === 0) found = this.msgIndex.findAfter(id, hintMs); // dead letters are written after their push
    const cursor = h.cursorPos();
    let settled: number | undefined;
    for (const p of found) {
      if (m.readAt(p) <= 0 || !isMessage(m.rbuf, m.roff)) continue;
      if (p >= cursor) {
        if (!h.skipped.has(p)) return { kind: "backlog", pos: p };
      } else settled ??= p;
    }
    return settled === undefined ? undefined : { kind: "settled", pos: settled };
  }

  private info(loc: Location, withBody: boolean): StoredInfo | undefined {
    const h = this.h;
    switch (loc.kind) {
      case "entry": {
        const e = loc.e;
        const state: StoredState =
          e.state === EntryState.InFlight || e.state === EntryState.RetriesUsedUp ? "inFlight" : e.state === EntryState.Delayed ? "delayed" : "ready";
        return this.recordInfo(
          h.msgs,
          e.pos,
          state,
          e.state === EntryState.Delayed ? e.time : 0,
          e.state === EntryState.InFlight ? e.time : 0,
          e.state === EntryState.RetriesUsedUp ? e.retry + 1 : e.retry,
          withBody,
        );
      }
      case "delay":
        if (h.delays.readAt(loc.pos) <= 0) return undefined;
        return this.recordInfo(h.delays, loc.pos, "delayed", loc.due, 0, recordRetry(h.delays.rbuf, h.delays.roff), withBody);
      case "backlog":
      case "settled":
        if (h.msgs.readAt(loc.pos) <= 0) return undefined;
        return this.recordInfo(h.msgs, loc.pos, loc.kind === "backlog" ? "ready" : "settled", 0, 0, recordRetry(h.msgs.rbuf, h.msgs.roff), withBody);
    }
  }

  /** The record at pos of log, reported in `state` (expired instead when its expiry passed). */
  private recordInfo(log: SegmentLog, pos: number, state: StoredState, dueAtMs: number, deadlineMs: number, retry: number, withBody: boolean): StoredInfo {
    log.readAt(pos);
    const buf = log.rbuf;
    const o = log.roff;
    const expiresAtMs = recordExpiresAt(buf, o);
    const expired = expiresAtMs !== 0 && expiresAtMs <= this.h.ctx.clock.now() && state !== "inFlight";
    const info: StoredInfo = {
      id: recordId(buf, o),
      state: expired ? "expired" : state,
      routeKey: recordRouteKey(buf, o),
      createdAtMs: recordB(buf, o),
      retry,
      dueAtMs: expired ? 0 : dueAtMs,
      deadlineMs,
      expiresAtMs,
      bodyBytes: recordBodyBytes(buf, o),
    };
    if (withBody) info.body = recordBody(buf, o);
    return info;
  }
}

function cmp(due: number, kind: number, pos: number, k: readonly [number, number, number, ...unknown[]]): number {
  return due !== k[0] ? due - k[0] : kind !== k[1] ? kind - k[1] : pos - k[2];
}

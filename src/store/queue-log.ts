// One queue's durable log (QueueLog of the broker's contract), built from
// three segment logs in the queue's directory:
//   msg/      messages ready at once, in order; a cursor marks the first
//             never-delivered one, so the backlog is never held in memory
//   delay/    messages pushed with a delay; a heap of (deliverAt, position)
//             holds the pending ones; when due they are copied into msg/
//   journal/  state changes (delivered, acked, released, touched, requeued,
//             delay fired), replayed on open after the last checkpoint
// What left the backlog and is not settled lives in a QueueState (ready
// again, delayed, in flight, retries used up); this class does the I/O
// around its transitions: journal first, then the state change.
// Message expiry (a record flag, see record.ts) is checked where a message
// would be delivered or made ready again; an expired one is settled like an
// ack (journaled in an AckBatch) and counted, never delivered.
import { join } from "node:path";
import {
  type Holding,
  type NewMessage,
  type NotStored,
  type QueueLog,
  type QueueLogObserver,
  type QueueLogStats,
  type SteerResult,
  type StoredInfo,
  type StoredMessage,
  StoreError,
} from "../broker/storage.js";
import { CANCELLED_ENTRY, writeCheckpoint } from "./checkpoint.js";
import type { StoreContext } from "./context.js";
import { AckBatcher } from "./ack-batcher.js";
import { Journal } from "./journal.js";
import { isMessage, tooLarge, visitKeys, writeMessage } from "./message-log.js";
import { PendingDelays } from "./pending-delays.js";
import { type Entry, EntryState, QueueState, newEntry } from "./queue-state.js";
import { recoverQueue } from "./queue-recovery.js";
import { QueueSteering } from "./queue-steer.js";
import {
  MAX_KEY_BYTES,
  MAX_ROUTE_KEY_BYTES,
  RecordType,
  align8,
  recordBodyBytes,
  recordRetry,
  recordRouteKey,
  recordBytes,
  utf8Length,
  viewA,
  viewB,
  viewBody,
  viewBodyBytes,
  viewExpiresAt,
  viewId,
  viewRetry,
} from "./record.js";
import { LogKind } from "./segment.js";
import { SegmentLog, posIndex } from "./segment-log.js";

/** Expired messages one sweep discards at most; it comes back at once for the rest. */
const SWEEP_MAX = 10_000;

export interface QueueLogOptions {
  dir: string;
  segmentBytes: number;
  ctx: StoreContext;
}

export class FileQueueLog implements QueueLog {
  private readonly msgs: SegmentLog;
  private readonly delays: SegmentLog;
  private readonly journal: Journal;
  private readonly state: QueueState;
  /** Position and seq of the first never-delivered message. */
  private cursor = 0;
  private cursorSeq = 0;
  /** Messages waiting in the delay log. */
  private readonly pending: PendingDelays;
  /** Outstanding entries per message-log segment index. */
  private readonly msgLive = new Map<number, number>();
  private reclaimed = 0;
  /** Messages discarded because they expired, since open. */
  private nExpired = 0;
  /**
   * When processDue next looks for expired messages at the head of the ready
   * messages: the earliest expiry known to have entered them (appended,
   * copied from delay/, requeued). Not exact: see sweepExpired.
   */
  private sweepAtMs = Number.POSITIVE_INFINITY;
  private readonly ctx: StoreContext;
  private readonly checkpointPath: string;
  private checkpointScheduled = false;
  private closed = false;
  private rkBytes: number[] = [];
  private keyBytes: (Buffer | null)[] = [];
  /** Acks not yet in the journal. */
  private readonly acks: AckBatcher;
  /** Never-delivered records at or after the cursor that an operator removed or moved: position -> id (see queue-steer.ts). */
  private readonly skipped = new Map<number, bigint>();
  private readonly steering: QueueSteering;
  private observer: QueueLogObserver | undefined;

  /** Opens the log in dir, recovering what is on disk. */
  static open(opts: QueueLogOptions): FileQueueLog {
    const q = new FileQueueLog(opts);
    q.recover();
    return q;
  }

  private constructor(opts: QueueLogOptions) {
    this.ctx = opts.ctx;
    this.msgs = new SegmentLog(join(opts.dir, "msg"), LogKind.Messages, opts.segmentBytes, opts.ctx);
    this.delays = new SegmentLog(join(opts.dir, "delay"), LogKind.Delayed, opts.segmentBytes, opts.ctx);
    this.journal = new Journal(opts.dir, opts.segmentBytes, opts.ctx);
    this.acks = new AckBatcher(this.journal, opts.ctx);
    this.checkpointPath = join(opts.dir, "state.ckpt");
    this.state = new QueueState((e) => this.onSettled(e));
    this.journal.log.onRoll = () => this.scheduleCheckpoint();
    this.pending = new PendingDelays(this.delays, opts.ctx, (log, seg) => this.reclaim(log, seg));
    const self = this;
    this.steering = new QueueSteering({
      msgs: this.msgs,
      delays: this.delays,
      journal: this.journal,
      state: this.state,
      pending: this.pending,
      acks: this.acks,
      ctx: this.ctx,
      skipped: this.skipped,
      cursorPos: () => self.cursor,
      skipTo: (pos, seq) => {
        self.skipped.clear();
        self.moveCursor(pos, seq);
        self.reclaimMsgSegments();
      },
      backlogCount: () => self.backlogCount(),
      noteReady: (e) => self.noteReady(e),
    });
  }

  observe(observer: QueueLogObserver | undefined): void {
    this.observer = observer;
  }

  // ------------------------------------------------------------------ append

  reserveSpace(messages: readonly NewMessage[]): void {
    this.checkOpen();
    this.plan(messages);
    this.keyBytes.fill(null, 0, messages.length); // no keys kept alive between calls
  }

  append(messages: readonly NewMessage[]): void {
    this.checkOpen();
    const n = messages.length;
    if (n === 0) return;
    const now = this.plan(messages);
    const rk = this.rkBytes;
    const keys = this.keyBytes;
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      const exp = m.expiresAtMs ?? 0;
      if (m.deliverAtMs > now) {
        const pos = writeMessage(this.delays, RecordType.Delayed, m, rk[i]!, keys[i]!);
        // One that expires before its delay ends is due (to be discarded) at its expiry.
        this.pending.add(exp > 0 && exp < m.deliverAtMs ? exp : m.deliverAtMs, pos);
      } else {
        writeMessage(this.msgs, RecordType.Message, m, rk[i]!, keys[i]!);
        if (exp > 0 && exp < this.sweepAtMs) this.sweepAtMs = exp;
      }
    }
    keys.fill(null, 0, n); // no keys kept alive between calls
  }

  /**
   * Checks the messages and allocates every segment writing them needs, so
   * the writes that follow cannot fail; fills rkBytes and keyBytes for them.
   * Returns the time the delays were judged by.
   */
  private plan(messages: readonly NewMessage[]): number {
    const n = messages.length;
    const maxBody = this.ctx.maxBodyBytes;
    const rk = this.rkBytes;
    const keys = this.keyBytes;
    const now = this.ctx.clock.now();
    let anyDelayed = false;
    this.msgs.planStart();
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      const k = utf8Length(m.routeKey);
      rk[i] = k;
      const key = m.idempotencyKey === undefined || m.idempotencyKey === "" ? null : Buffer.from(m.idempotencyKey, "utf8");
      keys[i] = key;
      const length = recordBytes(k, m.body.length, m.expiresAtMs ?? 0, key === null ? 0 : key.length);
      if (m.body.length > maxBody || k > MAX_ROUTE_KEY_BYTES || (key !== null && key.length > MAX_KEY_BYTES)) throw tooLarge(m.body.length, maxBody, k, key);
      if (m.deliverAtMs > now) anyDelayed = true;
      else this.msgs.planAdd(length);
    }
    this.msgs.planEnsure();
    if (anyDelayed) {
      this.delays.planStart();
      for (let i = 0; i < n; i++) {
        const m = messages[i]!;
        if (m.deliverAtMs > now) this.delays.planAdd(recordBytes(rk[i]!, m.body.length, m.expiresAtMs ?? 0, keys[i]?.length ?? 0));
      }
      this.delays.planEnsure();
    }
    return now;
  }

  /**
   * Visits the idempotency keys of messages created at or after sinceMs that
   * are still on disk (message and delay logs), oldest segment first. Reads
   * only the newest segments (see SegmentLog.scanSince), so the cost follows
   * what was appended since sinceMs, not the backlog. A message copied from
   * delay/ to msg/ may be visited twice, with the same id.
   */
  recentKeys(sinceMs: number, visit: (id: bigint, key: string, createdAtMs: number) => void): void {
    this.checkOpen();
    visitKeys(this.delays, sinceMs, visit);
    visitKeys(this.msgs, sinceMs, visit);
  }

  // ----------------------------------------------------------------- reserve

  reserve(max: number, maxBytes: number, deadlineMs: number, nowMs: number = this.ctx.clock.now()): StoredMessage[] {
    this.checkOpen();
    const out: StoredMessage[] = [];
    let bytes = 0;
    const msgs = this.msgs;
    const state = this.state;
    for (let e = state.firstReady(); e !== undefined && out.length < max; e = state.firstReady()) {
      if (e.exp !== 0 && e.exp <= nowMs) {
        try {
          this.discard(e);
        } catch (err) {
          if (out.length === 0) throw err;
          return out;
        }
        continue;
      }
      if (!this.readMessageAt(e.pos)) {
        this.dropLost(e);
        continue;
      }
      const b = recordBodyBytes(msgs.rbuf, msgs.roff);
      if (out.length > 0 && bytes + b > maxBytes) return out;
      const m = this.decode(e.retry, deadlineMs);
      try {
        this.journal.deliver(e.id, e.pos, e.retry, deadlineMs);
      } catch (err) {
        if (out.length === 0) throw err;
        return out;
      }
      state.deliverFirstReady(e, deadlineMs);
      bytes += b;
      out.push(m);
    }
    if (out.length >= max) return out;
    const start = this.cursor;
    let pos = start;
    let seq = this.cursorSeq;
    const fresh: Entry[] = [];
    let dropped: bigint[] | undefined; // expired on the way: settled, not delivered
    while (out.length < max) {
      const p = msgs.readFrom(pos);
      if (p < 0) break;
      const o = msgs.roff;
      if (this.skipped.size > 0 && this.skipped.has(p)) {
        seq = viewA(msgs, o) + 1;
        pos = p + align8(msgs.rlen);
        continue;
      }
      const exp = viewExpiresAt(msgs, o);
      if (exp !== 0 && exp <= nowMs) {
        (dropped ??= []).push(viewId(msgs, o));
        seq = viewA(msgs, o) + 1;
        pos = p + align8(msgs.rlen);
        continue;
      }
      const b = viewBodyBytes(msgs, o);
      if (out.length > 0 && bytes + b > maxBytes) break;
      const retry = viewRetry(msgs, o);
      const m = this.decode(retry, deadlineMs);
      fresh.push(newEntry(m.id, p, EntryState.InFlight, deadlineMs, retry, exp));
      seq = viewA(msgs, o) + 1;
      pos = p + align8(msgs.rlen);
      bytes += b;
      out.push(m);
    }
    if (fresh.length === 0 && dropped === undefined) {
      if (pos !== start) this.moveCursor(pos, seq);
      return out;
    }
    try {
      this.journal.deliverRange(start, seq, pos, deadlineMs);
    } catch (err) {
      if (out.length === fresh.length) throw err;
      out.length -= fresh.length; // the requeued ones are journaled already
      return out;
    }
    // Entries of one batch mostly share a segment: count them per run.
    let runSeg = -1;
    let runCount = 0;
    for (const e of fresh) {
      const dup = state.get(e.id);
      if (dup !== undefined) {
        // the same id twice in the log: keep the counts true
        if (runCount > 0) this.msgLive.set(runSeg, (this.msgLive.get(runSeg) ?? 0) + runCount);
        runCount = 0;
        state.settle(dup);
      }
      state.addDelivered(e);
      const i = posIndex(e.pos);
      if (i !== runSeg) {
        if (runCount > 0) this.msgLive.set(runSeg, (this.msgLive.get(runSeg) ?? 0) + runCount);
        runSeg = i;
        runCount = 0;
      }
      runCount++;
    }
    if (runCount > 0) this.msgLive.set(runSeg, (this.msgLive.get(runSeg) ?? 0) + runCount);
    this.moveCursor(pos, seq);
    if (dropped !== undefined) this.discardDelivered(dropped);
    return out;
  }

  /**
   * Settles messages a DeliverRange just covered because they expired. Their
   * acks go into the next AckBatch; one lost to a crash brings them back in
   * flight until that range's deadline, when processDue discards them.
   */
  private discardDelivered(ids: readonly bigint[]): void {
    try {
      for (const id of ids) this.acks.add(id);
      if (this.observer !== undefined) for (const id of ids) this.observer.expired(id);
    } catch (err) {
      this.ctx.logger.warn({ dir: this.journal.log.dir, err: String(err) }, "cannot journal discarded expired messages yet");
    }
    this.nExpired += ids.length;
  }

  /** Settles an outstanding entry whose expiry passed (journaled like an ack); throws with nothing changed. */
  private discard(e: Entry): void {
    this.acks.add(e.id);
    this.state.settle(e);
    this.nExpired++;
    this.observer?.expired(e.id);
  }

  /** Reads the message record at pos into msgs.rbuf/roff; false if it is not there. */
  private readMessageAt(pos: number): boolean {
    return this.msgs.readAt(pos) > 0 && isMessage(this.msgs.rbuf, this.msgs.roff);
  }

  /** The message record read last (readAt/readFrom), as handed out. */
  private decode(retry: number, deadlineMs: number): StoredMessage {
    const m = this.msgs;
    const o = m.roff;
    return {
      id: viewId(m, o),
      routeKey: recordRouteKey(m.rbuf, o),
      body: viewBody(m, o),
      createdAtMs: viewB(m, o),
      retry,
      deadlineMs,
      expiresAtMs: viewExpiresAt(m, o),
    };
  }

  private moveCursor(pos: number, seq: number): void {
    const before = posIndex(this.cursor);
    this.cursor = pos;
    this.cursorSeq = seq;
    if (this.skipped.size > 0) for (const p of this.skipped.keys()) if (p < pos) this.skipped.delete(p);
    if (posIndex(pos) !== before) this.reclaimMsgSegments();
  }

  // ------------------------------------------------------ ack, release, touch

  ack(id: bigint): boolean {
    if (this.closed) this.checkOpen();
    const e = this.state.inFlight(id);
    if (e === undefined) return false;
    this.acks.add(id);
    this.state.settle(e);
    return true;
  }

  release(id: bigint, readyAtMs: number): boolean {
    this.checkOpen();
    const e = this.state.inFlight(id);
    if (e === undefined) return false;
    this.journal.release(id, e.pos, e.retry, readyAtMs);
    this.state.giveBack(e, readyAtMs, this.ctx.clock.now());
    this.noteReady(e);
    return true;
  }

  touch(id: bigint, deadlineMs: number): boolean {
    this.checkOpen();
    const e = this.state.inFlight(id);
    if (e === undefined) return false;
    this.journal.touch(id, e.pos, e.retry, deadlineMs);
    this.state.touch(e, deadlineMs);
    return true;
  }

  retryOf(id: bigint): number | undefined {
    return this.state.inFlight(id)?.retry;
  }

  /** An entry that became ready again: the expiry sweep must look at it. */
  private noteReady(e: Entry): void {
    if (e.state === EntryState.Ready && e.exp !== 0 && e.exp < this.sweepAtMs) this.sweepAtMs = e.exp;
  }

  /** Told by the state: an entry left for good; its segment may be reclaimed. */
  private onSettled(e: Entry): void {
    const i = posIndex(e.pos);
    const n = (this.msgLive.get(i) ?? 1) - 1;
    if (n > 0) this.msgLive.set(i, n);
    else {
      this.msgLive.delete(i);
      if (i < posIndex(this.cursor)) {
        const seg = this.msgs.find(i);
        if (seg !== undefined) this.reclaim(this.msgs, seg);
      }
    }
  }

  /** An entry whose record can no longer be read (damaged or missing segment). */
  private dropLost(e: Entry): void {
    this.ctx.logger.warn({ dir: this.msgs.dir, id: String(e.id), pos: e.pos }, "message record unreadable; dropped");
    this.ctx.counters.messagesLost++;
    this.state.settle(e);
  }

  // ------------------------------------------------------------- due work

  processDue(
    nowMs: number,
    maxRetry: number,
    requeueDelayMs?: (retry: number) => number,
  ): { requeued: number; retriesUsedUp: StoredMessage[] } {
    if (this.closed) return { requeued: 0, retriesUsedUp: [] };
    let requeued = 0;
    const retriesUsedUp: StoredMessage[] = [];
    const state = this.state;
    for (let e = state.due(nowMs); e !== undefined; e = state.due(nowMs)) {
      // Expired while delayed, or while in flight and its TTR has now passed too.
      if (e.exp !== 0 && e.exp <= nowMs) {
        this.discard(e);
        continue;
      }
      if (e.state === EntryState.Delayed) {
        state.delayEnded(e);
        continue;
      }
      const retry = e.retry + 1;
      if (retry > maxRetry) {
        if (!this.readMessageAt(e.pos)) {
          this.dropLost(e);
          continue;
        }
        state.useUpRetries(e);
        retriesUsedUp.push(this.decode(retry, 0));
        continue;
      }
      // A backoff counts from the deadline, so timer lateness or downtime does not add to it.
      const delayMs = requeueDelayMs?.(retry) ?? 0;
      const readyAtMs = delayMs > 0 ? e.time + delayMs : 0;
      this.journal.requeue(e.id, e.pos, retry, readyAtMs);
      state.requeue(e, retry, readyAtMs, nowMs);
      this.noteReady(e);
      requeued++;
      this.observer?.requeued(e.id, retry, readyAtMs);
    }
    const fired = this.pending.fire(nowMs, this.msgs, this.journal, this.observer);
    this.nExpired += fired.expired;
    if (fired.copiedExpiry < this.sweepAtMs) this.sweepAtMs = fired.copiedExpiry;
    if (this.sweepAtMs <= nowMs) this.sweepExpired(nowMs);
    return { requeued, retriesUsedUp };
  }

  /**
   * Discards expired messages at the head of the ready messages: all expired
   * requeued ones, and never-delivered ones from the cursor up to the first
   * that has not expired. Then waits for that one's expiry (if it has one).
   * Expired messages behind an unexpired head are discarded when reached
   * (reserve), so until then they count as ready; with one TTL per topic,
   * expiry follows push order and the head is all there is to sweep.
   */
  private sweepExpired(nowMs: number): void {
    this.sweepAtMs = Number.POSITIVE_INFINITY;
    let next = Number.POSITIVE_INFINITY;
    try {
      next = this.state.discardExpiredReady(nowMs, (e) => this.discard(e));
      const msgs = this.msgs;
      const start = this.cursor;
      let pos = start;
      let seq = this.cursorSeq;
      const ids: bigint[] = [];
      while (ids.length < SWEEP_MAX) {
        const p = msgs.readFrom(pos);
        if (p < 0) break;
        const o = msgs.roff;
        if (this.skipped.size > 0 && this.skipped.has(p)) {
          seq = viewA(msgs, o) + 1;
          pos = p + align8(msgs.rlen);
          continue;
        }
        const exp = viewExpiresAt(msgs, o);
        if (exp === 0 || exp > nowMs) {
          if (exp !== 0 && exp < next) next = exp;
          break;
        }
        ids.push(viewId(msgs, o));
        seq = viewA(msgs, o) + 1;
        pos = p + align8(msgs.rlen);
      }
      if (ids.length === SWEEP_MAX) next = nowMs;
      if (ids.length > 0) {
        // As if delivered with a deadline already passed, then acked.
        this.journal.deliverRange(start, seq, pos, nowMs);
        this.moveCursor(pos, seq);
        this.discardDelivered(ids);
      }
    } catch (err) {
      this.ctx.logger.warn({ dir: this.journal.log.dir, err: String(err) }, "cannot discard expired messages yet; will retry");
      next = nowMs + 1000;
    }
    if (next < this.sweepAtMs) this.sweepAtMs = next;
  }

  bury(ids: readonly bigint[]): void {
    this.checkOpen();
    for (const id of ids) {
      const e = this.state.get(id);
      if (e === undefined || e.state !== EntryState.RetriesUsedUp) continue;
      this.acks.add(id);
      this.state.settle(e);
    }
  }

  nextDueMs(): number | undefined {
    const t = this.state.nextTimeMs();
    const d = this.pending.nextAt();
    const due = t === undefined ? d : d === undefined || t < d ? t : d;
    if (this.sweepAtMs === Number.POSITIVE_INFINITY) return due;
    return due === undefined || this.sweepAtMs < due ? this.sweepAtMs : due;
  }

  // -------------------------------------------------------------- read-only

  peek(max: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (const e of this.state.readyEntries(max)) if (this.readMessageAt(e.pos)) out.push(this.decode(e.retry, 0));
    let pos = this.cursor;
    while (out.length < max) {
      const p = this.msgs.readFrom(pos);
      if (p < 0) break;
      if (!this.skipped.has(p)) out.push(this.decode(recordRetry(this.msgs.rbuf, this.msgs.roff), 0));
      pos = p + align8(this.msgs.rlen);
    }
    return out;
  }

  stats(): QueueLogStats {
    return {
      ready: this.backlogCount() + this.state.readyCount,
      inFlight: this.state.inFlightCount,
      delayed: this.pending.size + this.state.delayedCount,
      bytesOnDisk: this.msgs.bytesOnDisk() + this.delays.bytesOnDisk() + this.journal.log.bytesOnDisk(),
      segments: this.msgs.fileCount() + this.delays.fileCount() + this.journal.log.fileCount(),
      segmentsReclaimed: this.reclaimed,
      expired: this.nExpired,
    };
  }

  /** Never-delivered messages (removed or moved ones excluded). */
  private backlogCount(): number {
    return Math.max(0, this.msgs.nextSeq - this.cursorSeq - this.msgs.lostSeqsFrom(this.cursorSeq) - this.skipped.size);
  }

  // ------------------------------------------------------------- steering

  inspect(id: bigint, hintMs: number, withBody: boolean): StoredInfo | NotStored {
    this.checkOpen();
    return this.steering.inspect(id, hintMs, withBody);
  }

  list(which: Holding, limit: number, after: { id: bigint; hintMs: number } | undefined, withBody: boolean): StoredInfo[] {
    this.checkOpen();
    return this.steering.list(which, limit, after, withBody);
  }

  remove(id: bigint, hintMs: number): SteerResult {
    this.checkOpen();
    return this.steering.remove(id, hintMs);
  }

  reschedule(id: bigint, hintMs: number, atMs: number): SteerResult {
    this.checkOpen();
    return this.steering.reschedule(id, hintMs, atMs);
  }

  purge(which: Holding): number {
    this.checkOpen();
    return this.steering.purge(which);
  }

  // ---------------------------------------------------------- space, state

  /** Deletes message segments the cursor has passed and no entry points into. */
  private reclaimMsgSegments(): void {
    const ci = posIndex(this.cursor);
    const last = this.msgs.segments[this.msgs.segments.length - 1];
    const done = this.msgs.segments.filter((s) => s.index < ci && !this.msgLive.has(s.index) && s !== last);
    for (const seg of done) this.reclaim(this.msgs, seg);
  }

  private reclaim(log: SegmentLog, seg: Parameters<SegmentLog["deleteSegment"]>[0]): void {
    if (seg === log.segments[log.segments.length - 1]) return; // never the last: it holds the index sequence
    log.deleteSegment(seg);
    this.reclaimed++;
    this.ctx.counters.segmentsReclaimed++;
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointScheduled) return;
    this.checkpointScheduled = true;
    setImmediate(() => {
      this.checkpointScheduled = false;
      if (this.closed) return;
      try {
        this.checkpoint();
      } catch (err) {
        this.ctx.logger.warn({ file: this.checkpointPath, err: String(err) }, "checkpoint failed; the journal is kept");
      }
    });
  }

  /** Writes the state at the journal's tail, then deletes the journal before it. */
  checkpoint(): void {
    this.acks.flushAcks();
    const journal = this.journal.log;
    const journalPos = journal.tailPos();
    const list: { id: bigint; pos: number; time: number; retry: number; state: number }[] = this.state.readyEntries();
    for (const e of this.state.notReady()) {
      // Held with retries used up: stored in flight with a passed deadline, so it is handed out again.
      if (e.state === EntryState.RetriesUsedUp) list.push({ id: e.id, pos: e.pos, time: 0, retry: e.retry, state: EntryState.InFlight });
      else list.push(e);
    }
    for (const [pos, id] of this.skipped) list.push({ id, pos, time: 0, retry: 0, state: CANCELLED_ENTRY });
    const d = this.pending.entries();
    writeCheckpoint(this.checkpointPath, {
      journalPos,
      cursor: this.cursor,
      cursorSeq: this.cursorSeq,
      delayScanPos: this.delays.tailPos(),
      entries: list,
      delayAt: d.at,
      delayPos: d.pos,
    });
    const keepFrom = posIndex(journalPos);
    for (const seg of journal.segments.filter((s) => s.index < keepFrom)) journal.deleteSegment(seg);
  }

  /** Rebuilds the state from the files (see queue-recovery.ts). */
  private recover(): void {
    const r = recoverQueue({ msgs: this.msgs, delays: this.delays, journal: this.journal, checkpointPath: this.checkpointPath }, this.ctx);
    this.cursor = r.cursor;
    this.cursorSeq = r.cursorSeq;
    for (const e of r.entries) {
      this.state.restore(e);
      addLive(this.msgLive, e.pos);
      if (e.state === EntryState.Ready && e.exp !== 0 && e.exp < this.sweepAtMs) this.sweepAtMs = e.exp;
    }
    for (let i = 0; i < r.delayAt.length; i++) this.pending.add(r.delayAt[i]!, r.delayPos[i]!);
    for (const [pos, id] of r.skipped) this.skipped.set(pos, id);
    // The expiry sweep is due at the earliest expiry among the ready messages and the backlog's head.
    if (r.copiedExpiry < this.sweepAtMs) this.sweepAtMs = r.copiedExpiry;
    if (this.msgs.readFrom(this.cursor) >= 0) {
      const exp = viewExpiresAt(this.msgs, this.msgs.roff);
      if (exp !== 0 && exp < this.sweepAtMs) this.sweepAtMs = exp;
    }
    this.reclaimMsgSegments();
    this.pending.reclaimSegments();
    if (r.replayed > 0 || !r.fromCheckpoint) {
      if (this.msgs.segments.length + this.journal.log.segments.length + this.delays.segments.length > 0) this.checkpoint();
    }
  }

  close(): void {
    if (!this.closed) this.acks.close();
    this.closed = true;
    this.msgs.close();
    this.delays.close();
    this.journal.log.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError("IO", "this queue log is closed (queue dropped or storage closed)");
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function addLive(live: Map<number, number>, pos: number): void {
  const i = posIndex(pos);
  live.set(i, (live.get(i) ?? 0) + 1);
}

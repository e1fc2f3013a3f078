// One queue's durable log (QueueLog of the broker's contract), built from
// three segment logs in the queue's directory:
//   msg/      messages ready at once, in order; a cursor marks the first
//             never-delivered one, so the backlog is never held in memory
//   delay/    messages pushed with a delay; a heap of (deliverAt, position)
//             holds the pending ones; when due they are copied into msg/
//   journal/  state changes (delivered, acked, released, touched, requeued,
//             delay fired), replayed on open after the last checkpoint
// Memory holds only outstanding entries (in flight, requeued, nack-delayed or
// backing off before a retry, expired awaiting bury) and pending delays.
// Message expiry (a record flag, see record.ts) is checked where a message
// would be delivered or made ready again; an expired one is settled like an
// ack (journaled in an AckBatch) and counted, never delivered.
import { join } from "node:path";
import { type NewMessage, type QueueLog, type QueueLogStats, type StoredMessage, StoreError } from "../broker/storage.js";
import { readCheckpoint, writeCheckpoint } from "./checkpoint.js";
import type { StoreContext } from "./context.js";
import { DelayHeap, TimedHeap } from "./heap.js";
import {
  MAX_KEY_BYTES,
  MAX_ROUTE_KEY_BYTES,
  RECORD_HEADER_BYTES,
  RecordFlag,
  RecordType,
  align8,
  extBytes,
  recordB,
  recordBodyBytes,
  recordC,
  recordExpiresAt,
  recordBytes,
  recordId,
  recordKey,
  recordKeyBytes,
  recordRetry,
  recordRouteKey,
  recordType,
  utf8Length,
  viewA,
  viewB,
  viewBody,
  viewBodyBytes,
  viewExpiresAt,
  viewId,
  viewRetry,
  writeIds,
} from "./record.js";
import { LogKind } from "./segment.js";
import { SegmentLog, posIndex } from "./segment-log.js";

export const State = { InFlight: 1, Ready: 2, Delayed: 3, Expired: 4 } as const;

/** A message that left the backlog and is not settled yet. */
export interface Entry {
  id: bigint;
  /** Position of its record in the message log. */
  pos: number;
  state: number;
  /** Deadline when in flight, ready time when nack-delayed or backing off. */
  time: number;
  /** Retry count as stored (an expired entry reports retry + 1). */
  retry: number;
  /** The message's expiresAtMs (0: never), from its record. */
  exp: number;
  ver: number;
  inHeap: boolean;
}

const JOURNAL_MAX_SEGMENT_BYTES = 16 << 20;
const MAX_DELAYS_PER_CALL = 50_000;
const ACK_BATCH = 512;
/** Expired messages one sweep discards at most; it comes back at once for the rest. */
const SWEEP_MAX = 10_000;

export interface QueueLogOptions {
  dir: string;
  segmentBytes: number;
  ctx: StoreContext;
}

export class FileQueueLog implements QueueLog {
  readonly msgs: SegmentLog;
  readonly delays: SegmentLog;
  readonly journal: SegmentLog;
  /** Position and seq of the first never-delivered message. */
  cursor = 0;
  cursorSeq = 0;
  readonly entries = new Map<bigint, Entry>();
  /** Requeued entries, in the order they became ready. */
  ready: Entry[] = [];
  readyHead = 0;
  /** In-flight deadlines and ready times of nack delays and retry backoffs. */
  readonly timed = new TimedHeap<Entry>();
  readonly pendingDelays = new DelayHeap();
  /** Outstanding entries per message-log segment index. */
  readonly msgLive = new Map<number, number>();
  /** Pending delays per delay-log segment index. */
  readonly delayLive = new Map<number, number>();
  nInFlight = 0;
  nNackDelayed = 0;
  reclaimed = 0;
  /** Messages discarded because they expired, since open. */
  nExpired = 0;
  /**
   * When processDue next looks for expired messages at the head of the ready
   * messages: the earliest expiry known to have entered them (appended,
   * copied from delay/, requeued). Not exact: see sweepExpired.
   */
  sweepAtMs = Number.POSITIVE_INFINITY;
  private readonly ctx: StoreContext;
  private readonly checkpointPath: string;
  private checkpointScheduled = false;
  private closed = false;
  private rkBytes: number[] = [];
  private keyBytes: (Buffer | null)[] = [];
  /** Acks not yet in the journal: written as one AckBatch record per tick. */
  private readonly ackIds = new BigUint64Array(ACK_BATCH);
  private readonly ackBody = Buffer.alloc(ACK_BATCH * 8);
  private nAcks = 0;
  private readonly flushAcksSoon = (): void => {
    try {
      this.flushAcks();
    } catch (err) {
      // Kept: the next ack or commit() retries and reports the error.
      this.ctx.logger.warn({ dir: this.journal.dir, err: String(err) }, "cannot journal acks yet");
    }
  };

  constructor(opts: QueueLogOptions) {
    this.ctx = opts.ctx;
    this.msgs = new SegmentLog(join(opts.dir, "msg"), LogKind.Messages, opts.segmentBytes, opts.ctx);
    this.delays = new SegmentLog(join(opts.dir, "delay"), LogKind.Delayed, opts.segmentBytes, opts.ctx);
    const journalBytes = Math.max(64 << 10, Math.min(opts.segmentBytes, JOURNAL_MAX_SEGMENT_BYTES));
    this.journal = new SegmentLog(join(opts.dir, "journal"), LogKind.Journal, journalBytes, opts.ctx);
    this.checkpointPath = join(opts.dir, "state.ckpt");
    this.journal.onRoll = () => this.scheduleCheckpoint();
    this.delays.onRoll = () => this.reclaimDelaySegments();
  }

  // ------------------------------------------------------------------ append

  append(messages: readonly NewMessage[]): void {
    this.checkOpen();
    const n = messages.length;
    if (n === 0) return;
    const maxBody = this.ctx.maxBodyBytes;
    const rk = this.rkBytes;
    const keys = this.keyBytes;
    const now = Date.now();
    let anyDelayed = false;
    this.msgs.planStart();
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      const k = utf8Length(m.routeKey);
      rk[i] = k;
      const key = m.idempotencyKey === undefined || m.idempotencyKey === "" ? null : Buffer.from(m.idempotencyKey, "utf8");
      keys[i] = key;
      const length = recordBytes(k, m.body.length, m.expiresAtMs ?? 0, key === null ? 0 : key.length);
      if (m.body.length > maxBody || k > MAX_ROUTE_KEY_BYTES || (key !== null && key.length > MAX_KEY_BYTES)) {
        throw new StoreError(
          "TOO_LARGE",
          m.body.length > maxBody
            ? `message body of ${m.body.length} bytes exceeds the limit of ${maxBody}`
            : k > MAX_ROUTE_KEY_BYTES
              ? `route key of ${k} bytes exceeds the limit of ${MAX_ROUTE_KEY_BYTES}`
              : `idempotency key of ${key!.length} bytes exceeds the limit of ${MAX_KEY_BYTES}`,
        );
      }
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
    const msgs = this.msgs;
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      const exp = m.expiresAtMs ?? 0;
      if (m.deliverAtMs > now) {
        const seq = this.delays.nextSeq++;
        const pos = this.delays.write(RecordType.Delayed, m.retry, seq, m.id, m.createdAtMs, m.deliverAtMs, m.routeKey, rk[i]!, m.body, exp, keys[i]!);
        // One that expires before its delay ends is due (to be discarded) at its expiry.
        this.pendingDelays.push(exp > 0 && exp < m.deliverAtMs ? exp : m.deliverAtMs, pos);
        this.addLive(this.delayLive, pos);
      } else {
        const seq = msgs.nextSeq++;
        msgs.write(RecordType.Message, m.retry, seq, m.id, m.createdAtMs, m.deliverAtMs, m.routeKey, rk[i]!, m.body, exp, keys[i]!);
        if (exp > 0 && exp < this.sweepAtMs) this.sweepAtMs = exp;
      }
    }
    keys.fill(null, 0, n); // no keys kept alive between calls
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
    const onRecord = (buf: Buffer, off: number): void => {
      if ((buf[off + 9]! & RecordFlag.Key) === 0) return;
      const type = recordType(buf, off);
      if (type !== RecordType.Message && type !== RecordType.Delayed) return;
      const createdAtMs = recordB(buf, off);
      if (createdAtMs >= sinceMs) visit(recordId(buf, off), recordKey(buf, off), createdAtMs);
    };
    this.delays.scanSince(sinceMs, onRecord);
    this.msgs.scanSince(sinceMs, onRecord);
  }

  // ----------------------------------------------------------------- reserve

  reserve(max: number, maxBytes: number, deadlineMs: number, nowMs: number = Date.now()): StoredMessage[] {
    this.checkOpen();
    const out: StoredMessage[] = [];
    let bytes = 0;
    const msgs = this.msgs;
    while (out.length < max && this.readyHead < this.ready.length) {
      const e = this.ready[this.readyHead]!;
      if (this.entries.get(e.id) !== e) {
        this.shiftReady(); // settled meanwhile (a duplicate id replaced it)
        continue;
      }
      if (e.exp !== 0 && e.exp <= nowMs) {
        try {
          this.discard(e);
        } catch (err) {
          if (out.length === 0) throw err;
          return out;
        }
        this.shiftReady();
        continue;
      }
      if (!this.readMessageAt(e.pos)) {
        this.shiftReady();
        this.dropLost(e);
        continue;
      }
      const b = recordBodyBytes(msgs.rbuf, msgs.roff);
      if (out.length > 0 && bytes + b > maxBytes) return out;
      const m = this.decode(e.retry, deadlineMs);
      try {
        this.journal.write(RecordType.Deliver, e.retry, e.pos, e.id, 0, deadlineMs, "", 0, null);
      } catch (err) {
        if (out.length === 0) throw err;
        return out;
      }
      this.shiftReady();
      this.setState(e, State.InFlight);
      e.time = deadlineMs;
      this.timed.push(e);
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
      fresh.push({ id: m.id, pos: p, state: State.InFlight, time: deadlineMs, retry, exp, ver: 0, inHeap: false });
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
      this.journal.write(RecordType.DeliverRange, 0, start, BigInt(seq), pos, deadlineMs, "", 0, null);
    } catch (err) {
      if (out.length === fresh.length) throw err;
      out.length -= fresh.length; // the requeued ones are journaled already
      return out;
    }
    // Entries of one batch mostly share a segment: count them per run.
    let runSeg = -1;
    let runCount = 0;
    for (const e of fresh) {
      const dup = this.entries.get(e.id);
      if (dup !== undefined) {
        // the same id twice in the log: keep the counts true
        if (runCount > 0) this.msgLive.set(runSeg, (this.msgLive.get(runSeg) ?? 0) + runCount);
        runCount = 0;
        this.settle(dup);
      }
      this.entries.set(e.id, e);
      this.timed.push(e);
      const i = posIndex(e.pos);
      if (i !== runSeg) {
        if (runCount > 0) this.msgLive.set(runSeg, (this.msgLive.get(runSeg) ?? 0) + runCount);
        runSeg = i;
        runCount = 0;
      }
      runCount++;
    }
    if (runCount > 0) this.msgLive.set(runSeg, (this.msgLive.get(runSeg) ?? 0) + runCount);
    this.nInFlight += fresh.length;
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
      for (const id of ids) this.journalAck(id);
    } catch (err) {
      this.ctx.logger.warn({ dir: this.journal.dir, err: String(err) }, "cannot journal discarded expired messages yet");
    }
    this.nExpired += ids.length;
  }

  /** Settles an outstanding entry whose expiry passed (journaled like an ack); throws with nothing changed. */
  private discard(e: Entry): void {
    this.journalAck(e.id);
    this.settle(e);
    this.nExpired++;
  }

  /** Reads the message record at pos into msgs.rbuf/roff; false if it is not there. */
  readMessageAt(pos: number): boolean {
    return this.msgs.readAt(pos) > 0 && recordType(this.msgs.rbuf, this.msgs.roff) === RecordType.Message;
  }

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
    if (posIndex(pos) !== before) this.reclaimMsgSegments();
  }

  private shiftReady(): void {
    this.ready[this.readyHead++] = undefined as unknown as Entry;
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }

  // ------------------------------------------------------ ack, release, touch

  ack(id: bigint): boolean {
    if (this.closed) this.checkOpen();
    const e = this.entries.get(id);
    if (e === undefined || e.state !== State.InFlight) return false;
    this.journalAck(id);
    this.settle(e);
    return true;
  }

  /**
   * Acks are journaled in batches: at the end of the current tick, when 512
   * are pending, and before Storage.commit() resolves. A kill -9 before that
   * can only make an ack be forgotten (the message is delivered again), never
   * lose a message.
   */
  private journalAck(id: bigint): void {
    if (this.nAcks === ACK_BATCH) this.flushAcks(); // may throw; then nothing changed
    if (this.nAcks === 0) {
      this.ctx.pendingAcks.add(this);
      queueMicrotask(this.flushAcksSoon);
    }
    this.ackIds[this.nAcks++] = id;
  }

  flushAcks(): void {
    const n = this.nAcks;
    if (n === 0) return;
    writeIds(this.ackBody, 0, this.ackIds, n);
    this.journal.write(RecordType.AckBatch, n, 0, 0n, 0, 0, "", 0, this.ackBody.subarray(0, n * 8));
    this.nAcks = 0;
    this.ctx.pendingAcks.delete(this);
  }

  release(id: bigint, readyAtMs: number): boolean {
    this.checkOpen();
    const e = this.entries.get(id);
    if (e === undefined || e.state !== State.InFlight) return false;
    this.journal.write(RecordType.Release, e.retry, e.pos, id, 0, readyAtMs, "", 0, null);
    this.timed.remove(e);
    this.makeReadyOrDelayed(e, readyAtMs, Date.now());
    return true;
  }

  touch(id: bigint, deadlineMs: number): boolean {
    this.checkOpen();
    const e = this.entries.get(id);
    if (e === undefined || e.state !== State.InFlight) return false;
    this.journal.write(RecordType.Touch, e.retry, e.pos, id, 0, deadlineMs, "", 0, null);
    e.time = deadlineMs;
    this.timed.update(e);
    return true;
  }

  retryOf(id: bigint): number | undefined {
    const e = this.entries.get(id);
    return e !== undefined && e.state === State.InFlight ? e.retry : undefined;
  }

  private makeReadyOrDelayed(e: Entry, readyAtMs: number, now: number): void {
    if (readyAtMs <= now) {
      this.setState(e, State.Ready);
      this.ready.push(e);
      if (e.exp !== 0 && e.exp < this.sweepAtMs) this.sweepAtMs = e.exp;
    } else {
      this.setState(e, State.Delayed);
      // Due at its expiry if that comes first: processDue discards it then.
      e.time = e.exp !== 0 && e.exp < readyAtMs ? e.exp : readyAtMs;
      this.timed.push(e);
    }
  }

  private setState(e: Entry, s: number): void {
    if (e.state === State.InFlight) this.nInFlight--;
    else if (e.state === State.Delayed) this.nNackDelayed--;
    if (s === State.InFlight) this.nInFlight++;
    else if (s === State.Delayed) this.nNackDelayed++;
    e.state = s;
  }

  private settle(e: Entry): void {
    this.entries.delete(e.id);
    this.timed.remove(e);
    this.setState(e, 0);
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
    this.settle(e);
  }

  // ------------------------------------------------------------- due work

  processDue(
    nowMs: number,
    maxRetry: number,
    requeueDelayMs?: (retry: number) => number,
  ): { requeued: number; expired: StoredMessage[] } {
    if (this.closed) return { requeued: 0, expired: [] };
    let requeued = 0;
    const expired: StoredMessage[] = [];
    for (let top = this.timed.peek(); top !== undefined && top.time <= nowMs; top = this.timed.peek()) {
      const e = top;
      // Expired while delayed, or while in flight and its TTR has now passed too.
      if (e.exp !== 0 && e.exp <= nowMs) {
        this.discard(e);
        continue;
      }
      if (e.state === State.Delayed) {
        this.timed.remove(e);
        this.setState(e, State.Ready);
        this.ready.push(e);
        continue;
      }
      const retry = e.retry + 1;
      if (retry > maxRetry) {
        if (!this.readMessageAt(e.pos)) {
          this.dropLost(e);
          continue;
        }
        this.timed.remove(e);
        this.setState(e, State.Expired);
        expired.push(this.decode(retry, 0));
        continue;
      }
      // A backoff counts from the deadline, so timer lateness or downtime does not add to it.
      const delayMs = requeueDelayMs?.(retry) ?? 0;
      const readyAtMs = delayMs > 0 ? e.time + delayMs : 0;
      this.journal.write(RecordType.Requeue, retry, e.pos, e.id, 0, readyAtMs, "", 0, null);
      this.timed.remove(e);
      e.retry = retry;
      this.makeReadyOrDelayed(e, readyAtMs, nowMs);
      requeued++;
    }
    this.fireDelays(nowMs);
    if (this.sweepAtMs <= nowMs) this.sweepExpired(nowMs);
    return { requeued, expired };
  }

  /** After recovery: the sweep is due at the earliest expiry among requeued messages and the backlog's head. */
  noteHeadExpiry(): void {
    for (let i = this.readyHead; i < this.ready.length; i++) {
      const e = this.ready[i]!;
      if (e.exp !== 0 && e.exp < this.sweepAtMs) this.sweepAtMs = e.exp;
    }
    if (this.msgs.readFrom(this.cursor) < 0) return;
    const exp = viewExpiresAt(this.msgs, this.msgs.roff);
    if (exp !== 0 && exp < this.sweepAtMs) this.sweepAtMs = exp;
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
      if (this.readyHead < this.ready.length) {
        const keep: Entry[] = [];
        for (let i = this.readyHead; i < this.ready.length; i++) {
          const e = this.ready[i]!;
          if (this.entries.get(e.id) !== e || e.state !== State.Ready) continue;
          if (e.exp !== 0 && e.exp <= nowMs) this.discard(e);
          else {
            keep.push(e);
            if (e.exp !== 0 && e.exp < next) next = e.exp;
          }
        }
        this.ready = keep;
        this.readyHead = 0;
      }
      const msgs = this.msgs;
      const start = this.cursor;
      let pos = start;
      let seq = this.cursorSeq;
      const ids: bigint[] = [];
      while (ids.length < SWEEP_MAX) {
        const p = msgs.readFrom(pos);
        if (p < 0) break;
        const o = msgs.roff;
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
        this.journal.write(RecordType.DeliverRange, 0, start, BigInt(seq), pos, nowMs, "", 0, null);
        this.moveCursor(pos, seq);
        this.discardDelivered(ids);
      }
    } catch (err) {
      this.ctx.logger.warn({ dir: this.journal.dir, err: String(err) }, "cannot discard expired messages yet; will retry");
      next = nowMs + 1000;
    }
    if (next < this.sweepAtMs) this.sweepAtMs = next;
  }

  private fireDelays(nowMs: number): void {
    const heap = this.pendingDelays;
    let fired = 0;
    for (let at = heap.topAt(); at !== undefined && at <= nowMs && fired < MAX_DELAYS_PER_CALL; at = heap.topAt()) {
      const pos = heap.topPos();
      const d = this.delays;
      try {
        if (d.readAt(pos) > 0 && recordType(d.rbuf, d.roff) === RecordType.Delayed) {
          // Journal first, naming the message-log position the copy will
          // take: recovery redoes a copy that a crash cut off, so a fired
          // delay is delivered exactly once.
          const exp = recordExpiresAt(d.rbuf, d.roff);
          if (exp !== 0 && exp <= nowMs) {
            // Expired before its delay ended: settled without a copy.
            this.journal.write(RecordType.DelayDone, 0, pos, 0n, -1, at, "", 0, null);
            this.nExpired++;
          } else {
            const target = this.msgs.positionFor(d.rlen);
            this.journal.write(RecordType.DelayDone, 0, pos, 0n, target, at, "", 0, null);
            this.copyDelayed(d.rbuf, d.roff, d.rlen);
          }
        } else {
          this.ctx.logger.warn({ dir: this.delays.dir, pos }, "delayed message record unreadable; dropped");
          this.ctx.counters.messagesLost++;
          this.journal.write(RecordType.DelayDone, 0, pos, 0n, -1, at, "", 0, null);
        }
      } catch (err) {
        this.ctx.logger.warn({ dir: this.delays.dir, err: String(err) }, "cannot move due delayed messages; will retry");
        return;
      }
      heap.pop();
      fired++;
      const i = posIndex(pos);
      const n = (this.delayLive.get(i) ?? 1) - 1;
      if (n > 0) this.delayLive.set(i, n);
      else {
        this.delayLive.delete(i);
        const seg = this.delays.find(i);
        if (seg !== undefined) this.reclaim(this.delays, seg);
      }
    }
  }

  /** Appends the delayed record at buf[o] to the message log (space already ensured). */
  copyDelayed(buf: Buffer, o: number, length: number): number {
    const rkLen = buf.readUInt16LE(o + 10);
    const body = buf.subarray(o + RECORD_HEADER_BYTES + extBytes(buf, o) + rkLen, o + length);
    const exp = recordExpiresAt(buf, o);
    const seq = this.msgs.nextSeq;
    // The key goes with the copy: the delay segment may be reclaimed while the key's window lasts.
    const key = recordKeyBytes(buf, o);
    const p = this.msgs.write(RecordType.Message, recordRetry(buf, o), seq, recordId(buf, o), recordB(buf, o), recordC(buf, o), recordRouteKey(buf, o), rkLen, body, exp, key);
    this.msgs.nextSeq = seq + 1;
    if (exp > 0 && exp < this.sweepAtMs) this.sweepAtMs = exp;
    return p;
  }

  bury(ids: readonly bigint[]): void {
    this.checkOpen();
    for (const id of ids) {
      const e = this.entries.get(id);
      if (e === undefined || e.state !== State.Expired) continue;
      this.journalAck(id);
      this.settle(e);
    }
  }

  nextDueMs(): number | undefined {
    const t = this.timed.peek()?.time;
    const d = this.pendingDelays.topAt();
    const due = t === undefined ? d : d === undefined || t < d ? t : d;
    if (this.sweepAtMs === Number.POSITIVE_INFINITY) return due;
    return due === undefined || this.sweepAtMs < due ? this.sweepAtMs : due;
  }

  // -------------------------------------------------------------- read-only

  peek(max: number): StoredMessage[] {
    const out: StoredMessage[] = [];
    for (let i = this.readyHead; i < this.ready.length && out.length < max; i++) {
      const e = this.ready[i]!;
      if (this.entries.get(e.id) === e && this.readMessageAt(e.pos)) out.push(this.decode(e.retry, 0));
    }
    let pos = this.cursor;
    while (out.length < max) {
      const p = this.msgs.readFrom(pos);
      if (p < 0) break;
      out.push(this.decode(recordRetry(this.msgs.rbuf, this.msgs.roff), 0));
      pos = p + align8(this.msgs.rlen);
    }
    return out;
  }

  stats(): QueueLogStats {
    return {
      ready: Math.max(0, this.msgs.nextSeq - this.cursorSeq - this.msgs.lostSeqsFrom(this.cursorSeq)) + (this.ready.length - this.readyHead),
      inFlight: this.nInFlight,
      delayed: this.pendingDelays.size + this.nNackDelayed,
      bytesOnDisk: this.msgs.bytesOnDisk() + this.delays.bytesOnDisk() + this.journal.bytesOnDisk(),
      segments: this.msgs.fileCount() + this.delays.fileCount() + this.journal.fileCount(),
      segmentsReclaimed: this.reclaimed,
      expired: this.nExpired,
    };
  }

  // ---------------------------------------------------------- space, state

  addLive(live: Map<number, number>, pos: number): void {
    const i = posIndex(pos);
    live.set(i, (live.get(i) ?? 0) + 1);
  }

  /** Deletes message segments the cursor has passed and no entry points into. */
  reclaimMsgSegments(): void {
    const ci = posIndex(this.cursor);
    const last = this.msgs.segments[this.msgs.segments.length - 1];
    const done = this.msgs.segments.filter((s) => s.index < ci && !this.msgLive.has(s.index) && s !== last);
    for (const seg of done) this.reclaim(this.msgs, seg);
  }

  reclaimDelaySegments(): void {
    const last = this.delays.segments[this.delays.segments.length - 1];
    const done = this.delays.segments.filter((s) => !this.delayLive.has(s.index) && s !== last);
    for (const seg of done) this.reclaim(this.delays, seg);
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
    this.flushAcks();
    const journalPos = this.journal.tailPos();
    const list: { id: bigint; pos: number; time: number; retry: number; state: number }[] = [];
    for (let i = this.readyHead; i < this.ready.length; i++) list.push(this.ready[i]!);
    for (const e of this.entries.values()) {
      if (e.state === State.Ready) continue;
      if (e.state === State.Expired) list.push({ id: e.id, pos: e.pos, time: 0, retry: e.retry, state: State.InFlight });
      else list.push(e);
    }
    const d = this.pendingDelays.entries();
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
    for (const seg of this.journal.segments.filter((s) => s.index < keepFrom)) this.journal.deleteSegment(seg);
  }

  close(): void {
    if (!this.closed) this.flushAcksSoon();
    this.ctx.pendingAcks.delete(this);
    this.closed = true;
    this.msgs.close();
    this.delays.close();
    this.journal.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError("IO", "this queue log is closed (queue dropped or storage closed)");
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Used by recovery. */
  get checkpointFile(): string {
    return this.checkpointPath;
  }

  readCheckpointFile(): ReturnType<typeof readCheckpoint> {
    return readCheckpoint(this.checkpointPath);
  }
}

// A QueueLog held in memory, on the same QueueState as the file store: the
// backlog is an array of never-delivered messages, push delays a heap, and
// everything that left the backlog follows QueueState's rules. For tests of
// the broker's semantics (with a manual clock) and for conformance with the
// file store; it keeps every idempotency key it was given.
import {
  type Clock,
  type Holding,
  type NewMessage,
  type NotStored,
  type QueueLogObserver,
  type QueueLog,
  type QueueLogStats,
  type SteerResult,
  type StoredInfo,
  type StoredMessage,
  StoreError,
} from "../broker/storage.js";
import { DelayHeap } from "./heap.js";
import { type Entry, EntryState, QueueState, newEntry } from "./queue-state.js";
import { MAX_KEY_BYTES, MAX_ROUTE_KEY_BYTES, utf8Length } from "./record.js";

interface Rec {
  id: bigint;
  routeKey: string;
  body: Buffer;
  createdAtMs: number;
  deliverAtMs: number;
  retry: number;
  exp: number;
}

/** What survives a close and reopen of the in-memory storage. */
export class MemoryQueueData {
  /** Records of messages not settled yet, by position. */
  readonly records = new Map<number, Rec>();
  nextPos = 1;
  /** Positions of never-delivered messages, in order, from backlogHead. */
  backlog: number[] = [];
  backlogHead = 0;
  readonly delays = new DelayHeap();
  /** Pending delays: position -> due time (a heap node whose time differs, or whose position is gone, is stale). */
  readonly delayedAt = new Map<number, number>();
  /** Backlog positions whose message was removed or moved by an operator. */
  readonly removed = new Set<number>();
  state: QueueState = this.newState();
  readonly keys: { id: bigint; key: string; createdAtMs: number }[] = [];

  newState(): QueueState {
    return new QueueState((e) => this.records.delete(e.pos));
  }

  /** After a reopen, as after recovery: one whose retries were used up but not buried is in flight again with a passed deadline. */
  restart(): void {
    const old = this.state;
    this.state = this.newState();
    for (const e of old.readyEntries()) this.state.restore(e);
    for (const e of old.notReady()) {
      if (e.state === EntryState.RetriesUsedUp) {
        e.state = EntryState.InFlight;
        e.time = 0;
      }
      e.inHeap = false;
      this.state.restore(e);
    }
  }
}

export class MemoryQueueLog implements QueueLog {
  private nExpired = 0;
  private closed = false;
  private observer: QueueLogObserver | undefined;

  constructor(
    private readonly d: MemoryQueueData,
    private readonly clock: Clock,
    private readonly maxBodyBytes: number,
  ) {}

  /** Memory never runs out of segments. */
  reserveSpace(): void {}
  observe(observer: QueueLogObserver | undefined): void {
    this.observer = observer;
  }

  append(messages: readonly NewMessage[]): void {
    this.checkOpen();
    for (const m of messages) {
      if (m.body.length > this.maxBodyBytes) throw new StoreError("TOO_LARGE", `message body of ${m.body.length} bytes exceeds the limit of ${this.maxBodyBytes}`);
      if (utf8Length(m.routeKey) > MAX_ROUTE_KEY_BYTES) throw new StoreError("TOO_LARGE", "route key too long");
      if (m.idempotencyKey !== undefined && Buffer.byteLength(m.idempotencyKey) > MAX_KEY_BYTES) throw new StoreError("TOO_LARGE", "idempotency key too long");
    }
    const now = this.clock.now();
    const d = this.d;
    for (const m of messages) {
      const exp = m.expiresAtMs ?? 0;
      const pos = d.nextPos++;
      d.records.set(pos, { id: m.id, routeKey: m.routeKey, body: Buffer.from(m.body), createdAtMs: m.createdAtMs, deliverAtMs: m.deliverAtMs, retry: m.retry, exp });
      if (m.idempotencyKey) d.keys.push({ id: m.id, key: m.idempotencyKey, createdAtMs: m.createdAtMs });
      if (m.deliverAtMs > now) this.delay(pos, exp > 0 && exp < m.deliverAtMs ? exp : m.deliverAtMs);
      else d.backlog.push(pos);
    }
  }

  reserve(max: number, maxBytes: number, deadlineMs: number, nowMs = this.clock.now()): StoredMessage[] {
    this.checkOpen();
    const out: StoredMessage[] = [];
    const { state, records } = this.d;
    let bytes = 0;
    for (let e = state.firstReady(); e !== undefined && out.length < max; e = state.firstReady()) {
      if (this.discardIfExpired(e, nowMs)) continue;
      const r = records.get(e.pos)!;
      if (out.length > 0 && bytes + r.body.length > maxBytes) return out;
      state.deliverFirstReady(e, deadlineMs);
      bytes += r.body.length;
      out.push(toStored(r, e.retry, deadlineMs));
    }
    const d = this.d;
    while (out.length < max && d.backlogHead < d.backlog.length) {
      const pos = d.backlog[d.backlogHead]!;
      const r = records.get(pos);
      if (r === undefined) {
        this.takeFromBacklog();
        continue;
      }
      if (r.exp !== 0 && r.exp <= nowMs) {
        this.takeFromBacklog();
        records.delete(pos);
        this.nExpired++;
        this.observer?.expired(r.id);
        continue;
      }
      if (out.length > 0 && bytes + r.body.length > maxBytes) break;
      this.takeFromBacklog();
      const dup = state.get(r.id);
      if (dup !== undefined) state.settle(dup);
      state.addDelivered(newEntry(r.id, pos, EntryState.InFlight, deadlineMs, r.retry, r.exp));
      bytes += r.body.length;
      out.push(toStored(r, r.retry, deadlineMs));
    }
    return out;
  }

  ack(id: bigint): boolean {
    this.checkOpen();
    const e = this.d.state.inFlight(id);
    if (e === undefined) return false;
    this.d.state.settle(e);
    return true;
  }

  release(id: bigint, readyAtMs: number): boolean {
    this.checkOpen();
    const e = this.d.state.inFlight(id);
    if (e === undefined) return false;
    this.d.state.giveBack(e, readyAtMs, this.clock.now());
    return true;
  }

  touch(id: bigint, deadlineMs: number): boolean {
    this.checkOpen();
    const e = this.d.state.inFlight(id);
    if (e === undefined) return false;
    this.d.state.touch(e, deadlineMs);
    return true;
  }

  retryOf(id: bigint): number | undefined {
    return this.d.state.inFlight(id)?.retry;
  }

  processDue(nowMs: number, maxRetry: number, requeueDelayMs?: (retry: number) => number): { requeued: number; retriesUsedUp: StoredMessage[] } {
    if (this.closed) return { requeued: 0, retriesUsedUp: [] };
    const { state, records } = this.d;
    let requeued = 0;
    const retriesUsedUp: StoredMessage[] = [];
    for (let e = state.due(nowMs); e !== undefined; e = state.due(nowMs)) {
      if (this.discardIfExpired(e, nowMs)) continue;
      if (e.state === EntryState.Delayed) {
        state.delayEnded(e);
        continue;
      }
      const retry = e.retry + 1;
      if (retry > maxRetry) {
        state.useUpRetries(e);
        retriesUsedUp.push(toStored(records.get(e.pos)!, retry, 0));
        continue;
      }
      const delayMs = requeueDelayMs?.(retry) ?? 0;
      const readyAtMs = delayMs > 0 ? e.time + delayMs : 0;
      state.requeue(e, retry, readyAtMs, nowMs);
      requeued++;
      this.observer?.requeued(e.id, retry, readyAtMs);
    }
    const delays = this.d.delays;
    for (let at = delays.topAt(); at !== undefined && at <= nowMs; at = delays.topAt()) {
      const pos = delays.topPos();
      delays.pop();
      if (this.d.delayedAt.get(pos) !== at) continue; // moved or removed meanwhile
      this.d.delayedAt.delete(pos);
      const r = records.get(pos)!;
      if (r.exp !== 0 && r.exp <= nowMs) {
        records.delete(pos);
        this.nExpired++;
        this.observer?.expired(r.id);
      } else this.d.backlog.push(pos);
    }
    // Expired messages at the head of what is ready, as the file store sweeps them.
    state.discardExpiredReady(nowMs, (e) => this.discardIfExpired(e, nowMs));
    for (const d = this.d; d.backlogHead < d.backlog.length; ) {
      const pos = d.backlog[d.backlogHead]!;
      const r = records.get(pos);
      if (r !== undefined && (r.exp === 0 || r.exp > nowMs)) break;
      this.takeFromBacklog();
      if (r === undefined) continue;
      records.delete(pos);
      this.nExpired++;
      this.observer?.expired(r.id);
    }
    return { requeued, retriesUsedUp };
  }

  bury(ids: readonly bigint[]): void {
    this.checkOpen();
    for (const id of ids) {
      const e = this.d.state.get(id);
      if (e !== undefined && e.state === EntryState.RetriesUsedUp) this.d.state.settle(e);
    }
  }

  nextDueMs(): number | undefined {
    let due = min(this.d.state.nextTimeMs(), this.d.delays.topAt());
    for (const e of this.d.state.readyEntries()) if (e.exp !== 0) due = min(due, e.exp);
    const head = this.d.backlog[this.d.backlogHead];
    const exp = head === undefined ? 0 : (this.d.records.get(head)?.exp ?? 0);
    return exp !== 0 ? min(due, exp) : due;
  }

  peek(max: number): StoredMessage[] {
    const out = this.d.state.readyEntries(max).map((e) => toStored(this.d.records.get(e.pos)!, e.retry, 0));
    for (let i = this.d.backlogHead; i < this.d.backlog.length && out.length < max; i++) {
      const r = this.d.records.get(this.d.backlog[i]!);
      if (r !== undefined) out.push(toStored(r, r.retry, 0));
    }
    return out;
  }

  stats(): QueueLogStats {
    const { state, backlog, backlogHead, delayedAt, removed } = this.d;
    return {
      ready: backlog.length - backlogHead - removed.size + state.readyCount,
      inFlight: state.inFlightCount,
      delayed: delayedAt.size + state.delayedCount,
      bytesOnDisk: 0,
      segments: 0,
      segmentsReclaimed: 0,
      expired: this.nExpired,
    };
  }

  recentKeys(sinceMs: number, visit: (id: bigint, key: string, createdAtMs: number) => void): void {
    this.checkOpen();
    for (const k of this.d.keys) if (k.createdAtMs >= sinceMs) visit(k.id, k.key, k.createdAtMs);
  }

  close(): void {
    this.closed = true;
  }

  // ------------------------------------------------------------- steering
  // The in-memory store keeps no record of settled messages: they are gone,
  // as if reclaimed. Lookups walk the records (this store is for tests).

  inspect(id: bigint, _hintMs: number, withBody: boolean): StoredInfo | NotStored {
    this.checkOpen();
    const e = this.d.state.get(id);
    if (e !== undefined) return this.entryInfo(e, withBody);
    const pos = this.find(id);
    if (pos === undefined) return "reclaimed";
    const due = this.d.delayedAt.get(pos);
    return info(this.d.records.get(pos)!, due === undefined ? "ready" : "delayed", due ?? 0, 0, undefined, withBody, this.clock.now());
  }

  list(which: Holding, limit: number, after: { id: bigint; hintMs: number } | undefined, withBody: boolean): StoredInfo[] {
    this.checkOpen();
    const { state, records, backlog, delayedAt } = this.d;
    const now = this.clock.now();
    const all: StoredInfo[] = [];
    if (which === "ready") {
      for (const e of state.readyEntries()) all.push(this.entryInfo(e, withBody));
      for (let i = this.d.backlogHead; i < backlog.length; i++) {
        const r = records.get(backlog[i]!);
        if (r !== undefined) all.push(info(r, "ready", 0, 0, undefined, withBody, now));
      }
    } else {
      const keyed: [number, number, number, StoredInfo][] = [];
      for (const e of state.notReady()) if (e.state === EntryState.Delayed) keyed.push([e.time, 0, e.pos, this.entryInfo(e, withBody)]);
      for (const [pos, at] of delayedAt) keyed.push([at, 1, pos, info(records.get(pos)!, "delayed", at, 0, undefined, withBody, now)]);
      keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
      for (const k of keyed) all.push(k[3]);
    }
    let from = 0;
    if (after !== undefined) {
      const i = all.findIndex((m) => m.id === after.id);
      from = i + 1;
    }
    return all.slice(from, from + limit);
  }

  remove(id: bigint, _hintMs: number): SteerResult {
    this.checkOpen();
    const d = this.d;
    const e = d.state.get(id);
    if (e !== undefined) {
      if (e.state === EntryState.InFlight || e.state === EntryState.RetriesUsedUp) return "inFlight";
      d.state.settle(e);
      return "done";
    }
    const pos = this.find(id);
    if (pos === undefined) return "missing";
    if (!d.delayedAt.delete(pos)) d.removed.add(pos);
    d.records.delete(pos);
    return "done";
  }

  reschedule(id: bigint, _hintMs: number, atMs: number): SteerResult {
    this.checkOpen();
    const d = this.d;
    const e = d.state.get(id);
    if (e !== undefined) {
      if (e.state === EntryState.InFlight || e.state === EntryState.RetriesUsedUp) return "inFlight";
      d.state.moveDue(e, atMs, this.clock.now());
      return "done";
    }
    const pos = this.find(id);
    if (pos === undefined) return "missing";
    const r = d.records.get(pos)!;
    if (!d.delayedAt.delete(pos)) d.removed.add(pos);
    d.records.delete(pos);
    const moved = d.nextPos++;
    d.records.set(moved, { ...r, deliverAtMs: atMs });
    this.delay(moved, r.exp > 0 && r.exp < atMs ? r.exp : atMs);
    return "done";
  }

  purge(which: Holding): number {
    this.checkOpen();
    const d = this.d;
    let n = 0;
    if (which === "ready") {
      for (const e of d.state.readyEntries()) {
        d.state.settle(e);
        n++;
      }
      for (let i = d.backlogHead; i < d.backlog.length; i++) if (d.records.delete(d.backlog[i]!)) n++;
      d.backlog = [];
      d.backlogHead = 0;
      d.removed.clear();
    } else {
      for (const e of [...d.state.notReady()]) {
        if (e.state !== EntryState.Delayed) continue;
        d.state.settle(e);
        n++;
      }
      for (const pos of d.delayedAt.keys()) d.records.delete(pos);
      n += d.delayedAt.size;
      d.delayedAt.clear();
    }
    return n;
  }

  /** Position of the newest record with this id that is not an outstanding entry's. */
  private find(id: bigint): number | undefined {
    let found: number | undefined;
    for (const [pos, r] of this.d.records) if (r.id === id) found = pos;
    return found;
  }

  private entryInfo(e: Entry, withBody: boolean): StoredInfo {
    const r = this.d.records.get(e.pos)!;
    const now = this.clock.now();
    if (e.state === EntryState.InFlight || e.state === EntryState.RetriesUsedUp) {
      return info(r, "inFlight", 0, e.state === EntryState.InFlight ? e.time : 0, e.state === EntryState.RetriesUsedUp ? e.retry + 1 : e.retry, withBody, now);
    }
    return info(r, e.state === EntryState.Delayed ? "delayed" : "ready", e.state === EntryState.Delayed ? e.time : 0, 0, e.retry, withBody, now);
  }

  private delay(pos: number, at: number): void {
    this.d.delayedAt.set(pos, at);
    this.d.delays.push(at, pos);
  }

  private discardIfExpired(e: Entry, nowMs: number): boolean {
    if (e.exp === 0 || e.exp > nowMs) return false;
    this.d.state.settle(e);
    this.nExpired++;
    this.observer?.expired(e.id);
    return true;
  }

  private takeFromBacklog(): void {
    const d = this.d;
    d.removed.delete(d.backlog[d.backlogHead]!);
    d.backlogHead++;
    if (d.backlogHead > 1024 && d.backlogHead * 2 > d.backlog.length) {
      d.backlog = d.backlog.slice(d.backlogHead);
      d.backlogHead = 0;
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError("IO", "this queue log is closed (queue dropped or storage closed)");
  }
}

function toStored(r: Rec, retry: number, deadlineMs: number): StoredMessage {
  return { id: r.id, routeKey: r.routeKey, body: Buffer.from(r.body), createdAtMs: r.createdAtMs, retry, deadlineMs, expiresAtMs: r.exp };
}

function info(r: Rec, state: StoredInfo["state"], dueAtMs: number, deadlineMs: number, retry: number | undefined, withBody: boolean, nowMs: number): StoredInfo {
  const expired = r.exp !== 0 && r.exp <= nowMs && state !== "inFlight";
  const out: StoredInfo = {
    id: r.id,
    state: expired ? "expired" : state,
    routeKey: r.routeKey,
    createdAtMs: r.createdAtMs,
    retry: retry ?? r.retry,
    dueAtMs: expired ? 0 : dueAtMs,
    deadlineMs,
    expiresAtMs: r.exp,
    bodyBytes: r.body.length,
  };
  if (withBody) out.body = Buffer.from(r.body);
  return out;
}

function min(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined || a < b ? a : b;
}

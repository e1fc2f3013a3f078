// A QueueLog held in memory, on the same QueueState as the file store: the
// backlog is an array of never-delivered messages, push delays a heap, and
// everything that left the backlog follows QueueState's rules. For tests of
// the broker's semantics (with a manual clock) and for conformance with the
// file store; it keeps every idempotency key it was given.
import { type Clock, type NewMessage, type QueueLog, type QueueLogObserver, type QueueLogStats, type StoredMessage, StoreError } from "../broker/storage.js";
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
      if (m.deliverAtMs > now) d.delays.push(exp > 0 && exp < m.deliverAtMs ? exp : m.deliverAtMs, pos);
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
      const r = records.get(pos)!;
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
      const r = records.get(pos)!;
      if (r.exp === 0 || r.exp > nowMs) break;
      this.takeFromBacklog();
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
    const exp = head === undefined ? 0 : this.d.records.get(head)!.exp;
    return exp !== 0 ? min(due, exp) : due;
  }

  peek(max: number): StoredMessage[] {
    const out = this.d.state.readyEntries(max).map((e) => toStored(this.d.records.get(e.pos)!, e.retry, 0));
    for (let i = this.d.backlogHead; i < this.d.backlog.length && out.length < max; i++) {
      const r = this.d.records.get(this.d.backlog[i]!)!;
      out.push(toStored(r, r.retry, 0));
    }
    return out;
  }

  stats(): QueueLogStats {
    const { state, backlog, backlogHead, delays } = this.d;
    return {
      ready: backlog.length - backlogHead + state.readyCount,
      inFlight: state.inFlightCount,
      delayed: delays.size + state.delayedCount,
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

  private discardIfExpired(e: Entry, nowMs: number): boolean {
    if (e.exp === 0 || e.exp > nowMs) return false;
    this.d.state.settle(e);
    this.nExpired++;
    this.observer?.expired(e.id);
    return true;
  }

  private takeFromBacklog(): void {
    const d = this.d;
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

function min(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined || a < b ? a : b;
}

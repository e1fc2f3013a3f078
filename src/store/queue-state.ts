// The consumption state of one queue's messages that left the backlog:
// which are ready again (requeued or nacked), delayed (a nack delay or a
// retry backoff), in flight until a deadline, or held because their retries
// were used up (until the caller stores them as dead letters and buries
// them). Messages never delivered are not here: each store keeps its
// backlog its own way (the file store reads it from the message log).
//
// The transition rules live here once; the file store's live path, its
// recovery and the in-memory store all drive them:
//
//   backlog --deliver--> InFlight --ack--> settled
//   Ready   --deliver--> InFlight --touch--> InFlight (new deadline)
//   InFlight --release / requeue--> Ready, or Delayed until the ready time
//   InFlight --deadline passed, retries used up--> RetriesUsedUp --bury--> settled
//   Delayed --time came--> Ready
//   any state --expiry passed--> settled (discarded)
import { TimedHeap } from "./heap.js";

/** Entry states. The numbers are the checkpoint's (RetriesUsedUp is stored as InFlight). */
export const EntryState = { InFlight: 1, Ready: 2, Delayed: 3, RetriesUsedUp: 4 } as const;
export type EntryStateValue = (typeof EntryState)[keyof typeof EntryState];

/** A message that left the backlog and is not settled yet. */
export interface Entry {
  id: bigint;
  /** Where the store keeps its record (the file store: message-log position). */
  pos: number;
  state: number;
  /** Deadline when in flight; ready time when delayed (or its expiry, if that comes first). */
  time: number;
  /** Retry count as stored (one whose retries were used up is reported with retry + 1). */
  retry: number;
  /** The message's expiresAtMs (0: never). */
  exp: number;
  /** TimedHeap bookkeeping. */
  ver: number;
  inHeap: boolean;
}

export function newEntry(id: bigint, pos: number, state: number, time: number, retry: number, exp: number): Entry {
  return { id, pos, state, time, retry, exp, ver: 0, inHeap: false };
}

/** Told when an entry leaves the state for good (acked, buried, discarded, replaced). */
export type OnSettled = (e: Entry) => void;

export class QueueState {
  private readonly entries = new Map<bigint, Entry>();
  /** Ready entries in the order they became ready; slots before readyHead are consumed. */
  private ready: Entry[] = [];
  private readyHead = 0;
  /** Deadlines of in-flight entries and ready times of delayed ones. */
  private readonly timed = new TimedHeap<Entry>();
  private nInFlight = 0;
  private nDelayed = 0;

  constructor(private readonly onSettled: OnSettled) {}

  get readyCount(): number {
    return this.ready.length - this.readyHead;
  }
  get inFlightCount(): number {
    return this.nInFlight;
  }
  get delayedCount(): number {
    return this.nDelayed;
  }

  get(id: bigint): Entry | undefined {
    return this.entries.get(id);
  }

  /** The entry if it is in flight. */
  inFlight(id: bigint): Entry | undefined {
    const e = this.entries.get(id);
    return e !== undefined && e.state === EntryState.InFlight ? e : undefined;
  }

  // ---------------------------------------------------------------- ready

  /** The first ready entry (stale slots skipped), or undefined; it stays until shiftReady. */
  firstReady(): Entry | undefined {
    while (this.readyHead < this.ready.length) {
      const e = this.ready[this.readyHead]!;
      if (this.entries.get(e.id) === e && e.state === EntryState.Ready) return e;
      this.shiftReady(); // settled meanwhile (or replaced by a duplicate id)
    }
    return undefined;
  }

  /** Drops the first ready slot (its entry was delivered or discarded). */
  shiftReady(): void {
    this.ready[this.readyHead++] = undefined as unknown as Entry;
    if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }

  /** Ready entries in delivery order, up to max (stale slots skipped). */
  readyEntries(max = Number.POSITIVE_INFINITY): Entry[] {
    const out: Entry[] = [];
    for (let i = this.readyHead; i < this.ready.length && out.length < max; i++) {
      const e = this.ready[i]!;
      if (this.entries.get(e.id) === e && e.state === EntryState.Ready) out.push(e);
    }
    return out;
  }

  /** Settles every ready entry whose expiry passed (through discard); returns the earliest expiry left among them. */
  discardExpiredReady(nowMs: number, discard: (e: Entry) => void): number {
    let next = Number.POSITIVE_INFINITY;
    const keep: Entry[] = [];
    for (const e of this.readyEntries()) {
      if (e.exp !== 0 && e.exp <= nowMs) discard(e);
      else {
        keep.push(e);
        if (e.exp !== 0 && e.exp < next) next = e.exp;
      }
    }
    this.ready = keep;
    this.readyHead = 0;
    return next;
  }

  // ---------------------------------------------------------- transitions

  /** The first ready entry goes in flight until deadlineMs. */
  deliverFirstReady(e: Entry, deadlineMs: number): void {
    this.shiftReady();
    this.setState(e, EntryState.InFlight);
    e.time = deadlineMs;
    this.timed.push(e);
  }

  /**
   * A message from the backlog goes in flight (e.state InFlight, e.time its
   * deadline). The caller settles any entry of the same id first.
   */
  addDelivered(e: Entry): void {
    this.entries.set(e.id, e);
    this.timed.push(e);
    this.nInFlight++;
  }

  touch(e: Entry, deadlineMs: number): void {
    e.time = deadlineMs;
    this.timed.update(e);
  }

  /** In flight -> ready now, or delayed until readyAtMs (or until its expiry, if that comes first). */
  giveBack(e: Entry, readyAtMs: number, nowMs: number): void {
    this.timed.remove(e);
    if (readyAtMs <= nowMs) {
      this.setState(e, EntryState.Ready);
      this.ready.push(e);
    } else {
      this.setState(e, EntryState.Delayed);
      e.time = e.exp !== 0 && e.exp < readyAtMs ? e.exp : readyAtMs;
      this.timed.push(e);
    }
  }

  /**
   * A ready or delayed entry moved (by an operator) to be ready at atMs: at
   * once when that passed, else delayed until then. Returns the entry that
   * now stands for the message (a ready one is replaced, so its old slot in
   * the ready order goes stale).
   */
  moveDue(e: Entry, atMs: number, nowMs: number): Entry {
    if (e.state !== EntryState.Ready) {
      this.giveBack(e, atMs, nowMs);
      return e;
    }
    const n = newEntry(e.id, e.pos, EntryState.Ready, 0, e.retry, e.exp);
    e.state = 0;
    this.entries.set(n.id, n);
    this.giveBack(n, atMs, nowMs);
    return n;
  }

  /** Its deadline passed: back with retry + 1 (see giveBack). */
  requeue(e: Entry, retry: number, readyAtMs: number, nowMs: number): void {
    e.retry = retry;
    this.giveBack(e, readyAtMs, nowMs);
  }

  /** Its deadline passed and its retries are used up: held until bury (retry kept as stored; it dies with retry + 1). */
  useUpRetries(e: Entry): void {
    this.timed.remove(e);
    this.setState(e, EntryState.RetriesUsedUp);
  }

  /** A delayed entry's time came. */
  delayEnded(e: Entry): void {
    this.timed.remove(e);
    this.setState(e, EntryState.Ready);
    this.ready.push(e);
  }

  settle(e: Entry): void {
    this.entries.delete(e.id);
    this.timed.remove(e);
    this.setState(e, 0);
    this.onSettled(e);
  }

  /** The in-flight or delayed entry due first, if its time is at or before nowMs. */
  due(nowMs: number): Entry | undefined {
    const top = this.timed.peek();
    return top !== undefined && top.time <= nowMs ? top : undefined;
  }

  /** The earliest deadline or ready time, or undefined. */
  nextTimeMs(): number | undefined {
    return this.timed.peek()?.time;
  }

  /** Every outstanding entry that is not ready (in flight, delayed, retries used up). */
  *notReady(): IterableIterator<Entry> {
    for (const e of this.entries.values()) if (e.state !== EntryState.Ready) yield e;
  }

  /**
   * Recovery: adds an entry in the state it had (Ready ones in the order
   * they are restored). RetriesUsedUp is never restored: it comes back in
   * flight with a passed deadline and is handed out again.
   */
  restore(e: Entry): void {
    this.entries.set(e.id, e);
    if (e.state === EntryState.Ready) {
      this.ready.push(e);
      return;
    }
    if (e.state === EntryState.InFlight) this.nInFlight++;
    else this.nDelayed++;
    this.timed.push(e);
  }

  private setState(e: Entry, s: number): void {
    if (e.state === EntryState.InFlight) this.nInFlight--;
    else if (e.state === EntryState.Delayed) this.nDelayed--;
    if (s === EntryState.InFlight) this.nInFlight++;
    else if (s === EntryState.Delayed) this.nDelayed++;
    e.state = s;
  }
}

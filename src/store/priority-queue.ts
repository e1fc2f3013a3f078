// A queue with priorities, as one QueueLog per priority level in use: the
// level of a message is the sub-log it lives in, so nothing per message is
// added to the format or to memory, and a delayed, nacked, requeued or
// dead-lettered message keeps its level because it never leaves its sub-log
// (dead letters go to the same level of the dead-letter log). Level 0 is
// always open (a data dir written before priorities is level 0 as it is);
// the others are created when a first message of theirs is appended.
// Deliveries take from the highest level with a ready message first, each
// level in its own order (FIFO, retries first), so each level keeps every
// guarantee of the log it is.
//
// Calls that name a message by id (ack, release, touch, retryOf) ask the
// levels in turn: an id is in flight in at most one of them, and a miss is a
// map lookup. A batch that mixes levels reserves space in each level before
// it appends to any, so a full disk stores none of it.
import type {
  Holding,
  NewMessage,
  NotStored,
  PriorityLevelStats,
  QueueLog,
  QueueLogObserver,
  QueueLogStats,
  SteerResult,
  StoredInfo,
  StoredMessage,
} from "../broker/storage.js";

export const MIN_PRIORITY = 0;
export const MAX_PRIORITY = 9;

/** A sub-log a PriorityQueueLog can close with itself. */
export interface LevelLog extends QueueLog {
  close(): void;
}

export class PriorityQueueLog<L extends LevelLog = LevelLog> implements QueueLog {
  /** Sub-logs by level; undefined for a level not in use. */
  private readonly byLevel: (L | undefined)[] = new Array<L | undefined>(MAX_PRIORITY + 1).fill(undefined);
  /** Levels in use, highest first. */
  private order: number[] = [];
  /** The sub-log when level 0 is the only one in use: the path with no priorities pays for nothing else. */
  private only: L | undefined;
  /** Told of every level's own transitions, also of levels opened later. */
  private observer: QueueLogObserver | undefined;

  /**
   * open(level) opens (creating if missing) the sub-log of a level; it is
   * called for level 0 and every level in `existing` now, for the others when
   * a first message of theirs comes.
   */
  constructor(
    private readonly open: (level: number) => L,
    existing: Iterable<number> = [],
  ) {
    this.use(0);
    for (const level of existing) this.use(level);
  }

  /** The sub-logs in use, highest level first. */
  levels(): L[] {
    return this.order.map((p) => this.byLevel[p]!);
  }

  private use(level: number): L {
    const have = this.byLevel[level];
    if (have !== undefined) return have;
    if (!Number.isInteger(level) || level < MIN_PRIORITY || level > MAX_PRIORITY) throw new RangeError(`priority must be ${MIN_PRIORITY}..${MAX_PRIORITY}, got ${level}`);
    const log = this.open(level);
    if (this.observer !== undefined) log.observe(this.observer);
    this.byLevel[level] = log;
    this.order = [...this.order, level].sort((a, b) => b - a);
    this.only = this.order.length === 1 && this.order[0] === 0 ? log : undefined;
    return log;
  }

  /** The messages by level, highest first (as they will be delivered). */
  private split(messages: readonly NewMessage[]): [number, readonly NewMessage[]][] {
    const n = messages.length;
    const first = n === 0 ? 0 : (messages[0]!.priority ?? 0);
    let mixed = false;
    for (let i = 1; i < n && !mixed; i++) mixed = (messages[i]!.priority ?? 0) !== first;
    if (!mixed) return [[first, messages]];
    const split = new Map<number, NewMessage[]>();
    for (const m of messages) {
      const p = m.priority ?? 0;
      let list = split.get(p);
      if (list === undefined) split.set(p, (list = []));
      list.push(m);
    }
    return [...split].sort((a, b) => b[0] - a[0]);
  }

  observe(observer: QueueLogObserver | undefined): void {
    this.observer = observer;
    for (const p of this.order) this.byLevel[p]!.observe(observer);
  }

  reserveSpace(messages: readonly NewMessage[]): void {
    for (const [p, list] of this.split(messages)) this.use(p).reserveSpace(list);
  }

  append(messages: readonly NewMessage[]): void {
    if (messages.length === 0) return;
    const levels = this.split(messages);
    // A batch across levels reserves space in each first: a full disk then stores none of it.
    if (levels.length > 1) for (const [p, list] of levels) this.use(p).reserveSpace(list);
    for (const [p, list] of levels) this.use(p).append(list);
  }

  reserve(max: number, maxBytes: number, deadlineMs: number, nowMs?: number): StoredMessage[] {
    if (this.only !== undefined) return this.only.reserve(max, maxBytes, deadlineMs, nowMs);
    let out: StoredMessage[] | undefined;
    let bytes = 0;
    for (const p of this.order) {
      const log = this.byLevel[p]!;
      const taken = out?.length ?? 0;
      if (taken >= max) break;
      if (taken > 0) {
        // A sub-log hands out at least one message: look first so the batch stays within maxBytes.
        const [head] = log.peek(1);
        if (head === undefined) continue;
        if (bytes + head.body.length > maxBytes) break;
      }
      const got = log.reserve(max - taken, taken > 0 ? maxBytes - bytes : maxBytes, deadlineMs, nowMs);
      if (got.length === 0) continue;
      for (const m of got) {
        if (p !== 0) m.priority = p;
        bytes += m.body.length;
      }
      out = out === undefined ? got : out.concat(got);
    }
    return out ?? [];
  }

  ack(id: bigint): boolean {
    if (this.only !== undefined) return this.only.ack(id);
    for (const p of this.order) if (this.byLevel[p]!.ack(id)) return true;
    return false;
  }

  release(id: bigint, readyAtMs: number): boolean {
    if (this.only !== undefined) return this.only.release(id, readyAtMs);
    for (const p of this.order) if (this.byLevel[p]!.release(id, readyAtMs)) return true;
    return false;
  }

  touch(id: bigint, deadlineMs: number): boolean {
    if (this.only !== undefined) return this.only.touch(id, deadlineMs);
    for (const p of this.order) if (this.byLevel[p]!.touch(id, deadlineMs)) return true;
    return false;
  }

  retryOf(id: bigint): number | undefined {
    if (this.only !== undefined) return this.only.retryOf(id);
    for (const p of this.order) {
      const r = this.byLevel[p]!.retryOf(id);
      if (r !== undefined) return r;
    }
    return undefined;
  }

  processDue(nowMs: number, maxRetry: number, requeueDelayMs?: (retry: number) => number): { requeued: number; retriesUsedUp: StoredMessage[] } {
    if (this.only !== undefined) return this.only.processDue(nowMs, maxRetry, requeueDelayMs);
    let requeued = 0;
    let retriesUsedUp: StoredMessage[] = [];
    for (const p of this.order) {
      const r = this.byLevel[p]!.processDue(nowMs, maxRetry, requeueDelayMs);
      requeued += r.requeued;
      if (r.retriesUsedUp.length === 0) continue;
      if (p !== 0) for (const m of r.retriesUsedUp) m.priority = p;
      retriesUsedUp = retriesUsedUp.concat(r.retriesUsedUp);
    }
    return { requeued, retriesUsedUp };
  }

  bury(ids: readonly bigint[]): void {
    // A level skips ids it does not hold with retries used up.
    for (const p of this.order) this.byLevel[p]!.bury(ids);
  }

  nextDueMs(): number | undefined {
    if (this.only !== undefined) return this.only.nextDueMs();
    let due: number | undefined;
    for (const p of this.order) {
      const t = this.byLevel[p]!.nextDueMs();
      if (t !== undefined && (due === undefined || t < due)) due = t;
    }
    return due;
  }

  /** Ready messages in delivery order: highest level first. */
  peek(max: number): StoredMessage[] {
    if (this.only !== undefined) return this.only.peek(max);
    const out: StoredMessage[] = [];
    for (const p of this.order) {
      if (out.length >= max) break;
      for (const m of this.byLevel[p]!.peek(max - out.length)) {
        if (p !== 0) m.priority = p;
        out.push(m);
      }
    }
    return out;
  }

  stats(): QueueLogStats {
    if (this.only !== undefined) return this.only.stats();
    const sum: QueueLogStats = { ready: 0, inFlight: 0, delayed: 0, bytesOnDisk: 0, segments: 0, segmentsReclaimed: 0, expired: 0 };
    const priorities: PriorityLevelStats[] = [];
    for (const p of this.order) {
      const s = this.byLevel[p]!.stats();
      sum.ready += s.ready;
      sum.inFlight += s.inFlight;
      sum.delayed += s.delayed;
      sum.bytesOnDisk += s.bytesOnDisk;
      sum.segments += s.segments;
      sum.segmentsReclaimed += s.segmentsReclaimed;
      sum.expired += s.expired;
      priorities.push({ priority: p, ready: s.ready, inFlight: s.inFlight, delayed: s.delayed });
    }
    sum.priorities = priorities;
    return sum;
  }

  recentKeys(sinceMs: number, visit: (id: bigint, key: string, createdAtMs: number) => void): void {
    for (const p of this.order) this.byLevel[p]!.recentKeys(sinceMs, visit);
  }

  // ---- inspection and steering: each level in turn, an id lives in one of them.

  /** "reclaimed" when a level reclaimed the segments the id would be in, so the message may have been there. */
  inspect(id: bigint, hintMs: number, withBody: boolean): StoredInfo | NotStored {
    if (this.only !== undefined) return this.only.inspect(id, hintMs, withBody);
    let why: NotStored = "missing";
    for (const p of this.order) {
      const r = this.byLevel[p]!.inspect(id, hintMs, withBody);
      if (typeof r !== "string") return r;
      if (r === "reclaimed") why = r;
    }
    return why;
  }

  /**
   * Ready messages in delivery order (highest level first); delayed ones
   * level by level, by due time within a level. Paging after an id goes on
   * in the level that holds it, then in the levels below.
   */
  list(which: Holding, limit: number, after: { id: bigint; hintMs: number } | undefined, withBody: boolean): StoredInfo[] {
    if (this.only !== undefined) return this.only.list(which, limit, after, withBody);
    const out: StoredInfo[] = [];
    let from = after === undefined ? 0 : this.order.findIndex((p) => typeof this.byLevel[p]!.inspect(after.id, after.hintMs, false) !== "string");
    if (from < 0) from = 0;
    for (let i = from; i < this.order.length && out.length < limit; i++) {
      const log = this.byLevel[this.order[i]!]!;
      for (const m of log.list(which, limit - out.length, i === from ? after : undefined, withBody)) out.push(m);
    }
    return out;
  }

  remove(id: bigint, hintMs: number): SteerResult {
    return this.steer((log) => log.remove(id, hintMs));
  }

  reschedule(id: bigint, hintMs: number, atMs: number): SteerResult {
    return this.steer((log) => log.reschedule(id, hintMs, atMs));
  }

  private steer(step: (log: L) => SteerResult): SteerResult {
    if (this.only !== undefined) return step(this.only);
    for (const p of this.order) {
      const r = step(this.byLevel[p]!);
      if (r !== "missing") return r;
    }
    return "missing";
  }

  purge(which: Holding): number {
    let n = 0;
    for (const p of this.order) n += this.byLevel[p]!.purge(which);
    return n;
  }

  close(): void {
    for (const p of this.order) this.byLevel[p]!.close();
  }
}

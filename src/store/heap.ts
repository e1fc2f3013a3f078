// Binary min-heaps for the two timed sets of a queue: entries waiting for a
// deadline or a nack delay, and delayed messages waiting in the delay log.

export interface Timed {
  time: number;
  /** Position inexport interface Timed {
  time: number;
  /** Bumped whenever the item's heap node goes stale. */
  ver: number;
  inHeap: boolean;
}

/**
 * A min-heap by time with lazy removal: remove() and a changed time only mark
 * the old node stale (O(1), what ack and touch need at a million per second);
 * stale nodes are dropped when they reach the top, and the heap is rebuilt
 * when they outnumber the live ones, so its size stays O(live).
 */
export class TimedHeap<T extends Timed> {
  private times: number[] = [];
  private items: T[] = [];
  private vers: number[] = [];
  private live = 0;

  get size(): number {
    return this.live;
  }

  push(item: T): void {
    item.ver++;
    if (!item.inHeap) {
      item.inHeap = true;
      this.live++;
    }
    this.insert(item.time, item, item.ver);
    if (this.items.length > 2 * this.live + 1024) this.compact();
  }

  /** Re-sorts an item whose time changed. */
  update(item: T): void {
    if (item.inHeap) this.push(item);
  }

  remove(item: T): void {
    if (!item.inHeap) return;
    item.inHeap = false;
    item.ver++;
    this.live--;
  }

  peek(): T | undefined {
    const items = this.items;
    while (items.length > 0) {
      const top = items[0]!;
      if (top.inHeap && top.ver === this.vers[0]) return top;
      this.popNode();
    }
    return undefined;
  }

  pop(): T | undefined {
    const top = this.peek();
    if (top !== undefined) this.remove(top);
    return top;
  }

  private insert(time: number, item: T, ver: number): void {
    const Ts = this.times;
    const I = this.items;
    const V = this.vers;
    let i = I.length;
    Ts.push(time);
    I.push(item);
    V.push(ver);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (Ts[p]! <= time) break;
      Ts[i] = Ts[p]!;
      I[i] = I[p]!;
      V[i] = V[p]!;
      i = p;
    }
    Ts[i] = time;
    I[i] = item;
    V[i] = ver;
  }

  private popNode(): void {
    const Ts = this.times;
    const I = this.items;
    const V = this.vers;
    const time = Ts.pop()!;
    const item = I.pop()!;
    const ver = V.pop()!;
    const n = I.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && Ts[c + 1]! < Ts[c]!) c++;
      if (Ts[c]! >= time) break;
      Ts[i] = Ts[c]!;
      I[i] = I[c]!;
      V[i] = V[c]!;
      i = c;
    }
    Ts[i] = time;
    I[i] = item;
    V[i] = ver;
  }

  private compact(): void {
    const Ts = this.times;
    const I = this.items;
    const V = this.vers;
    this.times = [];
    this.items = [];
    this.vers = [];
    for (let i = 0; i < I.length; i++) {
      const item = I[i]!;
      if (item.inHeap && item.ver === V[i]) this.insert(Ts[i]!, item, V[i]!);
    }
  }
}

/** (deliverAtMs, position) pairs ordered by time, then position (push order). */
export class DelayHeap {
  private at: number[] = [];
  private pos: number[] = [];

  get size(): number {
    return this.at.length;
  }

  topAt(): number | undefined {
    return this.at[0];
  }

  topPos(): number {
    return this.pos[0]!;
  }

  push(at: number, pos: number): void {
    const A = this.at;
    const P = this.pos;
    let i = A.length;
    A.push(at);
    P.push(pos);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (A[p]! < at || (A[p] === at && P[p]! <= pos)) break;
      A[i] = A[p]!;
      P[i] = P[p]!;
      i = p;
    }
    A[i] = at;
    P[i] = pos;
  }

  pop(): void {
    const A = this.at;
    const P = this.pos;
    const lastAt = A.pop()!;
    const lastPos = P.pop()!;
    const n = A.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && (A[r]! < A[c]! || (A[r] === A[c] && P[r]! < P[c]!))) c = r;
      if (A[c]! > lastAt || (A[c] === lastAt && P[c]! >= lastPos)) break;
      A[i] = A[c]!;
      P[i] = P[c]!;
      i = c;
    }
    A[i] = lastAt;
    P[i] = lastPos;
  }

  /** All pairs, unordered (for checkpoints). */
  entries(): { at: readonly number[]; pos: readonly number[] } {
    return { at: this.at, pos: this.pos };
  }
}

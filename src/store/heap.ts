// Binary min-heaps for the two timed sets of a queue: entries waiting for a
// deadline or a nack delay (indexed, so ack/touch remove or move one in
// O(log n)), and delayed messages waiting in the delay log.

export interface Timed {
  time: number;
  /** Position in the heap, -1 when not in it. */
  heapIdx: number;
}

export class TimedHeap<T extends Timed> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    item.heapIdx = this.items.length;
    this.items.push(item);
    this.up(item.heapIdx);
  }

  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  remove(item: T): void {
    const i = item.heapIdx;
    if (i < 0) return;
    const last = this.items.pop()!;
    item.heapIdx = -1;
    if (last !== item) {
      this.items[i] = last;
      last.heapIdx = i;
      this.down(i);
      this.up(last.heapIdx);
    }
  }

  /** Re-sorts an item whose time changed. */
  update(item: T): void {
    if (item.heapIdx < 0) return;
    this.up(item.heapIdx);
    this.down(item.heapIdx);
  }

  private up(i: number): void {
    const items = this.items;
    const item = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (parent.time <= item.time) break;
      items[i] = parent;
      parent.heapIdx = i;
      i = p;
    }
    items[i] = item;
    item.heapIdx = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const item = items[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      const r = c + 1;
      if (r < n && items[r]!.time < items[c]!.time) c = r;
      const child = items[c]!;
      if (child.time >= item.time) break;
      items[i] = child;
      child.heapIdx = i;
      i = c;
    }
    items[i] = item;
    item.heapIdx = i;
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

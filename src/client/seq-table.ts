// The pushes of one PushStream awaiting their answer, by seq. Seqs are
// handed out one after another and answered nearly in order, so a ring
// indexed by the seq's low bits holds them without a Map's per-entry
// garbage and rehashing (a Map was a twentieth of the garbage per push).

export class SeqTable<T extends { seq: number }> {
  private slots: (T | undefined)[] = new Array<T | undefined>(1024).fill(undefined);
  private mask = 1023;
  size = 0;

  add(e: T): void {
    // Taken by a push older by a whole ring's length: make room, keeping every pending one.
    while (this.slots[e.seq & this.mask] !== undefined) this.grow();
    this.slots[e.seq & this.mask] = e;
    this.size++;
  }

  /** Removes and returns the entry of `seq`, or undefined when none waits. */
  take(seq: number): T | undefined {
    const i = seq & this.mask;
    const e = this.slots[i];
    if (e === undefined || e.seq !== seq) return undefined;
    this.slots[i] = undefined;
    this.size--;
    return e;
  }

  /** Removes and returns every entry, oldest first. */
  drain(): T[] {
    const all = this.slots.filter((e): e is T => e !== undefined).sort((a, b) => a.seq - b.seq);
    this.slots.fill(undefined);
    this.size = 0;
    return all;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    this.mask = this.slots.length - 1;
    for (const e of old) if (e !== undefined) this.slots[e.seq & this.mask] = e;
  }
}

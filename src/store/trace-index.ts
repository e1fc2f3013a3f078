// A trace segment's index: for each record (a run of events, trace-codec.ts),
// its offset and the smallest and largest message id it holds. Appending an
// event costs nothing here (the run's bounds are kept by the writer), and
// memory is per run, not per event: 20 bytes per record.
//
// A lookup checks every record's bounds, on 32-bit halves (no BigInt work):
// a segment of 4 MiB holds at most ~70,000 records (runs of one event), a
// ~100 µs scan, and usually a few hundred. Ids are time-ordered snowflakes
// and runs are of one push, delivery batch or ack burst, so few records
// other than the message's own span its id; the reader checks the ids of
// each record it reads, so such a record costs a read, never a wrong answer.

const INITIAL_RUNS = 64;

export class TraceIndex {
  /** Per record: offset, then bounds as 32-bit halves (hi, lo). */
  private offs: Uint32Array = new Uint32Array(INITIAL_RUNS);
  private minHi: Uint32Array = new Uint32Array(INITIAL_RUNS);
  private minLo: Uint32Array = new Uint32Array(INITIAL_RUNS);
  private maxHi: Uint32Array = new Uint32Array(INITIAL_RUNS);
  private maxLo: Uint32Array = new Uint32Array(INITIAL_RUNS);
  count = 0;

  /** Adds the record at off whose ids are min..max, as unsigned 64-bit numbers given by their 32-bit halves. */
  add(off: number, minHi: number, minLo: number, maxHi: number, maxLo: number): void {
    const i = this.count;
    if (i === this.offs.length) this.resize(i * 2);
    this.offs[i] = off;
    this.minHi[i] = minHi;
    this.minLo[i] = minLo;
    this.maxHi[i] = maxHi;
    this.maxLo[i] = maxLo;
    this.count = i + 1;
  }

  /** Offsets of the records whose bounds hold id, in record order. */
  offsetsOf(id: bigint): number[] {
    const hi = Number(id >> 32n);
    const lo = Number(id & 0xffffffffn);
    const out: number[] = [];
    const { minHi, minLo, maxHi, maxLo } = this;
    for (let i = 0; i < this.count; i++) {
      const aboveMin = hi > minHi[i]! || (hi === minHi[i] && lo >= minLo[i]!);
      if (aboveMin && (hi < maxHi[i]! || (hi === maxHi[i] && lo <= maxLo[i]!))) out.push(this.offs[i]!);
    }
    return out;
  }

  /** Gives back the room kept for records to come (the segment is sealed). */
  trim(): void {
    if (this.count < this.offs.length) this.resize(Math.max(1, this.count));
  }

  private resize(n: number): void {
    const keep = (a: Uint32Array): Uint32Array => {
      const b = new Uint32Array(n);
      b.set(a.subarray(0, Math.min(n, this.count)));
      return b;
    };
    this.offs = keep(this.offs);
    this.minHi = keep(this.minHi);
    this.minLo = keep(this.minLo);
    this.maxHi = keep(this.maxHi);
    this.maxLo = keep(this.maxLo);
  }
}

// The pending pushes of a PushStream by seq (src/client/seq-table.ts).
import { expect } from "chai";
import { SeqTable } from "../../src/client/seq-table.js";

const entry = (seq: number) => ({ seq });

describe("pending pushes by seq", () => {
  it("gives back each entry once by its seq, and nothing for a seq it does not hold", () => {
    const t = new SeqTable<{ seq: number }>();
    for (let s = 1; s <= 3; s++) t.add(entry(s));
    expect(t.size).to.equal(3);
    expect(t.take(2)).to.deep.equal({ seq: 2 });
    expect(t.take(2)).to.equal(undefined);
    expect(t.take(2 + 1024)).to.equal(undefined);
    expect(t.size).to.equal(2);
  });

  it("keeps every pending entry when seqs spread wider than its ring, and drains them oldest first", () => {
    const t = new SeqTable<{ seq: number }>();
    // One old push stays unanswered while 5,000 later ones come and go.
    t.add(entry(1));
    for (let s = 2; s <= 5000; s++) {
      t.add(entry(s));
      if (s % 3 !== 0) expect(t.take(s)).to.deep.equal({ seq: s });
    }
    expect(t.take(1)).to.deep.equal({ seq: 1 });
    const left = t.drain();
    expect(left.map((e) => e.seq)).to.deep.equal(Array.from({ length: 1666 }, (_, i) => 3 * (i + 1)));
    expect(t.size).to.equal(0);
    expect(t.take(3)).to.equal(undefined);
  });

  it("goes on across seq 2^31 and 2^32 (a long-lived stream's seqs)", () => {
    const t = new SeqTable<{ seq: number }>();
    for (const start of [2 ** 31 - 600, 2 ** 32 - 600]) {
      for (let s = start; s < start + 1200; s++) t.add(entry(s));
      for (let s = start; s < start + 1200; s++) expect(t.take(s)).to.deep.equal({ seq: s });
    }
    expect(t.size).to.equal(0);
  });
});

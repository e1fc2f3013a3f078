// The protobuf wire primitives of the hand-written codecs (src/wire/protobuf.ts)
// against @bufbuild/protobuf's writer and reader, over the edges of every
// varint length and a seeded sweep of 64-bit values.
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { expect } from "chai";
import { prng } from "../../scripts/prng.js";
import { bigVarintSize, Reader, writeBigVarint } from "../../src/wire/protobuf.js";

const edges: bigint[] = [0n, 1n, 127n, 128n, 16_383n, 16_384n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 35n - 1n, 2n ** 35n, 2n ** 53n - 1n, 2n ** 53n + 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, -1n, -5n, -(2n ** 63n)];
for (let k = 0; k < 64; k++) edges.push(2n ** BigInt(k), 2n ** BigInt(k) - 1n);
const random = prng(20261202);
for (let i = 0; i < 2000; i++) edges.push((BigInt(Math.floor(random() * 2 ** 32)) << 32n) | BigInt(Math.floor(random() * 2 ** 32)));

describe("protobuf wire primitives", () => {
  it("write 64-bit varints as the generated writer does, in the size they announce", () => {
    for (const v of edges) {
      const want = new BinaryWriter().uint64(BigInt.asUintN(64, v)).finish();
      const buf = Buffer.alloc(10);
      const end = writeBigVarint(buf, 0, v);
      expect(end, `size of ${v}`).to.equal(want.length);
      expect(bigVarintSize(v), `announced size of ${v}`).to.equal(want.length);
      expect(buf.subarray(0, end).equals(Buffer.from(want)), `bytes of ${v}`).to.equal(true);
    }
  });

  it("read back every 64-bit varint, unsigned and signed, as the generated reader does", () => {
    for (const v of edges) {
      const bytes = Buffer.from(new BinaryWriter().uint64(BigInt.asUintN(64, v)).finish());
      expect(new Reader(bytes).varint64(false), `uint64 ${v}`).to.equal(new BinaryReader(bytes).uint64());
      expect(new Reader(bytes).varint64(true), `int64 ${v}`).to.equal(new BinaryReader(bytes).int64());
    }
  });
});

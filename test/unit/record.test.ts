import { expect } from "chai";
import { crc32c } from "@node-rs/crc32";
import {
  EXPIRY_BYTES,
  KEY_PREFIX_BYTES,
  RECORD_HEADER_BYTES,
  RecordFlag,
  RecordType,
  align8,
  checkFraming,
  checkRecord,
  readId,
  readU64,
  recordA,
  recordB,
  recordBody,
  recordC,
  recordExpiresAt,
  recordId,
  recordKey,
  recordKeyBytes,
  recordRetry,
  recordRouteKey,
  recordType,
  writeId,
  writePad,
  utf8Length,
  viewA,
  viewB,
  viewBody,
  viewBodyBytes,
  viewExpiresAt,
  viewId,
  viewRetry,
  writeRecord,
  writeRecordAligned,
  writeU64,
} from "../../src/store/record.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Segment, parseHeader } from "../../src/store/segment.js";

function makeSegmentFile(): Segment {
  const path = join(mkdtempSync(join(tmpdir(), "gmq-seg-")), "0000000001.seg");
  writeFileSync(path, Buffer.alloc(4096));
  return new Segment(1, path, 4096);
}

function encode(body: Buffer, routeKey = "eu.fr.#"): { buf: Buffer; length: number } {
  const buf = Buffer.alloc(1024);
  const length = writeRecord(buf, 8, RecordType.Message, 7, 2 ** 40 + 3, 0xfedcba9876543210n, 1234.5, 99, routeKey, Buffer.byteLength(routeKey), body);
  return { buf, length };
}

describe("record codec", () => {
  it("uses CRC32C (Castagnoli)", () => {
    expect(crc32c(Buffer.from("123456789"))).to.equal(0xe3069283);
  });

  it("round-trips every field of a message record", () => {
    const body = Buffer.from([0, 1, 2, 3, 250]);
    const { buf, length } = encode(body, "clé.ü");
    expect(length).to.equal(RECORD_HEADER_BYTES + Buffer.byteLength("clé.ü") + 5);
    expect(checkRecord(buf, 8, buf.length)).to.equal(length);
    expect(recordType(buf, 8)).to.equal(RecordType.Message);
    expect(recordRetry(buf, 8)).to.equal(7);
    expect(recordA(buf, 8)).to.equal(2 ** 40 + 3);
    expect(recordId(buf, 8)).to.equal(0xfedcba9876543210n);
    expect(recordB(buf, 8)).to.equal(1234.5);
    expect(recordC(buf, 8)).to.equal(99);
    expect(recordRouteKey(buf, 8)).to.equal("clé.ü");
    expect(recordBody(buf, 8)).to.deep.equal(body);
  });

  it("stores the checksum over everything after the checksum field", () => {
    const { buf, length } = encode(Buffer.from("abc"));
    expect(buf.readUInt32LE(8 + 4)).to.equal(crc32c(buf.subarray(8 + 8, 8 + length)));
  });

  it("detects a flip of any single byte of the record", () => {
    const { buf, length } = encode(Buffer.from("payload"));
    for (let i = 4; i < length; i++) {
      const copy = Buffer.from(buf);
      copy[8 + i] = copy[8 + i]! ^ 0x01;
      expect(checkRecord(copy, 8, copy.length), `byte ${i}`).to.equal(-1);
    }
  });

  it("reads a zero length as the end of data and a cut record as damaged", () => {
    const { buf, length } = encode(Buffer.from("payload"));
    expect(checkRecord(Buffer.alloc(64), 0, 64)).to.equal(0);
    expect(checkRecord(buf, 8, 8 + length - 1)).to.equal(-1);
    expect(checkRecord(buf, 8, 8 + 20)).to.equal(-1);
  });

  it("checks only framing for trusted segments", () => {
    const { buf, length } = encode(Buffer.from("payload"));
    buf[8 + length - 1] = buf[8 + length - 1]! ^ 0xff;
    expect(checkRecord(buf, 8, buf.length)).to.equal(-1);
    expect(checkFraming(buf, 8, buf.length)).to.equal(length);
    buf[8 + 8] = 0; // type 0
    expect(checkFraming(buf, 8, buf.length)).to.equal(-1);
  });

  it("writes a padding record that verifies", () => {
    const buf = Buffer.alloc(256, 0xee);
    writePad(buf, 0, 200);
    expect(checkRecord(buf, 0, 256)).to.equal(200);
    expect(recordType(buf, 0)).to.equal(RecordType.Pad);
  });

  it("round-trips ids over 2^53 and 64-bit positions", () => {
    const buf = Buffer.alloc(16);
    for (const id of [0n, 1n, 2n ** 53n + 1n, 2n ** 64n - 1n]) {
      writeId(buf, 0, id);
      expect(readId(buf, 0)).to.equal(id);
      expect(buf.readBigUInt64LE(0)).to.equal(id);
    }
    writeU64(buf, 8, 2 ** 52 + 5);
    expect(readU64(buf, 8)).to.equal(2 ** 52 + 5);
  });

  it("writes the same bytes through the aligned fast path", () => {
    for (const rk of ["", "eu.fr.#", "clé.ü", "x".repeat(300)]) {
      const body = Buffer.from("some body bytes");
      const slow = Buffer.alloc(1024);
      const fast = Buffer.alloc(1024);
      const u32 = new Uint32Array(fast.buffer, fast.byteOffset, 256);
      const f64 = new Float64Array(fast.buffer, fast.byteOffset, 128);
      const n = utf8Length(rk);
      expect(n).to.equal(Buffer.byteLength(rk));
      const a = writeRecord(slow, 16, RecordType.Message, 3, 2 ** 45 + 9, 2n ** 63n + 5n, 17.25, -1, rk, n, body);
      const b = writeRecordAligned(fast, u32, f64, 16, RecordType.Message, 3, 2 ** 45 + 9, 2n ** 63n + 5n, 17.25, -1, rk, n, body);
      expect(b).to.equal(a);
      expect(fast.equals(slow), `route key ${JSON.stringify(rk)}`).to.equal(true);
    }
  });

  it("decodes route keys right when consecutive keys repeat or differ", () => {
    const keys = ["a.b", "a.b", "a.c", "é.b", "a.b", "", "xyz", "a.b"];
    const got = keys.map((k) => recordRouteKey(encode(Buffer.alloc(1), k).buf, 8));
    expect(got).to.deep.equal(keys);
  });

  it("reads the same fields through the aligned views", () => {
    const { buf } = encode(Buffer.from([9, 8, 7]), "k.ey");
    const v = {
      rbuf: buf,
      ru32: new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2),
      rf64: new Float64Array(buf.buffer, buf.byteOffset, buf.length >>> 3),
    };
    expect(viewId(v, 8)).to.equal(recordId(buf, 8));
    expect(viewRetry(v, 8)).to.equal(7);
    expect(viewA(v, 8)).to.equal(2 ** 40 + 3);
    expect(viewB(v, 8)).to.equal(1234.5);
    expect(viewBodyBytes(v, 8)).to.equal(3);
    expect(viewBody(v, 8)).to.deep.equal(Buffer.from([9, 8, 7]));
  });

  it("aligns records to 8 bytes", () => {
    expect([0, 1, 7, 8, 9, 49].map(align8)).to.deep.equal([0, 8, 8, 8, 16, 56]);
  });
});

describe("record expiry extension", () => {
  const views = (buf: Buffer) => ({
    rbuf: buf,
    ru32: new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2),
    rf64: new Float64Array(buf.buffer, buf.byteOffset, buf.length >>> 3),
  });
  const at = 1_764_016_800_123;

  it("writes a record without expiry exactly as before: flags 0, no extension", () => {
    const body = Buffer.from("body");
    const a = Buffer.alloc(256);
    const b = Buffer.alloc(256);
    const la = writeRecord(a, 8, RecordType.Message, 1, 2, 3n, 4, 5, "k", 1, body);
    const lb = writeRecord(b, 8, RecordType.Message, 1, 2, 3n, 4, 5, "k", 1, body, 0);
    expect(lb).to.equal(la);
    expect(la).to.equal(RECORD_HEADER_BYTES + 1 + 4);
    expect(b.equals(a)).to.equal(true);
    expect(a[8 + 9]).to.equal(0);
    expect(recordExpiresAt(a, 8)).to.equal(0);
    expect(viewExpiresAt(views(a), 8)).to.equal(0);
  });

  it("sets flag bit 0 and stores expiresAtMs after the header, counted in the length", () => {
    const buf = Buffer.alloc(256);
    const length = writeRecord(buf, 8, RecordType.Message, 7, 9, 11n, 12.5, 13, "clé.ü", Buffer.byteLength("clé.ü"), Buffer.from([1, 2, 3]), at);
    expect(length).to.equal(RECORD_HEADER_BYTES + EXPIRY_BYTES + Buffer.byteLength("clé.ü") + 3);
    expect(buf[8 + 9]).to.equal(RecordFlag.Expires);
    expect(buf.readDoubleLE(8 + RECORD_HEADER_BYTES)).to.equal(at);
    expect(checkRecord(buf, 8, buf.length)).to.equal(length);
    expect(recordExpiresAt(buf, 8)).to.equal(at);
    expect(recordRouteKey(buf, 8)).to.equal("clé.ü");
    expect(recordBody(buf, 8)).to.deep.equal(Buffer.from([1, 2, 3]));
    expect(recordC(buf, 8)).to.equal(13);
    const v = views(buf);
    expect(viewExpiresAt(v, 8)).to.equal(at);
    expect(viewBodyBytes(v, 8)).to.equal(3);
    expect(viewBody(v, 8)).to.deep.equal(Buffer.from([1, 2, 3]));
    expect(viewId(v, 8)).to.equal(11n);
  });

  it("covers the extension with the checksum", () => {
    const buf = Buffer.alloc(256);
    writeRecord(buf, 8, RecordType.Message, 0, 1, 2n, 3, 4, "k", 1, Buffer.from("x"), at);
    buf[8 + RECORD_HEADER_BYTES + 2] = buf[8 + RECORD_HEADER_BYTES + 2]! ^ 1;
    expect(checkRecord(buf, 8, buf.length)).to.equal(-1);
  });

  it("refuses a flagged record too short to hold its extension and route key", () => {
    const buf = Buffer.alloc(256);
    writeRecord(buf, 8, RecordType.Message, 0, 1, 2n, 3, 4, "", 0, Buffer.from("abcd"));
    // Flag set on a record written without the extension: route key + extension no longer fit.
    buf[8 + 9] = RecordFlag.Expires;
    buf.writeUInt16LE(2, 8 + 10);
    buf.writeUInt32LE(crc32c(buf.subarray(8 + 8, 8 + RECORD_HEADER_BYTES + 4)), 8 + 4);
    expect(checkRecord(buf, 8, buf.length)).to.equal(-1);
  });

  it("writes the same bytes with an expiry through the aligned fast path", () => {
    for (const rk of ["", "eu.fr.#", "clé.ü", "x".repeat(300)]) {
      for (const exp of [0, at]) {
        const body = Buffer.from("some body bytes");
        const slow = Buffer.alloc(1024);
        const fast = Buffer.alloc(1024);
        const u32 = new Uint32Array(fast.buffer, fast.byteOffset, 256);
        const f64 = new Float64Array(fast.buffer, fast.byteOffset, 128);
        const n = utf8Length(rk);
        const a = writeRecord(slow, 16, RecordType.Delayed, 3, 2 ** 45 + 9, 2n ** 63n + 5n, 17.25, -1, rk, n, body, exp);
        const b = writeRecordAligned(fast, u32, f64, 16, RecordType.Delayed, 3, 2 ** 45 + 9, 2n ** 63n + 5n, 17.25, -1, rk, n, body, exp);
        expect(b).to.equal(a);
        expect(fast.equals(slow), `route key ${JSON.stringify(rk)}, expiry ${exp}`).to.equal(true);
      }
    }
  });
});

describe("record key extension", () => {
  const views = (buf: Buffer) => ({
    rbuf: buf,
    ru32: new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2),
    rf64: new Float64Array(buf.buffer, buf.byteOffset, buf.length >>> 3),
  });
  const at = 1_764_016_800_123;
  const key = Buffer.from("order-42/é");

  it("sets flag bit 1 and stores a u16 length and the key after the header, counted in the length", () => {
    const buf = Buffer.alloc(512);
    const length = writeRecord(buf, 8, RecordType.Message, 7, 9, 11n, 12.5, 13, "rk.ü", Buffer.byteLength("rk.ü"), Buffer.from([1, 2, 3]), 0, key);
    expect(length).to.equal(RECORD_HEADER_BYTES + KEY_PREFIX_BYTES + key.length + Buffer.byteLength("rk.ü") + 3);
    expect(buf[8 + 9]).to.equal(RecordFlag.Key);
    expect(buf.readUInt16LE(8 + RECORD_HEADER_BYTES)).to.equal(key.length);
    expect(checkRecord(buf, 8, buf.length)).to.equal(length);
    expect(recordKey(buf, 8)).to.equal("order-42/é");
    expect(recordKeyBytes(buf, 8)?.equals(key)).to.equal(true);
    expect(recordExpiresAt(buf, 8)).to.equal(0);
    expect(recordRouteKey(buf, 8)).to.equal("rk.ü");
    expect(recordBody(buf, 8)).to.deep.equal(Buffer.from([1, 2, 3]));
    const v = views(buf);
    expect(viewExpiresAt(v, 8)).to.equal(0);
    expect(viewBodyBytes(v, 8)).to.equal(3);
    expect(viewBody(v, 8)).to.deep.equal(Buffer.from([1, 2, 3]));
  });

  it("puts the key after the expiry extension when both are present (flags 3)", () => {
    const buf = Buffer.alloc(512);
    const length = writeRecord(buf, 8, RecordType.Delayed, 0, 1, 2n, 3, 4, "k", 1, Buffer.from("body"), at, key);
    expect(length).to.equal(RECORD_HEADER_BYTES + EXPIRY_BYTES + KEY_PREFIX_BYTES + key.length + 1 + 4);
    expect(buf[8 + 9]).to.equal(RecordFlag.Expires | RecordFlag.Key);
    expect(buf.readDoubleLE(8 + RECORD_HEADER_BYTES)).to.equal(at);
    expect(buf.readUInt16LE(8 + RECORD_HEADER_BYTES + EXPIRY_BYTES)).to.equal(key.length);
    expect(checkRecord(buf, 8, buf.length)).to.equal(length);
    expect(recordExpiresAt(buf, 8)).to.equal(at);
    expect(recordKey(buf, 8)).to.equal("order-42/é");
    expect(recordRouteKey(buf, 8)).to.equal("k");
    expect(recordBody(buf, 8).toString()).to.equal("body");
    const v = views(buf);
    expect(viewExpiresAt(v, 8)).to.equal(at);
    expect(viewBody(v, 8).toString()).to.equal("body");
    expect(viewBodyBytes(v, 8)).to.equal(4);
  });

  it("writes a record without a key exactly as before: no flag bit 1, no extension", () => {
    const body = Buffer.from("body");
    for (const exp of [0, at]) {
      const a = Buffer.alloc(256);
      const b = Buffer.alloc(256);
      const la = writeRecord(a, 8, RecordType.Message, 1, 2, 3n, 4, 5, "k", 1, body, exp);
      const lb = writeRecord(b, 8, RecordType.Message, 1, 2, 3n, 4, 5, "k", 1, body, exp, null);
      expect(lb).to.equal(la);
      expect(b.equals(a)).to.equal(true);
      expect(a[8 + 9]! & RecordFlag.Key).to.equal(0);
      expect(recordKey(a, 8)).to.equal("");
      expect(recordKeyBytes(a, 8)).to.equal(null);
    }
  });

  it("covers the key with the checksum", () => {
    for (const exp of [0, at]) {
      const buf = Buffer.alloc(256);
      writeRecord(buf, 8, RecordType.Message, 0, 1, 2n, 3, 4, "k", 1, Buffer.from("x"), exp, key);
      const keyAt = 8 + RECORD_HEADER_BYTES + (exp > 0 ? EXPIRY_BYTES : 0);
      for (const off of [keyAt, keyAt + KEY_PREFIX_BYTES + 3]) {
        const damaged = Buffer.from(buf);
        damaged[off] = damaged[off]! ^ 1;
        expect(checkRecord(damaged, 8, damaged.length), `byte ${off}`).to.equal(-1);
      }
    }
  });

  it("refuses a record whose key flag or key length does not fit its length", () => {
    // Flag bit 1 on a bare header: the length prefix itself is outside the record.
    const bare = Buffer.alloc(256);
    writeRecord(bare, 8, RecordType.Message, 0, 1, 2n, 3, 4, "", 0, null);
    bare[8 + 9] = RecordFlag.Key;
    bare.writeUInt32LE(crc32c(bare.subarray(8 + 8, 8 + RECORD_HEADER_BYTES)), 8 + 4);
    expect(checkRecord(bare, 8, bare.length)).to.equal(-1);
    // A key length larger than what remains of the record.
    const buf = Buffer.alloc(256);
    const length = writeRecord(buf, 8, RecordType.Message, 0, 1, 2n, 3, 4, "", 0, Buffer.from("ab"), 0, Buffer.from("k"));
    buf.writeUInt16LE(200, 8 + RECORD_HEADER_BYTES);
    buf.writeUInt32LE(crc32c(buf.subarray(8 + 8, 8 + length)), 8 + 4);
    expect(checkRecord(buf, 8, buf.length)).to.equal(-1);
  });

  it("writes the same bytes with a key through the aligned fast path", () => {
    for (const rk of ["", "eu.fr.#", "clé.ü"]) {
      for (const exp of [0, at]) {
        for (const k of [null, Buffer.from("a"), key, Buffer.alloc(256, 0x6b)]) {
          const body = Buffer.from("some body bytes");
          const slow = Buffer.alloc(1024);
          const fast = Buffer.alloc(1024);
          const u32 = new Uint32Array(fast.buffer, fast.byteOffset, 256);
          const f64 = new Float64Array(fast.buffer, fast.byteOffset, 128);
          const n = utf8Length(rk);
          const a = writeRecord(slow, 16, RecordType.Message, 3, 2 ** 45 + 9, 2n ** 63n + 5n, 17.25, -1, rk, n, body, exp, k);
          const b = writeRecordAligned(fast, u32, f64, 16, RecordType.Message, 3, 2 ** 45 + 9, 2n ** 63n + 5n, 17.25, -1, rk, n, body, exp, k);
          expect(b).to.equal(a);
          expect(fast.equals(slow), `route key ${JSON.stringify(rk)}, expiry ${exp}, key ${k?.length}`).to.equal(true);
          expect(checkRecord(fast, 16, fast.length)).to.equal(a);
        }
      }
    }
  });
});

describe("segment header", () => {
  it("tells an unused preallocated header from a damaged one", () => {
    expect(parseHeader(Buffer.alloc(64))).to.equal("zero");
    const junk = Buffer.alloc(64, 0x41);
    expect(parseHeader(junk)).to.equal("bad");
  });

  it("records when the segment became active, in seconds rounded up, outside the checksums", () => {
    const seg = makeSegmentFile();
    try {
      seg.writeHeader(1, 0, 1_764_016_800_001);
      const h = parseHeader(seg.map!.subarray(0, 64));
      expect(h).to.not.be.oneOf(["zero", "bad"]);
      expect((h as { startedAtS: number }).startedAtS).to.equal(1_764_016_801);
      // A header written before the field existed (zero there) parses, with the start unknown.
      seg.map!.writeUInt32LE(0, 60);
      expect((parseHeader(seg.map!.subarray(0, 64)) as { startedAtS: number }).startedAtS).to.equal(0);
    } finally {
      seg.unmap();
      rmSync(seg.path, { force: true });
    }
  });
});

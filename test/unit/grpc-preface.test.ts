import { expect } from "chai";
import { prefaceBytes } from "../../src/api/grpc-listener.js";

const MAGIC = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A frame header: 3 bytes of length, type, flags, 4 bytes of stream id. */
const header = (length: number, type: number) => Buffer.from([length >> 16, (length >> 8) & 0xff, length & 0xff, type, 0, 0, 0, 0, 0]);

describe("the gRPC listener's wait for the HTTP/2 preface", () => {
  it("asks for more until the magic and the SETTINGS frame header are in", () => {
    expect(prefaceBytes(Buffer.alloc(0))).to.equal("more");
    expect(prefaceBytes(MAGIC.subarray(0, 10))).to.equal("more");
    expect(prefaceBytes(Buffer.concat([MAGIC, header(12, 4).subarray(0, 5)]))).to.equal("more");
  });

  it("counts the magic, the SETTINGS header and its payload", () => {
    expect(prefaceBytes(Buffer.concat([MAGIC, header(12, 4)]))).to.equal(24 + 9 + 12);
    expect(prefaceBytes(Buffer.concat([MAGIC, header(0, 4), Buffer.alloc(30)]))).to.equal(24 + 9);
  });

  it("hands over at once bytes that are not an HTTP/2 preface, for nghttp2 to answer", () => {
    expect(prefaceBytes(Buffer.from("GET / HTTP/1.1\r\n"))).to.equal(0);
    expect(prefaceBytes(Buffer.from([0x16, 0x03, 0x01]))).to.equal(0); // a TLS ClientHello on the plaintext port
    expect(prefaceBytes(Buffer.concat([MAGIC, header(12, 1)]))).to.equal(0); // HEADERS before SETTINGS
    expect(prefaceBytes(Buffer.concat([MAGIC, header(1 << 20, 4)]))).to.equal(0);
  });
});

// Protobuf wire primitives for the hand-written codecs of the hot paths: the
// SDK's (client/wire.ts) and the node's (api/push-stream-wire.ts,
// api/consume-wire.ts). There, the generated code's writer fork and object
// per message cost more than the work itself. Each codec's tests check its
// bytes and fields against the generated code; everything else uses that.
import { endianness } from "node:os";

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative number of up to 53 bits; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

// A bigint's 64 bits as two 32-bit halves, with no BigInt arithmetic: stored
// into a BigUint64Array (a negative int64 wraps to its two's complement, as
// the wire wants) and read back as two words. Snowflake ids are past 2^53,
// where a BigInt shift loop per varint cost more than the rest of a delivery.
const scratch64 = new BigUint64Array(1);
const scratch32 = new Uint32Array(scratch64.buffer);
const LITTLE_ENDIAN = endianness() === "LE";
const LO = LITTLE_ENDIAN ? 0 : 1;
const HI = LITTLE_ENDIAN ? 1 : 0;

/** Size of a 64-bit varint (int64 and uint64 fields; negatives as their two's complement). */
export function bigVarintSize(v: bigint): number {
  scratch64[0] = v;
  const hi = scratch32[HI]!;
  if (hi === 0) return varintSize(scratch32[LO]!);
  return Math.ceil((64 - Math.clz32(hi)) / 7);
}

export function writeBigVarint(buf: Buffer, pos: number, v: bigint): number {
  scratch64[0] = v;
  let lo = scratch32[LO]!;
  let hi = scratch32[HI]!;
  while (hi !== 0 || lo > 127) {
    buf[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

/** A string or bytes field's size (tag, length, bytes), 0 when it is empty (proto3 leaves it out). */
export const bytesFieldSize = (bytes: number): number => (bytes === 0 ? 0 : 1 + varintSize(bytes) + bytes);

/** Copies short byte strings in JavaScript, longer ones natively: a call into C++ costs more than a few bytes. */
export function copyBytes(src: Uint8Array, buf: Buffer, pos: number): number {
  const n = src.length;
  if (n <= 32) {
    for (let i = 0; i < n; i++) buf[pos + i] = src[i]!;
  } else buf.set(src, pos);
  return pos + n;
}

/** Scratch for Reader.varint64. */
const WORDS = new DataView(new ArrayBuffer(8));

/** Reads fields off one buffer; every read past what it holds throws a RangeError. */
export class Reader {
  pos = 0;

  constructor(readonly buf: Buffer) {}

  /** A varint of up to 53 bits as a number (tags, lengths, uint32). */
  varint(): number {
    const buf = this.buf;
    if (this.pos >= buf.length) throw new RangeError("truncated varint");
    let b = buf[this.pos++]!;
    if (b < 128) return b;
    let n = b & 127;
    let mul = 128;
    for (;;) {
      if (this.pos >= buf.length) throw new RangeError("truncated varint");
      b = buf[this.pos++]!;
      n += (b & 127) * mul;
      if (b < 128) return n;
      mul *= 128;
      if (mul > 2 ** 63) throw new RangeError("varint over 64 bits");
    }
  }

  /** A varint as a 64-bit bigint, wrapped as int64 (`signed`) or uint64. */
  varint64(signed = false): bigint {
    const buf = this.buf;
    const len = buf.length;
    // Bits 0-27 in lo with integer shifts, the rest in hi as an exact number.
    let lo = 0;
    let hi = 0;
    let shift = 0;
    let mul = 1;
    let b: number;
    do {
      if (this.pos >= len) throw new RangeError("truncated varint");
      b = buf[this.pos++]!;
      if (shift < 28) {
        lo |= (b & 127) << shift;
        shift += 7;
      } else {
        if (mul > 2 ** 35) throw new RangeError("varint over 64 bits");
        hi += (b & 127) * mul;
        mul *= 128;
      }
    } while (b >= 128);
    // Up to 53 bits the number is exact: one conversion, and no sign to fix (int64 values there are positive).
    if (hi < 2 ** 25) return BigInt(lo + hi * 268_435_456);
    // Wider (snowflake ids): the two 32-bit words read back as one 64-bit value, a single bigint made
    // (shifting and or-ing bigints made four); bits past 64 fall away, as protobuf wants.
    WORDS.setUint32(0, (lo | ((hi % 16) << 28)) >>> 0, true);
    WORDS.setUint32(4, Math.floor(hi / 16) % 2 ** 32, true);
    return signed ? WORDS.getBigInt64(0, true) : WORDS.getBigUint64(0, true);
  }

  /** Reads a length and returns the end it gives, which must lie within `end`. */
  length(end: number): number {
    const len = this.varint();
    const stop = this.pos + len;
    if (stop > end) throw new RangeError("field runs past its message");
    return stop;
  }

  /** A length-delimited field's bytes as a view of the buffer (no copy). */
  bytes(end: number): Buffer {
    const stop = this.length(end);
    const view = this.buf.subarray(this.pos, stop);
    this.pos = stop;
    return view;
  }

  /** A length-delimited field as a UTF-8 string; repeated: the field's cache of its last value. */
  string(end: number, repeated?: RepeatedString): string {
    const stop = this.length(end);
    const s = repeated === undefined ? this.buf.toString("utf8", this.pos, stop) : repeated.read(this.buf, this.pos, stop);
    this.pos = stop;
    return s;
  }

  /** A uint32 field: the low 32 bits of its varint, as the generated decoder keeps them. */
  uint32(): number {
    return Number(this.varint64() & 0xffffffffn);
  }

  /**
   * Skips a field this decoder does not know. An end-group tag or tag 0
   * stops the generated decoder mid-message; here it refuses the message.
   */
  skipUnknown(tag: number, end: number): void {
    if ((tag & 7) === 4 || tag === 0) throw new Error("illegal tag");
    this.skip(tag & 7, end);
  }

  /** Skips a field of an unknown number, whose tag was just read. */
  skip(wireType: number, end: number = this.buf.length): void {
    switch (wireType) {
      case 0:
        this.varint64();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.length(end);
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`wire type ${wireType} cannot be skipped`);
    }
    if (this.pos > end) throw new RangeError("field runs past its message");
  }
}

/**
 * One string field read over and over (a stream's topic, bind key, route
 * key): when its bytes equal the previous ones, the previous string is
 * returned instead of decoding a new one. Short ones are compared byte by
 * byte in JavaScript, cheaper than a native call or a new string.
 */
export class RepeatedString {
  private start = -1;
  private len = 0;
  private value = "";

  read(buf: Buffer, start: number, stop: number): string {
    const len = stop - start;
    if (this.start >= 0 && len === this.len && len <= 64) {
      let i = 0;
      while (i < len && buf[start + i] === buf[this.start + i]) i++;
      if (i === len) return this.value;
    }
    this.start = start;
    this.len = len;
    this.value = buf.toString("utf8", start, stop);
    return this.value;
  }
}

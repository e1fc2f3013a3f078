// Varints for the node's hand-written encoders (push-stream-wire.ts,
// consume-wire.ts): numbers while they are exact, bigints past 2^53.

export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** A uint64 field's value as a number when that is exact, else undefined. */
const small = (v: bigint): number | undefined => (v <= 9_007_199_254_740_991n && v >= 0n ? Number(v) : undefined);

export function bigVarintSize(v: bigint): number {
  const n = small(v);
  if (n !== undefined) return varintSize(n);
  let size = 1;
  for (let x = BigInt.asUintN(64, v); x >= 128n; x >>= 7n) size++;
  return size;
}

export function writeBigVarint(buf: Buffer, pos: number, v: bigint): number {
  const n = small(v);
  if (n !== undefined) return writeVarint(buf, pos, n);
  let x = BigInt.asUintN(64, v);
  while (x >= 128n) {
    buf[pos++] = Number(x & 127n) | 128;
    x >>= 7n;
  }
  buf[pos++] = Number(x);
  return pos;
}

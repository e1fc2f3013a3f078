// 64-bit snowflake ids: 41 bits of milliseconds since 2024-01-01, 10 bits of
// node id (node 1..1024 stored as 0..1023), 12 bits of sequence. Unique across
// a cluster whose node ids are unique, and ordered by time on one node.
const EPOCH_MS = 1_704_067_200_000;
const SEQ_BITS = 12;
const NODE_BITS = 10;
const SEQ_MASK = (1 << SEQ_BITS) - 1;

export class Snowflake {
  private lastMs = 0;
  private seq = 0;
  private readonly nodeBits: bigint;

  constructor(nodeId: number) {
    if (!Number.isInteger(nodeId) || nodeId < 1 || nodeId > 1 << NODE_BITS) {
      throw new RangeError(`node id must be 1..${1 << NODE_BITS}`);
    }
    this.nodeBits = BigInt(nodeId - 1) << BigInt(SEQ_BITS);
  }

  next(nowMs: number): bigint {
    // A clock that steps back must not repeat ids: keep counting from the last ms.
    if (nowMs <= this.lastMs) {
      this.seq = (this.seq + 1) & SEQ_MASK;
      if (this.seq === 0) this.lastMs += 1; // borrow the next millisecond
    } else {
      this.lastMs = nowMs;
      this.seq = 0;
    }
    return (BigInt(this.lastMs - EPOCH_MS) << BigInt(NODE_BITS + SEQ_BITS)) | this.nodeBits | BigInt(this.seq);
  }
}

export function nodeIdOf(id: bigint): number {
  return Number((id >> BigInt(SEQ_BITS)) & BigInt((1 << NODE_BITS) - 1)) + 1;
}

export function timeOf(id: bigint): number {
  return Number(id >> BigInt(NODE_BITS + SEQ_BITS)) + EPOCH_MS;
}

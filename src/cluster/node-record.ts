// The record a node publishes in etcd under `<prefix><node_id>`: one JSON
// object with snake_case keys, so any language can read it. The SDK parses
// the same shape on its own (src/client/node-info.ts); keep the two in step.

export interface NodeRecord {
  nodeId: number;
  weight: number;
  grpcAddr: string;
  /** Empty when the node runs without its HTTP gateway. */
  httpAddr: string;
  version: string;
  startedAtMs: number;
}

/** The etcd key of a node: the prefix (ending in "/") followed by its id. */
export function nodeKey(prefix: string, nodeId: number): string {
  return `${prefix}${nodeId}`;
}

export function encodeNodeRecord(r: NodeRecord): string {
  return JSON.stringify({
    node_id: r.nodeId,
    weight: r.weight,
    grpc_addr: r.grpcAddr,
    http_addr: r.httpAddr,
    version: r.version,
    started_at: r.startedAtMs,
  });
}

/** A record read back from etcd; undefined when it is not one of ours (malformed, another writer). */
export function decodeNodeRecord(text: string): NodeRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : 0);
  const str = (x: unknown) => (typeof x === "string" ? x : "");
  if (!Number.isInteger(r["node_id"]) || !str(r["grpc_addr"])) return undefined;
  return {
    nodeId: r["node_id"] as number,
    weight: num(r["weight"]),
    grpcAddr: str(r["grpc_addr"]),
    httpAddr: str(r["http_addr"]),
    version: str(r["version"]),
    startedAtMs: num(r["started_at"]),
  };
}

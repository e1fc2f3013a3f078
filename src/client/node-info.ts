// What the SDK knows about a node. From etcd it is the record a node registers
// (JSON with snake_case keys under `<prefix><node_id>`); with a fixed address
// list it is the address alone.

/** A node the client may talk to. */
export interface NodeInfo {
  /** Stable identity within the client: "node-<id>" from etcd, the address for fixed lists. */
  key: string;
  /** The node id (1..1024) when known. */
  nodeId: number | undefined;
  /** Relative share of producer traffic under the "weighted" strategy (>= 1). */
  weight: number;
  /** gRPC address, host:port. */
  grpcAddr: string;
  /** HTTP gateway address, host:port ("" when unknown or off). */
  httpAddr: string;
  version: string;
  /** When the node started, ms since the epoch (0 when unknown). */
  startedAtMs: number;
}

/** Parses a node record as found in etcd; undefined when it is not one. */
export function parseNodeRecord(json: string): NodeInfo | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r["grpc_addr"] !== "string" || !r["grpc_addr"]) return undefined;
  const nodeId = typeof r["node_id"] === "number" ? r["node_id"] : undefined;
  const weight = typeof r["weight"] === "number" && r["weight"] > 0 ? r["weight"] : 1;
  return {
    key: nodeId !== undefined ? `node-${nodeId}` : r["grpc_addr"],
    nodeId,
    weight,
    grpcAddr: r["grpc_addr"],
    httpAddr: typeof r["http_addr"] === "string" ? r["http_addr"] : "",
    version: typeof r["version"] === "string" ? r["version"] : "",
    startedAtMs: typeof r["started_at"] === "number" ? r["started_at"] : 0,
  };
}

/** A node given by address (fixed list): weight 1 unless "host:port@weight". */
export function staticNode(spec: string): NodeInfo {
  const [addr = spec, w] = spec.split("@");
  const weight = w !== undefined && Number(w) > 0 ? Number(w) : 1;
  return { key: addr, nodeId: undefined, weight, grpcAddr: addr, httpAddr: "", version: "", startedAtMs: 0 };
}

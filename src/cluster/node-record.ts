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

// The node's one call into the cluster: register when etcd endpoints are
// configured, do nothing in standalone mode. Published addresses are the
// advertised ones when set, else the addresses the servers actually bound.
import type { NodeConfig } from "../config.js";
import type { Registration, RegistrationLogger } from "./registration.js";

export interface BoundAddresses {
  grpcAddr: string;
  /** "" when the HTTP gateway is off. */
  httpAddr: string;
}

/** Registers the node in etcd; undefined when standalone (no etcd endpoints). */
export async function joinCluster(
  config: NodeConfig,
  bound: BoundAddresses,
  info: { version: string; startedAtMs: number },
  logger?: RegistrationLogger,
): Promise<Registration | undefined> {
  if (config.etcdEndpoints.length === 0) return undefined;
  // Loaded only in cluster mode: etcd3 parses its protos when imported, a
  // cost a standalone node (and every test node) need not pay at start.
  const { register } = await import("./registration.js");
  return register({
    endpoints: config.etcdEndpoints,
    prefix: config.etcdPrefix,
    leaseTtlS: config.etcdLeaseTtlS,
    node: {
      nodeId: config.nodeId,
      weight: config.nodeWeight,
      grpcAddr: config.advertiseGrpcAddr || bound.grpcAddr,
      httpAddr: config.advertiseHttpAddr || bound.httpAddr,
      version: info.version,
      startedAtMs: info.startedAtMs,
    },
    logger,
  });
}

// The two node-wide views the dashboard reads besides the topics: GetHistory
// (the in-memory rings of history.ts) and ListNodes (the cluster as etcd
// lists it, with each node's totals). To total the cluster, the node that
// answers asks every other node's gateway for its own totals
// (GET /v1/nodes?local_only=true) with the caller's token, so a caller sees
// no more of another node than its token lets it see there.
import { BrokerError, ErrorReason, type Broker } from "../broker/index.js";
import type * as pb from "../gen/gmq/v1/broker.js";
import { HistoryResolution } from "../gen/gmq/v1/broker.js";
import type { ConsumerBoard } from "./consumers.js";
import type { SeriesSamples, StatsHistory } from "./history.js";

/** A node as registered in etcd (cluster/node-record.ts's NodeRecord; api/ cannot import cluster/). */
export interface ClusterNode {
  nodeId: number;
  weight: number;
  grpcAddr: string;
  httpAddr: string;
  version: string;
  startedAtMs: number;
}

/** What the node knows of itself and of the cluster. */
export interface ClusterDirectory {
  /** This node's record as it is (or would be) registered. */
  self(): ClusterNode;
  /** Every registered node, or undefined when the node runs standalone. */
  list(): Promise<ClusterNode[]> | undefined;
  /** "https" when the node serves TLS (the others are taken to do the same). */
  scheme: "http" | "https";
}

/** How long a node waits for another's totals before listing it without. */
export const PEER_TIMEOUT_MS = 2000;
/** Bytes a history sample may take in a reply (a time and seven values, as JSON or protobuf). */
const SAMPLE_BYTES = 96;
const SERIES_OVERHEAD_BYTES = 1024;

type Totals = pb.NodeTotals;

function zeroTotals(): Totals {
  return { topics: 0, queues: 0, pushed: 0n, delivered: 0n, acked: 0n, backlog: 0n, inFlight: 0n, delayed: 0n, dead: 0n, consumers: 0 };
}

function localTotals(broker: Broker, consumers: ConsumerBoard | undefined): Totals {
  const t = zeroTotals();
  for (const s of broker.allTopicStats()) {
    t.topics++;
    t.queues += s.queues.length;
    t.pushed += BigInt(s.pushed);
    t.delivered += BigInt(s.popped);
    t.acked += BigInt(s.acked);
    t.backlog += BigInt(s.backlog);
    t.inFlight += BigInt(s.inFlight);
    t.delayed += BigInt(s.delayed);
    t.dead += BigInt(s.dead);
  }
  t.consumers = consumers?.size ?? 0;
  return t;
}

function addTotals(sum: Totals, t: Totals): void {
  sum.topics += t.topics;
  sum.queues += t.queues;
  sum.pushed += t.pushed;
  sum.delivered += t.delivered;
  sum.acked += t.acked;
  sum.backlog += t.backlog;
  sum.inFlight += t.inFlight;
  sum.delayed += t.delayed;
  sum.dead += t.dead;
  sum.consumers += t.consumers;
}

/** Totals as another node's gateway sends them (uint64 fields are JSON strings). */
function totalsFromJson(j: Record<string, unknown>): Totals {
  const big = (k: string) => BigInt(String(j[k] ?? "0"));
  const n = (k: string) => Number(j[k] ?? 0);
  return {
    topics: n("topics"),
    queues: n("queues"),
    pushed: big("pushed"),
    delivered: big("delivered"),
    acked: big("acked"),
    backlog: big("backlog"),
    inFlight: big("inFlight"),
    delayed: big("delayed"),
    dead: big("dead"),
    consumers: n("consumers"),
  };
}

async function askPeer(node: ClusterNode, scheme: string, authorization: string | undefined): Promise<{ totals?: Totals; error: string }> {
  if (!node.httpAddr) return { error: "no HTTP gateway" };
  try {
    const res = await fetch(`${scheme}://${node.httpAddr}/v1/nodes?local_only=true`, {
      headers: authorization ? { authorization } : {},
      signal: AbortSignal.timeout(PEER_TIMEOUT_MS),
    });
    const body = (await res.json()) as { nodes?: { totals?: Record<string, unknown> }[]; reason?: string; message?: string };
    if (!res.ok) return { error: `${res.status} ${body.reason ?? ""}: ${body.message ?? ""}`.trim() };
    const totals = body.nodes?.[0]?.totals;
    if (!totals) return { error: "no totals in the answer" };
    return { totals: totalsFromJson(totals), error: "" };
  } catch (err) {
    const e = err as Error;
    return { error: e.name === "TimeoutError" ? `no answer within ${PEER_TIMEOUT_MS} ms` : `unreachable: ${e.message}` };
  }
}

function nodeInfo(n: ClusterNode, self: boolean, totals: Totals | undefined, error: string): pb.NodeInfo {
  return {
    nodeId: n.nodeId,
    weight: n.weight,
    version: n.version,
    grpcAddr: n.grpcAddr,
    httpAddr: n.httpAddr,
    startedAtMs: BigInt(n.startedAtMs),
    self,
    totals,
    error,
  };
}

export async function listNodes(
  req: pb.ListNodesRequest,
  /** The caller's authorization header, passed on to the other nodes. */
  ctx: { authorization?: string },
  broker: Broker,
  directory: ClusterDirectory,
  consumers: ConsumerBoard | undefined,
): Promise<pb.ListNodesResponse> {
  const me = directory.self();
  const mine = localTotals(broker, consumers);
  const listed = req.localOnly ? undefined : directory.list();
  if (!listed) return { clustered: false, nodes: [nodeInfo(me, true, mine, "")], totals: mine };
  let records: ClusterNode[];
  try {
    records = await listed;
  } catch (err) {
    throw new BrokerError(ErrorReason.CLUSTER_UNAVAILABLE, `etcd did not list the nodes: ${(err as Error).message}`, { cause: err });
  }
  const sum = zeroTotals();
  const nodes = await Promise.all(
    records.map(async (n) => {
      if (n.nodeId === me.nodeId) return nodeInfo(n, true, mine, "");
      const { totals, error } = await askPeer(n, directory.scheme, ctx.authorization);
      return nodeInfo(n, false, totals, error);
    }),
  );
  for (const n of nodes) if (n.totals) addTotals(sum, n.totals);
  return { clustered: true, nodes, totals: sum };
}

/** GetHistory: the samples asked for, as many series as fit one gRPC message. */
export function getHistory(req: pb.GetHistoryRequest, broker: Broker, history: StatsHistory | undefined, maxReplyBytes: number): pb.GetHistoryResponse {
  if (req.topic !== "") broker.listQueues(req.topic); // TOPIC_NOT_FOUND for a topic the node does not have
  const resolution = req.resolution === HistoryResolution.HISTORY_RESOLUTION_MINUTES ? "minutes" : "seconds";
  if (!history) return { stepMs: resolution === "minutes" ? 60_000 : 1000, series: [], truncated: false };
  const read = history.read(req.topic, resolution, Number(req.sinceMs));
  const series: pb.HistorySeries[] = [];
  let budget = maxReplyBytes;
  let truncated = read.truncated;
  for (const s of read.series) {
    budget -= s.atMs.length * SAMPLE_BYTES + SERIES_OVERHEAD_BYTES;
    if (budget < 0) {
      truncated = true;
      break;
    }
    series.push(toProtoSeries(s));
  }
  return { stepMs: read.stepMs, series, truncated };
}

function toProtoSeries(s: SeriesSamples): pb.HistorySeries {
  return {
    topic: s.topic,
    bindKey: s.bindKey,
    atMs: s.atMs.map((t) => BigInt(t)),
    pushed: s.values.pushed,
    delivered: s.values.delivered,
    acked: s.values.acked,
    backlog: s.values.backlog,
    inFlight: s.values.inFlight,
    delayed: s.values.delayed,
    dead: s.values.dead,
  };
}
